import type { Server } from 'node:http';

export function startNodePipe(upstreamOrigin: string, port?: number, host?: string): Promise<Server>;
export function startFastifyPipe(upstreamOrigin: string, port?: number, host?: string): Promise<Server>;
