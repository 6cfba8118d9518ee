import type { FastifyBaseLogger } from 'fastify';
import type { Config, ProviderConfig } from '../config/schema.js';
import type { ChatRequest } from '../core/types.js';
import type { AccessLog, AccessRecord } from '../observability/access.js';
import { Limiter, type LimitMetrics } from '../limits/limiter.js';
import type { Metrics } from '../observability/metrics.js';
import type { SharedHealth } from '../routing/shared-health.js';
import type { StoreGuard } from '../state/guard.js';
import type { StateStore } from '../state/store.js';
import type { RequestTrace, Tracing } from '../observability/tracing.js';
import { Balancer } from '../routing/balancer.js';
import type { Resolution } from '../routing/route.js';
import type { Cancellation } from '../upstream/cancellation.js';
import type { UpstreamClient } from '../upstream/client.js';
import { closeRuntimes, createRuntimes, type UpstreamState } from '../upstream/runtime.js';
import { ClientAuth } from './auth.js';

/** Everything derived from one config. A reload swaps it whole; in-flight requests keep theirs. */
export interface GatewayState extends UpstreamState {
  auth: ClientAuth;
  /** server.admin_keys: who may read /v1/sluice/* (nobody when empty). */
  admin: ClientAuth;
}

export interface Gateway {
  state: GatewayState;
  log: FastifyBaseLogger;
  /** Where each finished request's metrics and access line are written. */
  access: AccessLog;
  /** Providers already warned about answering SSE to a non-stream request (warn once each). */
  sseAutodetectWarned: Set<string>;
  /** Unknown /v1/responses fields already logged as ignored for a translated target (log once each). */
  responsesFieldsIgnored: Set<string>;
  /** One Cancellation per in-flight request, so shutdown can end what outlives the grace period. */
  inflight: Set<Cancellation>;
  metrics: Metrics;
  services: StateServices;
  /** Set only when tracing is configured; undefined keeps the request path free of span work. */
  tracing: Tracing | undefined;
}

/** What outlives a config reload: the state store and what shares health through it. */
export interface StateServices {
  store: StateStore;
  guard: StoreGuard;
  health: SharedHealth;
  metrics: LimitMetrics;
  log: FastifyBaseLogger;
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
  /** The client's W3C traceparent, propagated upstream unchanged when tracing is off. */
  traceparent: string | undefined;
  /** The request's span, when tracing is on. */
  trace: RequestTrace | undefined;
}

export function createState(config: Config, services: StateServices, createClient?: (provider: ProviderConfig, egress: Config['egress']) => UpstreamClient): GatewayState {
  return {
    config,
    providers: createRuntimes(config, createClient, (provider) => services.health.listenerFor(provider)),
    balancer: new Balancer(),
    auth: new ClientAuth(config.server.api_keys),
    admin: new ClientAuth(config.server.admin_keys),
    limits: new Limiter(config, services.store, services.guard, services.metrics, services.log),
  };
}

export function closeState(state: GatewayState): Promise<void> {
  return closeRuntimes(state.providers);
}
