import type { Server } from 'node:http';

export function streamBuffers(chunks: number): Buffer[];
export function completionBody(chunks: number): Buffer;
export function startMockUpstream(port?: number, host?: string): Promise<Server>;
