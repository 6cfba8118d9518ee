import type { Admission, AdmitInput, HealthEvent, ScopeState, SettleInput, StateStore, UsagePeriod, UsageRecord, WindowShape, WindowState } from './store.js';

/** Bucket index -> amount, for one scope's requests or tokens. */
type Buckets = Map<number, number>;

/**
 * The store inside this process: the same semantics as the Redis store, for one process only (with
 * several processes or workers each counts on its own, so a limit holds per process). JavaScript
 * runs one request's admit at a time, so check-then-count needs no lock.
 */
export class MemoryStore implements StateStore {
  readonly kind = 'memory';
  private readonly requestWindows = new Map<string, Buckets>();
  private readonly tokenWindows = new Map<string, Buckets>();
  /** Scope -> lease id -> expiry. */
  private readonly leases = new Map<string, Map<string, number>>();
  private readonly records = new Map<string, UsageRecord>();

  ready(): Promise<boolean> {
    return Promise.resolve(true);
  }

  admit(input: AdmitInput): Promise<Admission> {
    const { now, window } = input;
    const states: ScopeState[] = [];
    let refused: Admission['refused'];
    for (let i = 0; i < input.scopes.length; i++) {
      const scope = input.scopes[i] as AdmitInput['scopes'][number];
      const state: ScopeState = {};
      if (scope.rpm !== undefined) {
        const used = count(this.requestWindows, scope.id, now, window);
        state.requests = { limit: scope.rpm, remaining: scope.rpm - used.total, resetMs: used.resetMs };
        if (refused === undefined && used.total >= scope.rpm) refused = { scope: i, reason: 'rpm', retryAfterMs: used.resetMs };
      }
      if (scope.tpm !== undefined) {
        const used = count(this.tokenWindows, scope.id, now, window);
        state.tokens = { limit: scope.tpm, remaining: Math.max(0, scope.tpm - used.total), resetMs: used.resetMs };
        if (refused === undefined && used.total >= scope.tpm) refused = { scope: i, reason: 'tpm', retryAfterMs: used.resetMs };
      }
      if (scope.maxParallel !== undefined && input.lease !== undefined) {
        const held = this.liveLeases(scope.id, now);
        if (refused === undefined && held.size >= scope.maxParallel) refused = { scope: i, reason: 'max_parallel', retryAfterMs: undefined };
      }
      if (scope.budgetNanoUsd !== undefined && scope.period !== undefined) {
        const spent = this.records.get(recordKey(scope.id, scope.period))?.spendNanoUsd ?? 0;
        if (refused === undefined && spent >= scope.budgetNanoUsd) refused = { scope: i, reason: 'budget', retryAfterMs: scope.period.end === undefined ? undefined : scope.period.end - now };
      }
      states.push(state);
    }
    if (refused !== undefined) {
      for (const state of states) if (state.requests) state.requests.remaining = Math.max(0, state.requests.remaining);
      return Promise.resolve({ admitted: false, granted: 0, refused, scopes: states });
    }
    let granted = input.take ?? 1;
    for (const state of states) if (state.requests !== undefined) granted = Math.min(granted, state.requests.remaining);
    const bucket = Math.floor(now / window.bucketMs);
    input.scopes.forEach((scope, i) => {
      const state = states[i] as ScopeState;
      if (scope.rpm !== undefined) {
        add(this.requestWindows, scope.id, bucket, granted);
        const requests = state.requests as WindowState;
        requests.remaining -= granted;
        if (requests.resetMs === 0) requests.resetMs = (bucket + window.buckets + 1) * window.bucketMs - now;
      }
      if (scope.maxParallel !== undefined && input.lease !== undefined) this.liveLeases(scope.id, now).set(input.lease.id, input.lease.expiresAt);
    });
    return Promise.resolve({ admitted: true, granted, scopes: states });
  }

  settle(input: SettleInput): Promise<void> {
    const bucket = Math.floor(input.now / input.window.bucketMs);
    for (const scope of input.scopes) {
      if (scope.windowTokens > 0) add(this.tokenWindows, scope.id, bucket, scope.windowTokens);
      if (scope.leaseId !== undefined) this.leases.get(scope.id)?.delete(scope.leaseId);
      if (scope.usage !== undefined) {
        const key = recordKey(scope.id, scope.usage.period);
        const record = this.records.get(key) ?? { requests: 0, tokens: 0, spendNanoUsd: 0, unpriced: 0 };
        record.requests += scope.usage.requests;
        record.tokens += scope.usage.tokens;
        record.spendNanoUsd += scope.usage.spendNanoUsd;
        record.unpriced += scope.usage.unpriced;
        this.records.set(key, record);
      }
    }
    return Promise.resolve();
  }

  usage(queries: Array<{ id: string; period: UsagePeriod }>): Promise<UsageRecord[]> {
    return Promise.resolve(queries.map((q) => ({ ...(this.records.get(recordKey(q.id, q.period)) ?? { requests: 0, tokens: 0, spendNanoUsd: 0, unpriced: 0 }) })));
  }

  // One process: the health it changes is already applied locally, and nobody else listens.
  publishHealth(_event: HealthEvent): Promise<void> {
    return Promise.resolve();
  }

  loadHealth(): Promise<HealthEvent[]> {
    return Promise.resolve([]);
  }

  onHealth(): void {}

  // One process: its breaker's own probing flag already admits one probe.
  claimProbe(): Promise<boolean> {
    return Promise.resolve(true);
  }

  releaseProbe(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private liveLeases(id: string, now: number): Map<string, number> {
    let held = this.leases.get(id);
    if (held === undefined) {
      held = new Map();
      this.leases.set(id, held);
    }
    for (const [lease, expiresAt] of held) if (expiresAt <= now) held.delete(lease);
    return held;
  }
}

function recordKey(id: string, period: UsagePeriod): string {
  return `${id}\u0000${period.start}`;
}

function add(windows: Map<string, Buckets>, id: string, bucket: number, amount: number): void {
  let buckets = windows.get(id);
  if (buckets === undefined) {
    buckets = new Map();
    windows.set(id, buckets);
  }
  buckets.set(bucket, (buckets.get(bucket) ?? 0) + amount);
}

/** The amount in the buckets overlapping the window (older ones are dropped), and when the oldest leaves. */
function count(windows: Map<string, Buckets>, id: string, now: number, window: WindowShape): { total: number; resetMs: number } {
  const buckets = windows.get(id);
  if (buckets === undefined) return { total: 0, resetMs: 0 };
  const current = Math.floor(now / window.bucketMs);
  const oldest = current - window.buckets;
  let total = 0;
  let first: number | undefined;
  for (const [bucket, amount] of buckets) {
    if (bucket < oldest) buckets.delete(bucket);
    else {
      total += amount;
      if (first === undefined || bucket < first) first = bucket;
    }
  }
  return { total, resetMs: first === undefined ? 0 : (first + window.buckets + 1) * window.bucketMs - now };
}

