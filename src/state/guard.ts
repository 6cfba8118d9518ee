import type { FastifyBaseLogger } from 'fastify';

/** What the guard needs of the metrics: one counter. */
export interface StateErrorCounter {
  stateError(op: string): void;
}

/**
 * Every store call goes through here: a failure (Redis down, a timeout) is counted, logged once per
 * outage (not once per request), and turned into `undefined` so the caller applies state.on_error.
 * The first success after an outage logs that the store is back; nothing else is needed to recover,
 * since the client reconnects by itself.
 */
export class StoreGuard {
  private down = false;
  private since = 0;
  private failures = 0;

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly metrics: StateErrorCounter,
    private readonly describe: string,
  ) {}

  get outage(): boolean {
    return this.down;
  }

  async call<T>(op: string, fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    try {
      const value = await fn();
      if (this.down) this.recovered();
      return { ok: true, value };
    } catch (err) {
      this.failed(op, err);
      return { ok: false };
    }
  }

  /** Also for failures seen outside a call (the client's connection errors). */
  failed(op: string, err: unknown): void {
    this.metrics.stateError(op);
    this.failures++;
    if (this.down) return;
    this.down = true;
    this.since = Date.now();
    this.log.error({ store: this.describe, op, err: err instanceof Error ? { message: err.message, code: (err as { code?: string }).code } : String(err) }, 'state store unreachable: limits follow state.on_error until it answers again (logged once per outage)');
  }

  private recovered(): void {
    this.log.warn({ store: this.describe, outage_ms: Date.now() - this.since, failed_calls: this.failures }, 'state store answers again; limits apply');
    this.down = false;
    this.failures = 0;
  }
}
