import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/state/memory.js';
import { RedisStore } from '../../src/state/redis.js';
import { periodOf, windowShape, type HealthEvent, type StateStore } from '../../src/state/store.js';
import { dropPrefix, REDIS_URL, requireRedis, uniquePrefix } from '../helpers/redis.js';

const prefixes: string[] = [];
const opened: StateStore[] = [];

function redisStore(prefix: string): RedisStore {
  const store = new RedisStore({ url: REDIS_URL, keyPrefix: prefix, timeoutMs: 1000, onError: () => undefined });
  opened.push(store);
  return store;
}

beforeAll(async () => {
  await requireRedis();
});

afterAll(async () => {
  for (const store of opened) await store.close();
  for (const prefix of prefixes) await dropPrefix(prefix);
});

/** Two handles on one store: two Redis connections on one prefix, or the one memory store twice. */
async function makePair(kind: 'memory' | 'redis', name: string): Promise<[StateStore, StateStore]> {
  if (kind === 'memory') {
    const store = new MemoryStore();
    return [store, store];
  }
  const prefix = uniquePrefix(name);
  prefixes.push(prefix);
  const a = redisStore(prefix);
  const b = redisStore(prefix);
  expect(await a.ready(2000)).toBe(true);
  expect(await b.ready(2000)).toBe(true);
  return [a, b];
}

const window = windowShape(10_000);
const T0 = 1_800_000_000_000;

describe.each(['memory', 'redis'] as const)('%s store', (kind) => {
  it('admits rpm requests per window, then refuses with when the oldest leaves', async () => {
    const [store] = await makePair(kind, 'rpm');
    const scope = { id: 'client:a', rpm: 3 };
    const first = await store.admit({ now: T0, window, scopes: [scope] });
    expect(first.admitted).toBe(true);
    expect(first.scopes[0]?.requests).toEqual({ limit: 3, remaining: 2, resetMs: 11_000 });
    await store.admit({ now: T0 + 10, window, scopes: [scope] });
    const third = await store.admit({ now: T0 + 2000, window, scopes: [scope] });
    expect(third.scopes[0]?.requests?.remaining).toBe(0);
    const refused = await store.admit({ now: T0 + 3000, window, scopes: [scope] });
    expect(refused.admitted).toBe(false);
    expect(refused.refused).toEqual({ scope: 0, reason: 'rpm', retryAfterMs: 8000 });
    expect(refused.scopes[0]?.requests).toEqual({ limit: 3, remaining: 0, resetMs: 8000 });
    // The first two leave the window (one bucket late); the third still counts.
    const later = await store.admit({ now: T0 + 11_000, window, scopes: [scope] });
    expect(later.admitted).toBe(true);
    expect(later.scopes[0]?.requests?.remaining).toBe(1);
  });

  it('never admits more than rpm when many ask at once from two handles', async () => {
    const [a, b] = await makePair(kind, 'race');
    const scope = { id: 'client:race', rpm: 20 };
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).admit({ now, window, scopes: [scope] })));
    expect(results.filter((r) => r.admitted)).toHaveLength(20);
    expect(results.filter((r) => r.refused?.reason === 'rpm')).toHaveLength(40);
  });

  it('counts tokens when settled and refuses the next request once tpm is used', async () => {
    const [a, b] = await makePair(kind, 'tpm');
    const scope = { id: 'client:t', tpm: 150 };
    expect((await a.admit({ now: T0, window, scopes: [scope] })).admitted).toBe(true);
    await b.settle({ now: T0 + 5, window, scopes: [{ id: 'client:t', windowTokens: 100 }] });
    const second = await a.admit({ now: T0 + 10, window, scopes: [scope] });
    expect(second.admitted).toBe(true);
    expect(second.scopes[0]?.tokens).toEqual({ limit: 150, remaining: 50, resetMs: 11_000 - 10 });
    await a.settle({ now: T0 + 20, window, scopes: [{ id: 'client:t', windowTokens: 100 }] });
    const third = await b.admit({ now: T0 + 30, window, scopes: [scope] });
    expect(third.refused?.reason).toBe('tpm');
    expect(third.scopes[0]?.tokens?.remaining).toBe(0);
  });

  it('holds max_parallel with leases released by settle or by their expiry', async () => {
    const [a, b] = await makePair(kind, 'par');
    const scope = { id: 'client:p', maxParallel: 2 };
    const now = Date.now();
    const lease = (id: string, ttl = 60_000): { id: string; expiresAt: number } => ({ id, expiresAt: now + ttl });
    expect((await a.admit({ now, window, scopes: [scope], lease: lease('l1', 500) })).admitted).toBe(true);
    expect((await b.admit({ now, window, scopes: [scope], lease: lease('l2') })).admitted).toBe(true);
    const third = await a.admit({ now, window, scopes: [scope], lease: lease('l3') });
    expect(third.refused?.reason).toBe('max_parallel');
    await b.settle({ now, window, scopes: [{ id: 'client:p', windowTokens: 0, leaseId: 'l2' }] });
    expect((await a.admit({ now, window, scopes: [scope], lease: lease('l4') })).admitted).toBe(true);
    // l1 expired (a process that died holding it): its slot returns.
    expect((await a.admit({ now: now + 600, window, scopes: [scope], lease: lease('l5') })).admitted).toBe(true);
    expect((await a.admit({ now: now + 600, window, scopes: [scope], lease: lease('l6') })).refused?.reason).toBe('max_parallel');
  });

  it('refuses on a spent budget until the period ends, and reports usage per period', async () => {
    const [a, b] = await makePair(kind, 'budget');
    const now = Date.now();
    const period = periodOf('1d', now);
    const scope = { id: 'client:b', budgetNanoUsd: 1_000, period };
    expect((await a.admit({ now, window, scopes: [scope] })).admitted).toBe(true);
    await b.settle({ now, window, scopes: [{ id: 'client:b', windowTokens: 0, usage: { period, requests: 1, tokens: 40, spendNanoUsd: 600, unpriced: 0 } }] });
    expect((await a.admit({ now, window, scopes: [scope] })).admitted).toBe(true);
    await a.settle({ now, window, scopes: [{ id: 'client:b', windowTokens: 0, usage: { period, requests: 1, tokens: 50, spendNanoUsd: 600, unpriced: 1 } }] });
    const refused = await b.admit({ now, window, scopes: [scope] });
    expect(refused.refused).toEqual({ scope: 0, reason: 'budget', retryAfterMs: (period.end as number) - now });
    expect(await a.usage([{ id: 'client:b', period }, { id: 'client:none', period }])).toEqual([
      { requests: 2, tokens: 90, spendNanoUsd: 1200, unpriced: 1 },
      { requests: 0, tokens: 0, spendNanoUsd: 0, unpriced: 0 },
    ]);
    // The next period starts from nothing.
    const next = periodOf('1d', (period.end as number) + 1);
    expect((await a.admit({ now: (period.end as number) + 1, window, scopes: [{ ...scope, period: next }] })).admitted).toBe(true);
  });

  it('admits across scopes all or nothing', async () => {
    const [store] = await makePair(kind, 'multi');
    const now = Date.now();
    const provider = { id: 'provider:up', rpm: 10 };
    const key = { id: 'pkey:up:k1', rpm: 1 };
    expect((await store.admit({ now, window, scopes: [provider, key] })).admitted).toBe(true);
    const refused = await store.admit({ now, window, scopes: [provider, key] });
    expect(refused.refused?.scope).toBe(1);
    // The refused request did not count against the provider.
    expect(refused.scopes[0]?.requests?.remaining).toBe(9);
  });
});

describe('redis store health', () => {
  it('tells other processes about cooldowns and circuits, and a new one reads what is still in force', async () => {
    const [a, b] = await makePair('redis', 'health');
    const seen: HealthEvent[] = [];
    b.onHealth((event) => seen.push(event), () => undefined);
    const own: HealthEvent[] = [];
    a.onHealth((event) => own.push(event), () => undefined);
    await new Promise((r) => setTimeout(r, 100)); // the subscriptions are in place
    const now = Date.now();
    await a.publishHealth({ kind: 'key_cooldown', provider: 'up', keyId: 'abc', until: now + 5000 });
    await a.publishHealth({ kind: 'circuit_open', provider: 'up', openedAt: now, until: now + 3000 });
    await a.publishHealth({ kind: 'key_cooldown', provider: 'up', keyId: 'old', until: now - 1 });
    const until = Date.now() + 2000;
    while (seen.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(seen.map((e) => e.kind)).toEqual(['key_cooldown', 'circuit_open', 'key_cooldown']);
    expect(own).toEqual([]); // a process does not hear its own changes back
    const loaded = await b.loadHealth(['up', 'other'], now);
    expect(loaded).toContainEqual({ kind: 'key_cooldown', provider: 'up', keyId: 'abc', until: now + 5000 });
    expect(loaded).toContainEqual({ kind: 'circuit_open', provider: 'up', openedAt: now, until: now + 3000 });
    expect(loaded).toHaveLength(2);
    await b.publishHealth({ kind: 'circuit_close', provider: 'up' });
    expect((await a.loadHealth(['up'], now)).map((e) => e.kind)).toEqual(['key_cooldown']);
  });
});
