import type { Pool } from 'undici';

export interface RunResult {
  ok: boolean;
  error: string | undefined;
  ttft: number;
  total: number;
  chunks: number;
}

export function createClient(origin: string, connections?: number): Pool;
export function runOne(pool: Pool, path: string, body: Record<string, unknown>): Promise<RunResult>;
export function runLoad(pool: Pool, options: { path?: string; body: Record<string, unknown>; requests: number; concurrency: number }): Promise<{ results: RunResult[]; wallMs: number }>;
export function percentile(values: number[], p: number): number;
export function median(values: number[]): number;
