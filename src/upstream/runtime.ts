import type { Config, ProviderConfig } from '../config/schema.js';
import { addSecrets } from '../core/redact.js';
import type { Adapter } from '../providers/adapter.js';
import { adapterFor } from '../providers/index.js';
import type { Balancer } from '../routing/balancer.js';
import type { Limiter } from '../limits/limiter.js';
import { CircuitBreaker, KeyPool, type HealthListener } from '../routing/health.js';
import { UndiciClient, type UpstreamClient } from './client.js';
import { MockUpstream } from './mock-upstream.js';

/** One configured provider at run time: its adapter, its connection pool, its health. */
export interface ProviderRuntime {
  config: ProviderConfig;
  adapter: Adapter;
  client: UpstreamClient;
  keys: KeyPool;
  breaker: CircuitBreaker;
  /** In-flight requests (least_busy routing). */
  active: number;
}

/** What the attempt loop reads of the gateway's state: the config, the providers, the balancer. */
export interface UpstreamState {
  config: Config;
  providers: Map<string, ProviderRuntime>;
  balancer: Balancer;
  /** Provider rpm/tpm checked per attempt (and client-key limits, checked by the server). */
  limits: Limiter;
}

export function clientFor(provider: ProviderConfig, egress: Config['egress']): UpstreamClient {
  return provider.type === 'mock' ? new MockUpstream(provider) : new UndiciClient(provider, egress);
}

/** A runtime per configured provider. */
export function createRuntimes(
  config: Config,
  createClient: (provider: ProviderConfig, egress: Config['egress']) => UpstreamClient = clientFor,
  listenerFor: (provider: string) => HealthListener | undefined = () => undefined,
): Map<string, ProviderRuntime> {
  const providers = new Map<string, ProviderRuntime>();
  for (const provider of config.providers) {
    // Every key a config names is masked in error texts from now on (see core/redact).
    addSecrets(provider.api_key === undefined ? provider.api_keys : [provider.api_key, ...provider.api_keys]);
    const listener = listenerFor(provider.name);
    providers.set(provider.name, {
      config: provider,
      adapter: adapterFor(provider),
      client: createClient(provider, config.egress),
      keys: new KeyPool(provider, listener),
      breaker: new CircuitBreaker(provider.circuit_breaker, listener, provider.timeouts.total_ms),
      active: 0,
    });
  }
  return providers;
}

export async function closeRuntimes(providers: Map<string, ProviderRuntime>): Promise<void> {
  // undici's Pool.close waits for requests under way, so in-flight streams of an old state finish.
  await Promise.all([...providers.values()].map((p) => p.client.close()));
}
