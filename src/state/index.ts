import type { StateConfig } from '../config/schema.js';
import { MemoryStore } from './memory.js';
import type { StateStore } from './store.js';

/**
 * The configured store. Connection errors go to `onError` (the guard logs them once per outage).
 * The Redis client is loaded only for a Redis store.
 */
export async function createStore(config: StateConfig, onError: (err: Error) => void): Promise<StateStore> {
  if (config.store === 'memory') return new MemoryStore();
  const { RedisStore } = await import('./redis.js');
  return new RedisStore({ url: config.url as string, keyPrefix: config.key_prefix, timeoutMs: config.timeout_ms, onError });
}

/** How the store is named in logs: never its URL's password. */
export function describeStore(config: StateConfig): string {
  if (config.store === 'memory') return 'memory';
  try {
    const url = new URL(config.url as string);
    return `redis ${url.host}${url.pathname === '/' ? '' : url.pathname} (prefix ${config.key_prefix})`;
  } catch {
    return 'redis';
  }
}
