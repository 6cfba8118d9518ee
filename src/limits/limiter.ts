import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { ClientKeyConfig, Config, ProviderConfig } from '../config/schema.js';
import { SluiceError } from '../core/errors.js';
import { keyDigest } from '../routing/health.js';
import type { StoreGuard } from '../state/guard.js';
import { periodOf, windowShape, type Admission, type LimitReason, type ScopeLimits, type ScopeState, type SettleScope, type StateStore, type UsagePeriod, type WindowShape } from '../state/store.js';
import type { Usage } from '../core/types.js';
import { Pricing } from './pricing.js';

/** What the limiter reports to the metrics. */
export interface LimitMetrics {
  limited(key: string, reason: LimitReason): void;
  spent(key: string, usd: number): void;
  unpriced(key: string): void;
}

/** One client key's limits, from its `server.api_keys` entry. */
interface ClientPolicy {
  name: string;
  scope: ScopeLimits;
  budgetUsd: number | undefined;
  period: '1d' | '7d' | '30d' | 'total';
  /** Whether anything must be checked before a request (rpm, tpm, max_parallel or a budget). */
  limited: boolean;
}

/** A request the limiter admitted: what settle() needs, and the headers its response carries. */
export interface ClientGrant {
  policy: ClientPolicy;
  period: UsagePeriod;
  leaseId: string | undefined;
  /** OpenAI's x-ratelimit-* headers, for a key with rpm or tpm. */
  headers: Record<string, string>;
}

/** The provider (and provider key) an attempt was admitted under, for counting its tokens. */
export interface ProviderGrant {
  provider: ProviderConfig;
  keyId: string | undefined;
}

/** What one finished request used, to count against its key and provider. */
export interface Settlement {
  client: ClientGrant | undefined;
  provider: ProviderGrant | undefined;
  /** The upstream model that answered (prices are per upstream model). */
  upstreamModel: string | undefined;
  usage: Usage | undefined;
}

const NANO = 1e9;
/** How long a settlement that nothing is waiting for may wait for others to go with it (queueSettle). */
const SETTLE_HOLD_MS = 50;
/** The most requests one store admission counts for a key's allowance (see Allowance). */
const MAX_ALLOWANCE = 64;

/**
 * Requests of a key this process may admit without a store call. One admission counts them all in
 * the store at once (so every process's admissions together stay within the limit), and they are
 * used until the end of the bucket they were counted in (so the window counts each where it was
 * used); what is left then lapses unused. Only a key with rpm/tpm alone, and only while it is far
 * from its limits (nextTake): near them every request is checked in the store.
 */
interface Allowance {
  /** How many requests the next store admission asks for. */
  take: number;
  /** A take above 1 on its way to the store: the key's requests meanwhile wait for it. */
  refill: Promise<unknown> | undefined;
  /** Requests left to admit here, until `until`. */
  left: number;
  until: number;
  /** The key's windows as the store reported them at `at`, for the x-ratelimit-* headers. */
  state: ScopeState | undefined;
  at: number;
  /** Admitted from this allowance so far (the headers' remaining counts down). */
  used: number;
  /** Tokens of this key's recent requests: the largest, decaying by a tenth per request (0: none yet). */
  tokensPerRequest: number;
}

/**
 * The size of the next take, from the key's windows as the store last reported them: what an
 * allowance may use (its requests, and their tokens as this key's requests have used them) stays
 * within a 64th of what the window has left. Unchecked tokens are the cost of not asking: a key
 * with tpm takes more than one only once its requests' size is known.
 */
function nextTake(state: ScopeState, tokensPerRequest: number): number {
  let take = MAX_ALLOWANCE;
  if (state.requests !== undefined) take = Math.min(take, Math.floor(state.requests.remaining / MAX_ALLOWANCE));
  if (state.tokens !== undefined) take = tokensPerRequest === 0 ? 1 : Math.min(take, Math.floor(state.tokens.remaining / (MAX_ALLOWANCE * tokensPerRequest)));
  return Math.max(1, take);
}


/** OpenAI's reset format: `120ms`, `1.5s`, `6m0s`, `1h2m3s`. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = Math.round((ms % 60_000) / 10) / 100;
  if (hours > 0) return `${hours}h${minutes}m${Math.floor(seconds)}s`;
  if (minutes > 0) return `${minutes}m${Math.floor(seconds)}s`;
  return `${seconds}s`;
}

function windowName(window: WindowShape, unit: 'requests' | 'tokens'): string {
  const short = unit === 'requests' ? 'RPM' : 'TPM';
  return window.windowMs === 60_000 ? `${unit} per min (${short})` : `${unit} per ${window.windowMs / 1000}s window (${short})`;
}

function policyOf(entry: ClientKeyConfig, index: number): ClientPolicy {
  if (typeof entry === 'string') return { name: `key-${index + 1}`, scope: { id: `client:key-${index + 1}` }, budgetUsd: undefined, period: '30d', limited: false };
  const scope: ScopeLimits = { id: `client:${entry.name}`, rpm: entry.rpm, tpm: entry.tpm, maxParallel: entry.max_parallel };
  if (entry.budget !== undefined) scope.budgetNanoUsd = Math.round(entry.budget.usd * NANO);
  return {
    name: entry.name,
    scope,
    budgetUsd: entry.budget?.usd,
    period: entry.budget?.period ?? '30d',
    limited: entry.rpm !== undefined || entry.tpm !== undefined || entry.max_parallel !== undefined || entry.budget !== undefined,
  };
}

/**
 * Per-key and per-provider limits over the state store. A client key is checked once per request
 * (one atomic store call) and its use counted when the request ends; a provider with rpm/tpm is
 * checked per attempt. When the store cannot answer, `state.on_error` decides: allow lets the
 * request through unlimited, deny answers 503.
 */
export class Limiter {
  readonly window: WindowShape;
  private readonly policies = new Map<string, ClientPolicy>();
  private readonly pricing: Pricing;
  private readonly deny: boolean;
  /** Lease expiry: longer than any request may run (the longest total timeout), plus a margin. */
  private readonly leaseMs: number;
  private readonly unpricedLogged = new Set<string>();
  /** This turn's settlements (queueSettle): summed per scope and period, and those that release a slot. */
  private readonly summed = new Map<string, SettleScope>();
  private unsummed: SettleScope[] = [];
  private settling: { done: Promise<void>; send(): void; timer: NodeJS.Timeout | undefined; soon: boolean } | undefined;
  /** Per key that may use one (redis store, rpm/tpm alone): its allowance. */
  private readonly allowances = new Map<string, Allowance>();

  constructor(
    config: Config,
    private readonly store: StateStore,
    private readonly guard: StoreGuard,
    private readonly metrics: LimitMetrics,
    private readonly log: FastifyBaseLogger,
  ) {
    this.window = windowShape(config.state.window_ms);
    config.server.api_keys.forEach((entry, i) => {
      const policy = policyOf(entry, i);
      this.policies.set(policy.name, policy);
      // In one process's memory a store call costs nothing worth saving.
      if (store.kind === 'redis' && policy.limited && policy.scope.maxParallel === undefined && policy.scope.budgetNanoUsd === undefined) {
        this.allowances.set(policy.name, { take: 1, refill: undefined, left: 0, until: 0, state: undefined, at: 0, used: 0, tokensPerRequest: 0 });
      }
    });
    this.pricing = new Pricing(config.pricing);
    this.deny = config.state.on_error === 'deny';
    this.leaseMs = Math.max(...config.providers.map((p) => p.timeouts.total_ms)) + 60_000;
  }

  /** The configured client keys, with their usage periods now (GET /v1/sluice/usage). */
  keys(now = Date.now()): Array<{ name: string; id: string; period: UsagePeriod; periodName: string; budgetUsd: number | undefined }> {
    return [...this.policies.values()].map((p) => ({ name: p.name, id: p.scope.id, period: periodOf(p.period, now), periodName: p.period, budgetUsd: p.budgetUsd }));
  }

  /**
   * The grant for a request of this client key, or a 429 (over a limit) / 503 (store down, deny).
   * Undefined when client auth is off. A key without limits is admitted without a store call.
   */
  admit(clientName: string | undefined): Promise<ClientGrant> | ClientGrant | undefined {
    if (clientName === undefined) return undefined;
    const policy = this.policies.get(clientName);
    if (policy === undefined) return undefined;
    const now = Date.now();
    const period = periodOf(policy.period, now);
    if (!policy.limited) return { policy, period, leaseId: undefined, headers: {} };
    const allowance = this.allowances.get(policy.name);
    if (allowance === undefined) return this.admitLimited(policy, period, now, undefined);
    const allowed = this.admitAllowed(policy, period, now, allowance);
    if (allowed !== undefined) return allowed;
    if (allowance.refill !== undefined) return allowance.refill.then(() => this.admitAfterRefill(policy, period, allowance));
    return this.admitLimited(policy, period, now, allowance);
  }

  /** A request admitted from the key's allowance, if it has one left (none while the store is unreachable: on_error decides). */
  private admitAllowed(policy: ClientPolicy, period: UsagePeriod, now: number, allowance: Allowance): ClientGrant | undefined {
    if (allowance.left <= 0 || now >= allowance.until || this.guard.outage) return undefined;
    allowance.left--;
    allowance.used++;
    return { policy, period, leaseId: undefined, headers: rateLimitHeaders(allowance.state, allowance.used, now - allowance.at) };
  }

  /** After a refill this request waited for: from the allowance, else from the store (asking for one). */
  private admitAfterRefill(policy: ClientPolicy, period: UsagePeriod, allowance: Allowance): Promise<ClientGrant> | ClientGrant {
    const now = Date.now();
    return this.admitAllowed(policy, period, now, allowance) ?? this.admitLimited(policy, period, now, allowance);
  }

  private async admitLimited(policy: ClientPolicy, period: UsagePeriod, now: number, allowance: Allowance | undefined): Promise<ClientGrant> {
    const leaseId = policy.scope.maxParallel === undefined ? undefined : randomUUID();
    const scope = policy.scope.budgetNanoUsd === undefined ? policy.scope : { ...policy.scope, period };
    // The allowance's refill, when a take above one is due and none is on its way; else one request.
    const refilling = allowance !== undefined && allowance.refill === undefined && allowance.take > 1 ? allowance : undefined;
    const call = this.guard.call('admit', () => this.store.admit({ now, window: this.window, scopes: [scope], lease: leaseId === undefined ? undefined : { id: leaseId, expiresAt: now + this.leaseMs }, take: refilling?.take ?? 1 }));
    if (refilling !== undefined) refilling.refill = call;
    const result = await call;
    if (refilling !== undefined) refilling.refill = undefined;
    if (!result.ok) {
      if (this.deny) throw stateUnavailable();
      // Allowed without a lease: settle() has nothing to release.
      return { policy, period, leaseId: undefined, headers: {} };
    }
    const admission = result.value;
    const state = admission.scopes[0];
    if (allowance !== undefined && state !== undefined) {
      allowance.take = nextTake(state, allowance.tokensPerRequest);
      if (admission.granted > 1) {
        // The rest of what was counted, for this process's next requests in the same bucket.
        allowance.left = admission.granted - 1;
        allowance.until = (Math.floor(now / this.window.bucketMs) + 1) * this.window.bucketMs;
        allowance.state = state;
        allowance.at = now;
        allowance.used = 0;
      }
    }
    const headers = rateLimitHeaders(state);
    if (admission.admitted) return { policy, period, leaseId, headers };
    const refused = admission.refused as NonNullable<Admission['refused']>;
    this.metrics.limited(policy.name, refused.reason);
    throw this.refusal(policy, refused.reason, refused.retryAfterMs, admission.scopes[0], headers);
  }

  private refusal(policy: ClientPolicy, reason: LimitReason, retryAfterMs: number | undefined, state: ScopeState | undefined, headers: Record<string, string>): SluiceError {
    const retry = retryAfterMs ?? (reason === 'max_parallel' ? 1000 : undefined);
    const out = { ...headers };
    if (retry !== undefined) {
      out['retry-after'] = String(Math.max(1, Math.ceil(retry / 1000)));
      out['retry-after-ms'] = String(Math.max(0, Math.ceil(retry)));
    }
    const later = retry === undefined ? '' : ` Please try again in ${formatReset(retry)}.`;
    if (reason === 'budget') {
      const period = policy.period === 'total' ? '' : ` for this ${policy.period} period`;
      return new SluiceError('SLUICE_ERR_BUDGET_EXCEEDED', 429, 'insufficient_quota', `The API key '${policy.name}' has used its budget of $${policy.budgetUsd}${period}.${later}`, {
        openaiCode: 'insufficient_quota',
        headers: out,
        outcome: 'rate_limited',
        retryAfterMs: retry,
      });
    }
    let message: string;
    let type = 'requests';
    if (reason === 'max_parallel') message = `The API key '${policy.name}' has ${policy.scope.maxParallel} requests in flight, its max_parallel.${later}`;
    else {
      type = reason === 'rpm' ? 'requests' : 'tokens';
      const window = reason === 'rpm' ? state?.requests : state?.tokens;
      const limit = window?.limit ?? 0;
      message = `Rate limit reached for the API key '${policy.name}' on ${windowName(this.window, type as 'requests' | 'tokens')}: Limit ${limit}, Used ${limit - (window?.remaining ?? 0)}.${later}`;
    }
    return new SluiceError('SLUICE_ERR_RATE_LIMITED', 429, type, message, { openaiCode: 'rate_limit_exceeded', headers: out, outcome: 'rate_limited', retryAfterMs: retry });
  }

  /**
   * Whether an attempt may go to this provider with this key now (its rpm/tpm, and key_rpm/key_tpm).
   * Undefined: admitted (a provider without limits costs nothing). Otherwise the refusal: `key`
   * when only the key is at its limit (another key may do), with when capacity returns.
   */
  async admitAttempt(provider: ProviderConfig, apiKey: string | undefined): Promise<{ scope: 'provider' | 'key'; retryAfterMs: number | undefined } | undefined> {
    const scopes: ScopeLimits[] = [];
    if (provider.rpm !== undefined || provider.tpm !== undefined) scopes.push({ id: `provider:${provider.name}`, rpm: provider.rpm, tpm: provider.tpm });
    const id = apiKey === undefined ? undefined : keyDigest(apiKey);
    if (id !== undefined && (provider.key_rpm !== undefined || provider.key_tpm !== undefined)) scopes.push({ id: `pkey:${provider.name}:${id}`, rpm: provider.key_rpm, tpm: provider.key_tpm });
    if (scopes.length === 0) return undefined;
    const result = await this.guard.call('admit', () => this.store.admit({ now: Date.now(), window: this.window, scopes }));
    if (!result.ok || result.value.admitted) return undefined; // a provider's own 429 still protects it
    const refused = result.value.refused as NonNullable<Admission['refused']>;
    return { scope: scopes[refused.scope]?.id.startsWith('pkey:') === true ? 'key' : 'provider', retryAfterMs: refused.retryAfterMs };
  }

  /** Whether the provider has limits an attempt must pass (so attempts without them skip the store). */
  hasProviderLimits(provider: ProviderConfig): boolean {
    return provider.rpm !== undefined || provider.tpm !== undefined || provider.key_rpm !== undefined || provider.key_tpm !== undefined;
  }

  /**
   * Counts a finished request: tokens into the tpm windows, cost into the key's period, the lease
   * released. Called after the response, so it adds nothing to the request's latency.
   */
  settle(s: Settlement): Promise<void> | undefined {
    const scopes: SettleScope[] = [];
    const tokens = s.usage === undefined ? 0 : (s.usage.prompt_tokens || 0) + (s.usage.completion_tokens || 0);
    const client = s.client;
    let urgent = false;
    if (client !== undefined) {
      let spend = 0;
      let unpriced = 0;
      if (s.usage !== undefined && s.provider !== undefined && s.upstreamModel !== undefined && tokens > 0) {
        const cost = this.pricing.cost(s.provider.provider, s.upstreamModel, s.usage);
        if (cost === undefined) {
          unpriced = 1;
          this.metrics.unpriced(client.policy.name);
          this.logUnpriced(s.provider.provider, s.upstreamModel);
        } else {
          spend = cost;
          this.metrics.spent(client.policy.name, cost / NANO);
        }
      }
      const allowance = this.allowances.get(client.policy.name);
      if (allowance !== undefined) allowance.tokensPerRequest = Math.max(tokens, allowance.tokensPerRequest * 0.9);
      // A key near a limit, or with a budget or max_parallel: its next admission reads this count.
      if (client.policy.limited && (allowance === undefined || allowance.take <= 1)) urgent = true;
      scopes.push({
        id: client.policy.scope.id,
        windowTokens: client.policy.scope.tpm !== undefined ? tokens : 0,
        leaseId: client.leaseId,
        usage: { period: client.period, requests: 1, tokens, spendNanoUsd: spend, unpriced },
      });
    }
    const provider = s.provider?.provider;
    if (provider !== undefined && tokens > 0) {
      if (provider.tpm !== undefined) scopes.push({ id: `provider:${provider.name}`, windowTokens: tokens });
      if (provider.key_tpm !== undefined && s.provider?.keyId !== undefined) scopes.push({ id: `pkey:${provider.name}:${s.provider.keyId}`, windowTokens: tokens });
      if (provider.tpm !== undefined || provider.key_tpm !== undefined) urgent = true;
    }
    if (scopes.length === 0) return undefined;
    return this.queueSettle(scopes, urgent || this.store.kind === 'memory');
  }

  /**
   * Settlements go to the store summed per scope and period: at the end of this turn of the event
   * loop if one of them is urgent (an admission will read what it counts), else up to
   * SETTLE_HOLD_MS later (a key without limits, or far from them: its usage record, and a window
   * with room to spare). Either way the requests that ended meanwhile cost one settlement each
   * scope, not one each request. A slot (max_parallel) is released on its own.
   */
  private queueSettle(scopes: SettleScope[], urgent: boolean): Promise<void> {
    for (const scope of scopes) {
      if (scope.leaseId !== undefined) {
        this.unsummed.push(scope);
        continue;
      }
      const key = scope.usage === undefined ? scope.id : `${scope.id}\u0000${scope.usage.period.start}`;
      const sum = this.summed.get(key);
      if (sum === undefined) {
        this.summed.set(key, { id: scope.id, windowTokens: scope.windowTokens, usage: scope.usage && { ...scope.usage } });
        continue;
      }
      sum.windowTokens += scope.windowTokens;
      if (sum.usage !== undefined && scope.usage !== undefined) {
        sum.usage.requests += scope.usage.requests;
        sum.usage.tokens += scope.usage.tokens;
        sum.usage.spendNanoUsd += scope.usage.spendNanoUsd;
        sum.usage.unpriced += scope.usage.unpriced;
      }
    }
    let batch = this.settling;
    if (batch === undefined) {
      let send = (): void => undefined;
      const done = new Promise<void>((resolve) => (send = resolve)).then(() => this.sendSettlements());
      batch = this.settling = { done, send, timer: undefined, soon: false };
      if (!urgent) batch.timer = setTimeout(send, SETTLE_HOLD_MS).unref();
    }
    if (urgent && !batch.soon) {
      batch.soon = true;
      clearTimeout(batch.timer);
      setImmediate(batch.send);
    }
    return batch.done;
  }

  private sendSettlements(): Promise<void> {
    const all = [...this.summed.values(), ...this.unsummed];
    this.summed.clear();
    this.unsummed = [];
    this.settling = undefined;
    return this.guard.call('settle', () => this.store.settle({ now: Date.now(), window: this.window, scopes: all })).then(() => undefined);
  }

  /** Sends the settlements that wait (at shutdown, before the store closes). */
  flush(): Promise<void> {
    const batch = this.settling;
    if (batch === undefined) return Promise.resolve();
    clearTimeout(batch.timer);
    batch.send();
    return batch.done;
  }

  private logUnpriced(provider: ProviderConfig, model: string): void {
    const key = `${provider.name}/${model}`;
    if (this.unpricedLogged.has(key)) return;
    this.unpricedLogged.add(key);
    this.log.warn({ provider: provider.name, model }, `no price known for '${key}': its requests count as unpriced (not $0) toward budgets; add it under pricing: in the config`);
  }
}

/**
 * OpenAI's x-ratelimit-* headers from a key's windows; for a request admitted from an allowance,
 * `used` more requests and `elapsedMs` later than the store reported them.
 */
function rateLimitHeaders(state: ScopeState | undefined, used = 0, elapsedMs = 0): Record<string, string> {
  const out: Record<string, string> = {};
  if (state?.requests !== undefined) {
    out['x-ratelimit-limit-requests'] = String(state.requests.limit);
    out['x-ratelimit-remaining-requests'] = String(Math.max(0, state.requests.remaining - used));
    out['x-ratelimit-reset-requests'] = formatReset(Math.max(0, state.requests.resetMs - elapsedMs));
  }
  if (state?.tokens !== undefined) {
    out['x-ratelimit-limit-tokens'] = String(state.tokens.limit);
    out['x-ratelimit-remaining-tokens'] = String(Math.max(0, state.tokens.remaining));
    out['x-ratelimit-reset-tokens'] = formatReset(Math.max(0, state.tokens.resetMs - elapsedMs));
  }
  return out;
}

export function stateUnavailable(): SluiceError {
  return new SluiceError('SLUICE_ERR_STATE_UNAVAILABLE', 503, 'server_error', "Sluice cannot reach its rate-limit store, and state.on_error is 'deny'; try again shortly.", {
    openaiCode: 'rate_limit_store_unavailable',
    outcome: 'state_unavailable',
    headers: { 'retry-after': '1' },
  });
}

/** The local refusal when every target of a request is at its configured provider limit. */
export function providerLimited(provider: string, retryAfterMs: number | undefined): SluiceError {
  const headers: Record<string, string> = {};
  if (retryAfterMs !== undefined) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
    headers['retry-after-ms'] = String(Math.ceil(retryAfterMs));
  }
  return new SluiceError('SLUICE_ERR_RATE_LIMITED', 429, 'requests', `Provider '${provider}' is at its configured rate limit (rpm/tpm in the Sluice config)${retryAfterMs === undefined ? '' : `; try again in ${formatReset(retryAfterMs)}`}.`, {
    openaiCode: 'rate_limit_exceeded',
    retryable: true,
    outcome: 'rate_limited',
    headers,
    retryAfterMs,
  });
}
