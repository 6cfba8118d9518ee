import { createHash } from 'node:crypto';
import type { ProviderConfig } from '../config/schema.js';

/**
 * Told about this process's own health changes, to share them (the redis state store publishes them
 * to every Sluice process). Changes learnt from other processes are applied without telling it.
 */
export interface HealthListener {
  keyRested(keyId: string, until: number): void;
  circuitOpened(openedAt: number, until: number): void;
  circuitClosed(): void;
  /**
   * Whether this process may send the half-open probe: with a shared store, one process across all
   * of them wins it for `ttlMs` (the longest the probe may run), so a provider that is recovering
   * gets one probe, not one per instance. Absent: this process decides alone.
   */
  claimProbe?(ttlMs: number): Promise<boolean>;
  /** The probe this process claimed has its verdict: another may probe when the circuit half-opens again. */
  probeEnded?(): void;
}

/** A provider key as shared health names it: a digest, never the key. */
export function keyDigest(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/**
 * The provider's keys in rotation. A key that got 429 or 401 rests (for Retry-After, else the
 * provider's key_cooldown_ms; never longer than key_cooldown_max_ms); when every key rests, the
 * one that recovers first is used.
 */
export class KeyPool {
  private readonly keys: string[];
  private readonly ids: string[];
  private readonly restingUntil: number[];
  private readonly maxRestMs: number;
  private next = 0;

  constructor(
    provider: ProviderConfig,
    private readonly listener?: HealthListener,
  ) {
    this.maxRestMs = provider.key_cooldown_max_ms;
    const keys = provider.api_key === undefined ? [...provider.api_keys] : [provider.api_key, ...provider.api_keys];
    this.keys = [...new Set(keys)];
    this.ids = this.keys.map(keyDigest);
    this.restingUntil = this.keys.map(() => 0);
  }

  get size(): number {
    return this.keys.length;
  }

  take(now = Date.now()): string | undefined {
    if (this.keys.length === 0) return undefined;
    let best = 0;
    for (let i = 0; i < this.keys.length; i++) {
      const index = (this.next + i) % this.keys.length;
      if ((this.restingUntil[index] ?? 0) <= now) {
        this.next = index + 1;
        return this.keys[index];
      }
      if ((this.restingUntil[index] ?? 0) < (this.restingUntil[best] ?? 0)) best = index;
    }
    return this.keys[best];
  }

  /** `share`: tell other processes (a 429 from the upstream); a local limit's count is shared already. */
  rest(key: string, ms: number, now = Date.now(), share = true): void {
    const index = this.keys.indexOf(key);
    if (index < 0) return;
    const until = now + Math.min(ms, this.maxRestMs);
    this.restingUntil[index] = until;
    if (share) this.listener?.keyRested(this.ids[index] as string, until);
  }

  /** A rest another process decided (by the key's digest); a longer local rest is kept. */
  restById(id: string, until: number): void {
    const index = this.ids.indexOf(id);
    if (index >= 0 && (this.restingUntil[index] ?? 0) < until) this.restingUntil[index] = until;
  }

  /** Whether the key rests now (for tests and the usage view). */
  resting(key: string, now = Date.now()): boolean {
    const index = this.keys.indexOf(key);
    return index >= 0 && (this.restingUntil[index] ?? 0) > now;
  }
}

export type CircuitState = 'closed' | 'open' | 'half_open';

/**
 * Per-provider circuit breaker: after `failure_threshold` consecutive failed attempts the provider
 * is skipped for `cooldown_ms`; then one probe request is let through (half-open) and its outcome
 * closes or re-opens the circuit.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  state: CircuitState = 'closed';

  constructor(
    private readonly settings: ProviderConfig['circuit_breaker'],
    private readonly listener?: HealthListener,
    /** How long a probe may run (the provider's total timeout): a claimed probe lapses after it. */
    private readonly probeTtlMs = settings.cooldown_ms,
  ) {}

  /**
   * Whether a request may go to the provider now; a half-open circuit admits one probe (with a
   * shared store, one across every process: then the answer waits for the store's).
   */
  admit(now = Date.now()): boolean | Promise<boolean> {
    if (this.state === 'closed') return true;
    if (this.state === 'open' && now - this.openedAt >= this.settings.cooldown_ms) this.state = 'half_open';
    if (this.state !== 'half_open' || this.probing) return false;
    this.probing = true;
    const claim = this.listener?.claimProbe?.(this.probeTtlMs);
    if (claim === undefined) return true;
    return claim.then((won) => {
      // Lost: another process probes; its verdict reaches this one as a close or a re-open.
      if (!won && this.state === 'half_open') this.probing = false;
      return won;
    });
  }

  private endProbe(): void {
    if (!this.probing) return;
    this.probing = false;
    this.listener?.probeEnded?.();
  }

  success(): void {
    this.failures = 0;
    this.endProbe();
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.listener?.circuitClosed();
  }

  failure(now = Date.now()): void {
    this.failures++;
    if (this.state === 'half_open' || this.failures >= this.settings.failure_threshold) this.reopen(now);
  }

  /**
   * An attempt ended in neither success() nor failure(): an upstream 4xx, a 429, a client abort.
   * None counts against a closed circuit, but a half-open one must not wait for a verdict that
   * never comes: `up` (the provider answered) closes it, `refused` (a 429) re-opens it, and
   * `unknown` (the client left first) lets the next request probe.
   */
  settle(verdict: 'up' | 'refused' | 'unknown', now = Date.now()): void {
    if (this.state !== 'half_open' || !this.probing) return;
    if (verdict === 'up') this.success();
    else if (verdict === 'refused') this.reopen(now);
    else this.endProbe();
  }

  private reopen(now: number): void {
    const wasOpen = this.state === 'open';
    this.state = 'open';
    this.openedAt = now;
    this.endProbe();
    if (!wasOpen) this.listener?.circuitOpened(now, now + this.settings.cooldown_ms);
  }

  /** Another process opened the circuit: skip the provider until its cooldown ends, then probe. */
  openedElsewhere(openedAt: number): void {
    if (this.state === 'open' && this.openedAt >= openedAt) return;
    this.state = 'open';
    this.openedAt = openedAt;
    this.probing = false;
  }

  /** Another process's probe succeeded. */
  closedElsewhere(): void {
    this.failures = 0;
    this.probing = false;
    this.state = 'closed';
  }
}
