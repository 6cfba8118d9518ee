import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { StoreGuard } from '../state/guard.js';
import type { HealthEvent, StateStore } from '../state/store.js';
import type { CircuitBreaker, HealthListener, KeyPool } from './health.js';

/** The providers' health objects now (a config reload replaces them). */
export type HealthObjects = () => Map<string, { keys: KeyPool; breaker: CircuitBreaker }>;

/**
 * Key cooldowns and circuit breakers shared by every process on a redis state store. Changes are
 * rare (a 429, a circuit opening), so each is written to the store and published; every process
 * keeps a local mirror fed by the subscription (and read whole at start and after a reconnect), and
 * each attempt's check stays a local read.
 */
export class SharedHealth {
  /** This process's name on a probe it claims. */
  private readonly holder = randomUUID();

  constructor(
    private readonly store: StateStore,
    private readonly guard: StoreGuard,
    private readonly current: HealthObjects,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Whether there is anyone to share with (the memory store is one process). */
  get shared(): boolean {
    return this.store.kind !== 'memory';
  }

  /** What a provider's KeyPool and CircuitBreaker tell about their own changes. */
  listenerFor(provider: string): HealthListener | undefined {
    if (!this.shared) return undefined;
    const publish = (event: HealthEvent): void => {
      void this.guard.call('health', () => this.store.publishHealth(event));
    };
    return {
      keyRested: (keyId, until) => publish({ kind: 'key_cooldown', provider, keyId, until }),
      circuitOpened: (openedAt, until) => publish({ kind: 'circuit_open', provider, openedAt, until }),
      circuitClosed: () => publish({ kind: 'circuit_close', provider }),
      // A store that cannot answer leaves the probe to this process alone, as without sharing.
      claimProbe: (ttlMs) => this.guard.call('health', () => this.store.claimProbe(provider, this.holder, ttlMs)).then((r) => !r.ok || r.value),
      probeEnded: () => void this.guard.call('health', () => this.store.releaseProbe(provider, this.holder)),
    };
  }

  /** Subscribes, and loads what is in force now. */
  async start(): Promise<void> {
    if (!this.shared) return;
    this.store.onHealth(
      (event) => this.apply(event),
      () => void this.load(),
    );
    await this.load();
  }

  /** Reads the whole shared health (at start, after a reconnect, after a config reload). */
  async load(): Promise<void> {
    if (!this.shared) return;
    const providers = [...this.current().keys()];
    const result = await this.guard.call('health', () => this.store.loadHealth(providers, Date.now()));
    if (result.ok) for (const event of result.value) this.apply(event);
  }

  private apply(event: HealthEvent): void {
    const health = this.current().get(event.provider);
    if (health === undefined) return;
    this.log.debug({ provider: event.provider, event: event.kind }, 'health change from another Sluice process');
    if (event.kind === 'key_cooldown') health.keys.restById(event.keyId, event.until);
    else if (event.kind === 'circuit_open') health.breaker.openedElsewhere(event.openedAt);
    else health.breaker.closedElsewhere();
  }
}
