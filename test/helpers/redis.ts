import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** The machine's Redis (see the README): tests that need it fail, never skip, when it is down. */
export const REDIS_URL = process.env.SLUICE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test (or earlier run) uses. */
export function uniquePrefix(name: string): string {
  return `sluice-test:${name}:${randomUUID().slice(0, 8)}`;
}

/** Throws a clear error when Redis does not answer PING. */
export async function requireRedis(url = REDIS_URL): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`unexpected PING answer ${pong}`);
  } catch (err) {
    throw new Error(`these tests need Redis at ${url} (start it as the README says): ${(err as Error).message}`);
  } finally {
    client.disconnect();
  }
}

/** Deletes every key under a prefix (tests clean up after themselves). */
export async function dropPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface OwnRedis {
  url: string;
  port: number;
  process: ChildProcess;
  /** Kills the server (SIGKILL) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts a fresh server on the same port. */
  restart(): Promise<OwnRedis>;
}

/**
 * A redis-server of the test's own on a free port (never the machine's one on 6379), with nothing on
 * disk, for tests that stop it.
 */
export async function startOwnRedis(port?: number): Promise<OwnRedis> {
  const chosen = port ?? (await freePort());
  const child = spawn('redis-server', ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const until = Date.now() + 5000;
  while (!out.includes('Ready to accept connections')) {
    if (Date.now() > until || child.exitCode !== null) throw new Error(`redis-server did not start (is it installed?):\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = `redis://127.0.0.1:${chosen}`;
  const own: OwnRedis = {
    url,
    port: chosen,
    process: child,
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    restart: () => startOwnRedis(chosen),
  };
  return own;
}
