import { randomUUID } from 'node:crypto';
import { Redis, type Result } from 'ioredis';
import { ScriptBatch } from './script-batch.js';
import type { Admission, AdmitInput, HealthEvent, LimitReason, ScopeState, SettleInput, StateStore, UsagePeriod, UsageRecord } from './store.js';

/**
 * Helpers of the STEP script. A call carries the work of many requests, mostly of the same few keys,
 * so each window hash is read once per call (its sum kept up to date as the call counts into it),
 * and the usage records' increments and every key's expiry are written once per key.
 */
const HELPERS = `
local sums = {}
local function windowSum(key, oldest, bucketMs, buckets, now)
  local c = sums[key]
  if c == nil or c.oldest ~= oldest then
    local fields = redis.call('HGETALL', key)
    c = {oldest = oldest, total = 0, first = nil}
    for i = 1, #fields, 2 do
      local bucket = tonumber(fields[i])
      if bucket < oldest then
        redis.call('HDEL', key, fields[i])
      else
        c.total = c.total + tonumber(fields[i + 1])
        if c.first == nil or bucket < c.first then c.first = bucket end
      end
    end
    sums[key] = c
  end
  if c.first == nil then return c.total, 0 end
  return c.total, (c.first + buckets + 1) * bucketMs - now
end
local function countInto(key, bucket, amount)
  redis.call('HINCRBY', key, bucket, amount)
  local c = sums[key]
  if c ~= nil then
    c.total = c.total + amount
    if c.first == nil or bucket < c.first then c.first = bucket end
  end
end
local expiries, expiryKeys = {}, {}
local function expireLater(key, ms)
  if expiries[key] == nil then expiryKeys[#expiryKeys + 1] = key end
  if expiries[key] == nil or ms > expiries[key] then expiries[key] = ms end
end
local records, recordKeys = {}, {}
local function addUsage(key, requests, tokens, spend, unpriced)
  local r = records[key]
  if r == nil then
    r = {0, 0, 0, 0}
    records[key] = r
    recordKeys[#recordKeys + 1] = key
  end
  r[1], r[2], r[3], r[4] = r[1] + requests, r[2] + tokens, r[3] + spend, r[4] + unpriced
end
local function writeRecords()
  for _, key in ipairs(recordKeys) do
    local r = records[key]
    redis.call('HINCRBY', key, 'requests', r[1])
    redis.call('HINCRBY', key, 'tokens', r[2])
    redis.call('HINCRBY', key, 'spend', r[3])
    redis.call('HINCRBY', key, 'unpriced', r[4])
  end
end
local function writeExpiries()
  for _, key in ipairs(expiryKeys) do redis.call('PEXPIRE', key, expiries[key]) end
end
`;

/**
 * One call of the store's counters: a batch of settlements, then a batch of admissions, in one
 * atomic step. Settlements first, so a lease released or tokens counted by this process are seen by
 * an admission of the same call. Each admission is checked and counted in turn, so each sees the
 * ones before it.
 * ARGV[1], ARGV[2]: how many of the following ARGV and how many KEYS are settlements'.
 * Settlements: KEYS per settlement, per scope, its tokens window, leases, usage record. ARGV per
 * settlement now, bucketMs, buckets, scope count, then per scope window tokens, lease id ('' none),
 * usage ttl ms (-1 no usage, 0 kept for ever), requests, tokens, spend nano-USD, unpriced requests.
 * Admissions: KEYS per admission, per scope, its requests window, tokens window, leases, usage
 * record. ARGV per admission now, bucketMs, buckets, lease id ('' none), lease expiry, requests to
 * take, scope count, then per scope rpm, tpm, maxParallel, budget in nano-USD, period end (0 = none;
 * for the budget's Retry-After). An admission counts in every scope only if all admit, and counts
 * as many requests as it takes, or as every rpm scope has left if fewer (at least 1).
 * Returns per admission: refused scope (1-based, 0 = admitted), reason (1 rpm, 2 tpm, 3 parallel,
 * 4 budget), retry-after ms (-1 = none), requests counted, then per scope requests used, requests
 * reset, tokens used, tokens reset.
 */
const STEP = `${HELPERS}
local settleArgs, settleKeys = tonumber(ARGV[1]), tonumber(ARGV[2])
local k, a = 0, 3
while a < 3 + settleArgs do
  local now, bucketMs, buckets, scopes = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  a = a + 4
  local current = math.floor(now / bucketMs)
  for s = 0, scopes - 1 do
    local kk, aa = k + s * 3, a + s * 7
    local tokens = tonumber(ARGV[aa])
    if tokens > 0 then
      countInto(KEYS[kk + 1], current, tokens)
      expireLater(KEYS[kk + 1], (buckets + 2) * bucketMs)
    end
    if ARGV[aa + 1] ~= '' then redis.call('ZREM', KEYS[kk + 2], ARGV[aa + 1]) end
    local ttl = tonumber(ARGV[aa + 2])
    if ttl >= 0 then
      addUsage(KEYS[kk + 3], tonumber(ARGV[aa + 3]), tonumber(ARGV[aa + 4]), tonumber(ARGV[aa + 5]), tonumber(ARGV[aa + 6]))
      if ttl > 0 then expireLater(KEYS[kk + 3], ttl) end
    end
  end
  k, a = k + scopes * 3, a + scopes * 7
end
-- Before any admission, whose budget check reads the spend.
writeRecords()
local out = {}
k = settleKeys
while a <= #ARGV do
  local now, bucketMs, buckets = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local leaseId, leaseExpiry, take, scopes = ARGV[a + 3], tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
  a = a + 7
  local current = math.floor(now / bucketMs)
  local oldest = current - buckets
  local refused, reason, retry = 0, 0, -1
  -- What an admission may count: what it takes, or what the fullest rpm window has left.
  local room = take
  local used = {}
  for s = 0, scopes - 1 do
    local kk, aa = k + s * 4, a + s * 5
    local rpm, tpm, par, budget, periodEnd = tonumber(ARGV[aa]), tonumber(ARGV[aa + 1]), tonumber(ARGV[aa + 2]), tonumber(ARGV[aa + 3]), tonumber(ARGV[aa + 4])
    local reqUsed, reqReset, tokUsed, tokReset = -1, 0, -1, 0
    if rpm > 0 then
      reqUsed, reqReset = windowSum(KEYS[kk + 1], oldest, bucketMs, buckets, now)
      if refused == 0 and reqUsed >= rpm then refused, reason, retry = s + 1, 1, reqReset end
      if rpm - reqUsed < room then room = rpm - reqUsed end
    end
    if tpm > 0 then
      tokUsed, tokReset = windowSum(KEYS[kk + 2], oldest, bucketMs, buckets, now)
      if refused == 0 and tokUsed >= tpm then refused, reason, retry = s + 1, 2, tokReset end
    end
    if par > 0 and leaseId ~= '' then
      redis.call('ZREMRANGEBYSCORE', KEYS[kk + 3], '-inf', now)
      if refused == 0 and redis.call('ZCARD', KEYS[kk + 3]) >= par then refused, reason, retry = s + 1, 3, -1 end
    end
    if budget > 0 then
      local spent = tonumber(redis.call('HGET', KEYS[kk + 4], 'spend') or '0')
      if refused == 0 and spent >= budget then refused, reason, retry = s + 1, 4, (periodEnd > 0 and periodEnd - now or -1) end
    end
    used[s * 4 + 1], used[s * 4 + 2], used[s * 4 + 3], used[s * 4 + 4] = reqUsed, reqReset, tokUsed, tokReset
  end
  local granted = 0
  if refused == 0 then
    granted = room
    for s = 0, scopes - 1 do
      local kk, aa = k + s * 4, a + s * 5
      if tonumber(ARGV[aa]) > 0 then
        countInto(KEYS[kk + 1], current, granted)
        expireLater(KEYS[kk + 1], (buckets + 2) * bucketMs)
        used[s * 4 + 1] = used[s * 4 + 1] + granted
        if used[s * 4 + 2] == 0 then used[s * 4 + 2] = (current + buckets + 1) * bucketMs - now end
      end
      if tonumber(ARGV[aa + 2]) > 0 and leaseId ~= '' then
        redis.call('ZADD', KEYS[kk + 3], leaseExpiry, leaseId)
        if redis.call('PTTL', KEYS[kk + 3]) < leaseExpiry - now then redis.call('PEXPIREAT', KEYS[kk + 3], leaseExpiry) end
      end
    end
  end
  out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = refused, reason, retry, granted
  for i = 1, #used do out[#out + 1] = used[i] end
  k, a = k + scopes * 4, a + scopes * 5
end
writeExpiries()
return out
`;

/** Deletes the probe key only if the caller still holds it (it may have lapsed and been taken). */
const RELEASE_PROBE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1`;

const REASONS: LimitReason[] = ['rpm', 'tpm', 'max_parallel', 'budget'];
/** Health entries outlive any cooldown Sluice sets; stale ones are ignored by their `until`. */
const HEALTH_TTL_MS = 86_400_000;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sluiceStep(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Result<number[], Context>;
    sluiceReleaseProbe(key: string, holder: string): Result<number, Context>;
  }
}

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  timeoutMs: number;
  /** Connection errors (the caller logs them once per outage). */
  onError(err: Error): void;
}

interface HealthMessage {
  origin: string;
  event: HealthEvent;
}

/** The shared store: one Redis, every counter update a Lua script, health changes over pub/sub. */
export class RedisStore implements StateStore {
  readonly kind = 'redis';
  private readonly redis: Redis;
  private subscriber: Redis | undefined;
  private readonly prefix: string;
  private readonly origin = randomUUID();
  /**
   * Admissions and settlements wait for the end of this turn of the event loop (setImmediate) and go
   * out as one script call: one round trip and one script run for all the requests that arrived or
   * ended in that turn. A settlement is not held back for a later admission to carry it: the next
   * request's admission would then wait for its work (bench/PROFILE.md).
   */
  private readonly admits = new ScriptBatch<number>();
  private readonly settles = new ScriptBatch<number>();
  private immediate: NodeJS.Immediate | undefined;
  private readonly flush = (): void => void this.send();

  constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.keyPrefix;
    this.redis = new Redis(options.url, {
      // A call that cannot be answered fails at once or within timeoutMs; on_error decides the rest.
      commandTimeout: options.timeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: Math.max(1000, options.timeoutMs),
      // Reconnect for ever, at most a second apart, so Sluice recovers by itself.
      retryStrategy: (times) => Math.min(times * 100, 1000),
      // Batched by the store itself (ScriptBatch); ioredis' own per-tick pipeline would cost more.
      enableAutoPipelining: false,
      lazyConnect: false,
    });
    this.redis.on('error', (err: Error) => options.onError(err));
    // Loaded on every (re)connect, so no request pays for a NOSCRIPT round trip.
    this.redis.on('ready', () => {
      for (const script of [STEP, RELEASE_PROBE]) this.redis.script('LOAD', script).catch((err: unknown) => options.onError(err instanceof Error ? err : new Error(String(err))));
    });
    this.redis.defineCommand('sluiceStep', { lua: STEP });
    this.redis.defineCommand('sluiceReleaseProbe', { numberOfKeys: 1, lua: RELEASE_PROBE });
  }

  ready(ms: number): Promise<boolean> {
    if (this.redis.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        resolve(false);
      }, ms);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.redis.once('ready', onReady);
    });
  }

  private key(kind: string, id: string): string {
    return `${this.prefix}:${kind}:${id}`;
  }

  private usageKey(id: string, period: UsagePeriod): string {
    return `${this.prefix}:u:${id}:${period.start}`;
  }

  /** Sends what waits, settlements first; resolves when the store has run it (never rejects). */
  private send(): Promise<unknown> {
    clearImmediate(this.immediate);
    this.immediate = undefined;
    if (this.settles.empty && this.admits.empty) return Promise.resolve();
    const settles = this.settles.take();
    const admits = this.admits.take();
    const args = [settles.args.length, settles.keys.length, ...settles.args, ...admits.args];
    const keys = settles.keys.length === 0 ? admits.keys : admits.keys.length === 0 ? settles.keys : [...settles.keys, ...admits.keys];
    return this.redis.sluiceStep(keys.length, ...keys, ...args).then(
      (reply) => {
        settles.answer([]);
        admits.answer(reply);
      },
      (err: unknown) => {
        settles.fail(err);
        admits.fail(err);
      },
    );
  }

  async admit(input: AdmitInput): Promise<Admission> {
    const keys: string[] = [];
    const args: Array<string | number> = [input.now, input.window.bucketMs, input.window.buckets, input.lease?.id ?? '', input.lease?.expiresAt ?? 0, input.take ?? 1, input.scopes.length];
    for (const scope of input.scopes) {
      keys.push(this.key('r', scope.id), this.key('t', scope.id), this.key('p', scope.id), scope.period === undefined ? this.key('u', scope.id) : this.usageKey(scope.id, scope.period));
      args.push(scope.rpm ?? 0, scope.tpm ?? 0, scope.maxParallel ?? 0, scope.budgetNanoUsd ?? 0, scope.period?.end ?? 0);
    }
    const reply = this.admits.add(keys, args, 4 + input.scopes.length * 4);
    this.immediate ??= setImmediate(this.flush);
    const out = await reply;
    const states: ScopeState[] = input.scopes.map((scope, i) => {
      const o = 4 + i * 4;
      const state: ScopeState = {};
      if (scope.rpm !== undefined) state.requests = { limit: scope.rpm, remaining: Math.max(0, scope.rpm - (out[o] ?? 0)), resetMs: out[o + 1] ?? 0 };
      if (scope.tpm !== undefined) state.tokens = { limit: scope.tpm, remaining: Math.max(0, scope.tpm - (out[o + 2] ?? 0)), resetMs: out[o + 3] ?? 0 };
      return state;
    });
    const refusedScope = out[0] ?? 0;
    if (refusedScope === 0) return { admitted: true, granted: out[3] ?? 1, scopes: states };
    const retry = out[2] ?? -1;
    return { admitted: false, granted: 0, refused: { scope: refusedScope - 1, reason: REASONS[(out[1] ?? 1) - 1] as LimitReason, retryAfterMs: retry < 0 ? undefined : retry }, scopes: states };
  }

  async settle(input: SettleInput): Promise<void> {
    const keys: string[] = [];
    const args: Array<string | number> = [input.now, input.window.bucketMs, input.window.buckets, input.scopes.length];
    for (const scope of input.scopes) {
      const usage = scope.usage;
      keys.push(this.key('t', scope.id), this.key('p', scope.id), usage === undefined ? this.key('u', scope.id) : this.usageKey(scope.id, usage.period));
      const ttl = usage === undefined ? -1 : usage.period.end === undefined ? 0 : usage.period.end - input.now + input.window.windowMs;
      args.push(scope.windowTokens, scope.leaseId ?? '', ttl, usage?.requests ?? 0, usage?.tokens ?? 0, Math.round(usage?.spendNanoUsd ?? 0), usage?.unpriced ?? 0);
    }
    const reply = this.settles.add(keys, args, 0);
    this.immediate ??= setImmediate(this.flush);
    await reply;
  }

  async usage(queries: Array<{ id: string; period: UsagePeriod }>): Promise<UsageRecord[]> {
    void this.send(); // the usage read below follows it on the one connection
    const pipeline = this.redis.pipeline();
    for (const q of queries) pipeline.hgetall(this.usageKey(q.id, q.period));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      const h = (value ?? {}) as Record<string, string>;
      return { requests: Number(h.requests ?? 0), tokens: Number(h.tokens ?? 0), spendNanoUsd: Number(h.spend ?? 0), unpriced: Number(h.unpriced ?? 0) };
    });
  }

  private channel(): string {
    return `${this.prefix}:health`;
  }

  async publishHealth(event: HealthEvent): Promise<void> {
    const key = this.key('h', event.provider);
    const message = JSON.stringify({ origin: this.origin, event } satisfies HealthMessage);
    const multi = this.redis.multi();
    if (event.kind === 'key_cooldown') multi.hset(key, `k:${event.keyId}`, String(event.until));
    else if (event.kind === 'circuit_open') multi.hset(key, 'circuit', `${event.openedAt}:${event.until}`);
    else multi.hdel(key, 'circuit');
    multi.pexpire(key, HEALTH_TTL_MS);
    multi.publish(this.channel(), message);
    await multi.exec();
  }

  async loadHealth(providers: string[], now: number): Promise<HealthEvent[]> {
    const pipeline = this.redis.pipeline();
    for (const provider of providers) pipeline.hgetall(this.key('h', provider));
    const results = (await pipeline.exec()) ?? [];
    const events: HealthEvent[] = [];
    results.forEach(([err, value], i) => {
      if (err) throw err;
      const provider = providers[i] as string;
      for (const [field, text] of Object.entries((value ?? {}) as Record<string, string>)) {
        if (field.startsWith('k:')) {
          const until = Number(text);
          if (until > now) events.push({ kind: 'key_cooldown', provider, keyId: field.slice(2), until });
        } else if (field === 'circuit') {
          const [openedAt, until] = text.split(':').map(Number);
          if (openedAt !== undefined && until !== undefined && until > now) events.push({ kind: 'circuit_open', provider, openedAt, until });
        }
      }
    });
    return events;
  }

  async claimProbe(provider: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.key('probe', provider), holder, 'PX', Math.max(1, Math.round(ttlMs)), 'NX')) === 'OK';
  }

  async releaseProbe(provider: string, holder: string): Promise<void> {
    await this.redis.sluiceReleaseProbe(this.key('probe', provider), holder);
  }

  onHealth(listener: (event: HealthEvent) => void, onResync: () => void): void {
    // Its SUBSCRIBE may wait for the connection: nothing else is sent on it.
    const subscriber = this.redis.duplicate({ commandTimeout: undefined, enableOfflineQueue: true });
    this.subscriber = subscriber;
    subscriber.on('error', (err: Error) => this.options.onError(err));
    let connectedBefore = false;
    // ioredis subscribes again after a reconnect; what was published meanwhile is read back whole.
    subscriber.on('ready', () => {
      if (connectedBefore) onResync();
      connectedBefore = true;
    });
    subscriber.on('message', (_channel: string, text: string) => {
      let message: HealthMessage;
      try {
        message = JSON.parse(text) as HealthMessage;
      } catch {
        return;
      }
      if (message.origin !== this.origin) listener(message.event);
    });
    subscriber.subscribe(this.channel()).catch((err: unknown) => this.options.onError(err instanceof Error ? err : new Error(String(err))));
  }

  async close(): Promise<void> {
    await this.send();
    this.subscriber?.disconnect();
    this.redis.disconnect();
    await Promise.resolve();
  }
}
