/**
 * The state store: counters and health shared by every Sluice process that uses the same store.
 * `memory` keeps them in this process; `redis` shares them through one Redis server. Every
 * operation that reads and writes a counter is one atomic step in the store (a Lua script in
 * Redis), so concurrent requests in other processes can never both take the last slot.
 */

/** What one scope (a client key, a provider, a provider key) may use. Absent: unlimited. */
export interface ScopeLimits {
  /** Stable id, part of the store's key names (never a secret: provider keys appear as digests). */
  id: string;
  /** Requests admitted per window. */
  rpm?: number;
  /** Tokens per window; tokens are added by settle(), so this checks what earlier requests used. */
  tpm?: number;
  maxParallel?: number;
  /** Spend ceiling in nano-USD over `period`. */
  budgetNanoUsd?: number;
  /** The usage record (requests, tokens, spend) of the current period the budget reads. */
  period?: UsagePeriod;
}

export interface UsagePeriod {
  /** Start of the period (epoch ms); 0 for a period that never ends. */
  start: number;
  /** When the period ends (epoch ms); undefined: never. */
  end: number | undefined;
}

/** The sliding window rpm and tpm count over, cut into buckets (see windowShape). */
export interface WindowShape {
  windowMs: number;
  /** Length of one bucket. */
  bucketMs: number;
  /** How many buckets back a count reaches (covers at least windowMs before now). */
  buckets: number;
}

export type LimitReason = 'rpm' | 'tpm' | 'max_parallel' | 'budget';

export interface WindowState {
  limit: number;
  remaining: number;
  /** When the oldest counted use leaves the window (ms from now); 0 when none is counted. */
  resetMs: number;
}

export interface ScopeState {
  requests?: WindowState;
  tokens?: WindowState;
}

export interface AdmitInput {
  now: number;
  window: WindowShape;
  scopes: ScopeLimits[];
  /** A slot in each scope with maxParallel, released by settle() or when it expires. */
  lease?: { id: string; expiresAt: number };
  /**
   * Requests to count at once in each scope with rpm (default 1): an allowance for requests this
   * process admits itself later in the same bucket. The store grants fewer (down to 1) when fewer are left.
   */
  take?: number;
}

export interface Admission {
  admitted: boolean;
  /** Requests counted when admitted (1, or up to `take`); 0 when refused. */
  granted: number;
  /** The first scope (index into scopes) and limit that refused, when not admitted. */
  refused?: { scope: number; reason: LimitReason; retryAfterMs: number | undefined };
  /** Per scope, in the order given: its windows after this request was counted. */
  scopes: ScopeState[];
}

export interface SettleScope {
  id: string;
  /** Tokens to add to the scope's tpm window (0: none, or the scope has no tpm). */
  windowTokens: number;
  /** The lease admit() took for this request, to release. */
  leaseId?: string;
  /** Added to the usage record of `period`. */
  usage?: { period: UsagePeriod; requests: number; tokens: number; spendNanoUsd: number; unpriced: number };
}

export interface SettleInput {
  now: number;
  window: WindowShape;
  scopes: SettleScope[];
}

export interface UsageRecord {
  requests: number;
  tokens: number;
  spendNanoUsd: number;
  /** Requests whose model had no known price (their spend is not in spendNanoUsd). */
  unpriced: number;
}

/** A provider's shared health: a key resting after a 429/401, or its circuit opened or closed. */
export type HealthEvent =
  | { kind: 'key_cooldown'; provider: string; keyId: string; until: number }
  | { kind: 'circuit_open'; provider: string; openedAt: number; until: number }
  | { kind: 'circuit_close'; provider: string };

export interface StateStore {
  readonly kind: 'memory' | 'redis';
  /** Resolves once the store answers (or after `ms`, whichever comes first); never rejects. */
  ready(ms: number): Promise<boolean>;
  admit(input: AdmitInput): Promise<Admission>;
  settle(input: SettleInput): Promise<void>;
  usage(queries: Array<{ id: string; period: UsagePeriod }>): Promise<UsageRecord[]>;
  /** Records a health change for every process on this store and tells them. */
  publishHealth(event: HealthEvent): Promise<void>;
  /** The health changes still in force, for a process that starts or reconnects. */
  loadHealth(providers: string[], now: number): Promise<HealthEvent[]>;
  /**
   * Takes the provider's half-open probe for `ttlMs` unless a process holds it; true: this one
   * probes. `holder` names this process's claim, so only it can release it.
   */
  claimProbe(provider: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Releases the probe if `holder` still holds it. */
  releaseProbe(provider: string, holder: string): Promise<void>;
  /** Called with health changes published by other processes (and after a reconnect, to reload). */
  onHealth(listener: (event: HealthEvent) => void, onResync: () => void): void;
  close(): Promise<void>;
}

const BUCKETS = 10;

/**
 * The window is counted in buckets of a tenth of it. A request is refused when the buckets that
 * overlap the last windowMs hold the limit: the oldest of them may reach up to one bucket further
 * back, so a count never admits more than the limit within any windowMs, at the price of freeing
 * capacity up to a tenth of the window late.
 */
export function windowShape(windowMs: number): WindowShape {
  const bucketMs = Math.max(1, Math.floor(windowMs / BUCKETS));
  return { windowMs, bucketMs, buckets: Math.ceil(windowMs / bucketMs) };
}

const DAY_MS = 86_400_000;

/** Budget periods are fixed UTC windows counted from the Unix epoch (1d: each UTC day). */
export function periodOf(period: '1d' | '7d' | '30d' | 'total', now: number): UsagePeriod {
  if (period === 'total') return { start: 0, end: undefined };
  const length = (period === '1d' ? 1 : period === '7d' ? 7 : 30) * DAY_MS;
  const start = Math.floor(now / length) * length;
  return { start, end: start + length };
}
