import type { ProviderConfig } from '../config/schema.js';

/**
 * The provider's keys in rotation. A key that got 429 or 401 rests (for Retry-After, else the
 * provider's key_cooldown_ms; never longer than key_cooldown_max_ms); when every key rests, the
 * one that recovers first is used.
 */
export class KeyPool {
  private readonly keys: string[];
  private readonly restingUntil: number[];
  private readonly maxRestMs: number;
  private next = 0;

  constructor(provider: ProviderConfig) {
    this.maxRestMs = provider.key_cooldown_max_ms;
    const keys = provider.api_key === undefined ? [...provider.api_keys] : [provider.api_key, ...provider.api_keys];
    this.keys = [...new Set(keys)];
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

  rest(key: string, ms: number, now = Date.now()): void {
    const index = this.keys.indexOf(key);
    if (index >= 0) this.restingUntil[index] = now + Math.min(ms, this.maxRestMs);
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

  constructor(private readonly settings: ProviderConfig['circuit_breaker']) {}

  /** Whether a request may go to the provider now; a half-open circuit admits one probe. */
  admit(now = Date.now()): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open' && now - this.openedAt >= this.settings.cooldown_ms) this.state = 'half_open';
    if (this.state === 'half_open' && !this.probing) {
      this.probing = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    this.state = 'closed';
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
    else this.probing = false;
  }

  private reopen(now: number): void {
    this.state = 'open';
    this.openedAt = now;
    this.probing = false;
  }
}
