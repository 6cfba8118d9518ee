import type { FastifyBaseLogger } from 'fastify';
import type { Config, ProviderConfig } from './config/schema.js';
import { addSecrets } from './core/redact.js';
import type { Metrics } from './observability/metrics.js';
import type { Adapter } from './providers/adapter.js';
import { Balancer } from './routing/balancer.js';
import { CircuitBreaker, KeyPool } from './routing/health.js';
import type { Resolution } from './routing/route.js';
import { ClientAuth } from './server/auth.js';
import type { ChatRequest, Usage } from './streaming/types.js';
import type { Cancellation } from './upstream/cancellation.js';
import type { UpstreamClient } from './upstream/client.js';

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

/** Everything derived from one config. A reload swaps it whole; in-flight requests keep theirs. */
export interface GatewayState {
  config: Config;
  providers: Map<string, ProviderRuntime>;
  balancer: Balancer;
  auth: ClientAuth;
}

export interface Gateway {
  state: GatewayState;
  log: FastifyBaseLogger;
  /**
   * Where access lines go: the same destination without redaction (which cost ~4 µs a line). An
   * access line carries only fields Sluice sets, never headers, keys or bodies.
   */
  accessLog: FastifyBaseLogger;
  /** Providers already warned about answering SSE to a non-stream request (warn once each). */
  sseAutodetectWarned: Set<string>;
  /** One Cancellation per in-flight request, so shutdown can end what outlives the grace period. */
  inflight: Set<Cancellation>;
  metrics: Metrics;
}

export interface AttemptRecord {
  provider: string;
  model: string;
  status?: number;
  outcome: string;
  ms: number;
}

/** What the access log line says about one request. */
export interface AccessRecord {
  /** The endpoint, e.g. /v1/chat/completions. */
  api: string;
  model: string;
  /** Metrics label: the route name, or the provider's for a direct `provider/model` request. */
  route?: string;
  stream: boolean;
  client?: string;
  provider?: string;
  upstreamModel?: string;
  upstreamStatus?: number;
  attempts: AttemptRecord[];
  outcome: string;
  status: number;
  ttftMs?: number;
  usage?: Usage;
  usageEstimated?: boolean;
  /** Generated characters seen, for estimating usage when the upstream gave none. */
  completionChars: number;
  aggregated?: 'forced' | 'autodetected';
  synthesized?: boolean;
}

/** Everything one request's pipeline run needs. One Cancellation: client gone, timeout, shutdown. */
export interface RequestContext {
  gateway: Gateway;
  state: GatewayState;
  request: ChatRequest;
  resolution: Resolution;
  record: AccessRecord;
  signal: Cancellation;
  startedAt: number;
  log: FastifyBaseLogger;
  /** Sent upstream as x-request-id. */
  requestId: string;
  /** The client's W3C traceparent, propagated upstream unchanged. */
  traceparent: string | undefined;
}

export function createState(config: Config, createClient: (provider: ProviderConfig) => UpstreamClient, adapterFor: (provider: ProviderConfig) => Adapter): GatewayState {
  const providers = new Map<string, ProviderRuntime>();
  for (const provider of config.providers) {
    addSecrets(provider.api_key === undefined ? provider.api_keys : [provider.api_key, ...provider.api_keys]);
    providers.set(provider.name, {
      config: provider,
      adapter: adapterFor(provider),
      client: createClient(provider),
      keys: new KeyPool(provider),
      breaker: new CircuitBreaker(provider.circuit_breaker),
      active: 0,
    });
  }
  return { config, providers, balancer: new Balancer(), auth: new ClientAuth(config.server.api_keys) };
}

export async function closeState(state: GatewayState): Promise<void> {
  // undici's Pool.close waits for requests under way, so in-flight streams of an old state finish.
  await Promise.all([...state.providers.values()].map((p) => p.client.close()));
}
