import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AccessRecord, AttemptRecord } from './access.js';

// LLM latencies: 50 ms .. 120 s.
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120];

/** Label values for a request Sluice could not route: never the client's model string. */
export const UNROUTED = 'none';

/**
 * Prometheus metrics. Labels come only from configured names (routes, providers) and fixed sets
 * (status codes, outcomes), so bogus model names cannot grow cardinality. Updates are O(1) per
 * request, never per chunk.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'provider' | 'status' | 'stream' | 'api'>;
  private readonly duration: Histogram<'route' | 'provider'>;
  private readonly ttft: Histogram<'route' | 'provider'>;
  private readonly tokens: Counter<'route' | 'provider' | 'type'>;
  private readonly attempts: Counter<'provider' | 'outcome'>;
  private readonly activeStreams: Gauge<'provider'>;
  private readonly disconnects: Counter<'provider'>;
  private readonly aggregated: Counter<'provider' | 'reason'>;
  private readonly limitedRequests: Counter<'key' | 'reason'>;
  private readonly spend: Counter<'key'>;
  private readonly unpricedRequests: Counter<'key'>;
  private readonly stateErrors: Counter<'op'>;

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'sluice_requests_total', help: 'Client requests by route, provider, HTTP status, stream flag and API (the endpoint).', labelNames: ['route', 'provider', 'status', 'stream', 'api'], registers });
    this.duration = new Histogram({ name: 'sluice_request_duration_seconds', help: 'Whole request duration.', labelNames: ['route', 'provider'], buckets: LATENCY_BUCKETS, registers });
    this.ttft = new Histogram({ name: 'sluice_time_to_first_token_seconds', help: 'Time until the first token reached a stream client.', labelNames: ['route', 'provider'], buckets: LATENCY_BUCKETS, registers });
    this.tokens = new Counter({ name: 'sluice_tokens_total', help: 'Tokens by type, from upstream usage (estimated when the upstream gave none).', labelNames: ['route', 'provider', 'type'], registers });
    this.attempts = new Counter({ name: 'sluice_upstream_attempts_total', help: 'Upstream attempts by outcome.', labelNames: ['provider', 'outcome'], registers });
    this.activeStreams = new Gauge({ name: 'sluice_active_streams', help: 'Streams currently open to clients.', labelNames: ['provider'], registers });
    this.disconnects = new Counter({ name: 'sluice_client_disconnects_total', help: 'Requests the client abandoned before the end.', labelNames: ['provider'], registers });
    this.aggregated = new Counter({ name: 'sluice_aggregated_responses_total', help: 'Non-stream responses aggregated from an upstream stream.', labelNames: ['provider', 'reason'], registers });
    this.limitedRequests = new Counter({ name: 'sluice_limited_requests_total', help: 'Requests refused by a client-key limit, by key name and reason (rpm, tpm, max_parallel, budget).', labelNames: ['key', 'reason'], registers });
    this.spend = new Counter({ name: 'sluice_spend_usd_total', help: 'Spend by client key name, in USD, from token usage and prices.', labelNames: ['key'], registers });
    this.unpricedRequests = new Counter({ name: 'sluice_unpriced_requests_total', help: 'Requests with token usage but no known price for their model, by client key name.', labelNames: ['key'], registers });
    this.stateErrors = new Counter({ name: 'sluice_state_errors_total', help: 'State store calls that failed or timed out, by operation.', labelNames: ['op'], registers });
    collectDefaultMetrics({ register: this.registry });
  }

  limited(key: string, reason: string): void {
    this.limitedRequests.inc({ key, reason });
  }

  spent(key: string, usd: number): void {
    this.spend.inc({ key }, usd);
  }

  unpriced(key: string): void {
    this.unpricedRequests.inc({ key });
  }

  stateError(op: string): void {
    this.stateErrors.inc({ op });
  }

  streamOpened(provider: string): void {
    this.activeStreams.inc({ provider });
  }

  streamClosed(provider: string): void {
    this.activeStreams.dec({ provider });
  }

  /** Everything else is read off the finished request's access record. */
  requestFinished(record: AccessRecord, durationMs: number): void {
    const route = record.route ?? UNROUTED;
    const provider = record.provider ?? UNROUTED;
    this.requests.inc({ route, provider, status: String(record.status), stream: String(record.stream), api: record.api });
    this.duration.observe({ route, provider }, durationMs / 1000);
    if (record.stream && record.ttftMs !== undefined) this.ttft.observe({ route, provider }, record.ttftMs / 1000);
    for (const attempt of record.attempts) this.attempts.inc({ provider: attempt.provider, outcome: attemptOutcome(attempt) });
    if (record.outcome === 'client_abort') this.disconnects.inc({ provider });
    if (record.aggregated !== undefined) this.aggregated.inc({ provider, reason: record.aggregated });
    const usage = record.usage;
    if (usage !== undefined) {
      this.tokens.inc({ route, provider, type: 'prompt' }, usage.prompt_tokens || 0);
      this.tokens.inc({ route, provider, type: 'completion' }, usage.completion_tokens || 0);
      const reasoning = Number(usage.completion_tokens_details?.reasoning_tokens ?? 0);
      const cached = Number(usage.prompt_tokens_details?.cached_tokens ?? 0);
      if (reasoning > 0) this.tokens.inc({ route, provider, type: 'reasoning' }, reasoning);
      if (cached > 0) this.tokens.inc({ route, provider, type: 'cached' }, cached);
    }
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** A fixed set: ok, timeout, connect_error, status_429, status_4xx, status_5xx, and stream failures. */
function attemptOutcome(attempt: AttemptRecord): string {
  if (attempt.outcome === 'ok') return 'ok';
  if (attempt.status !== undefined) return attempt.status === 429 ? 'status_429' : attempt.status >= 500 ? 'status_5xx' : 'status_4xx';
  switch (attempt.outcome) {
    case 'timeout':
    case 'idle_timeout':
      return 'timeout';
    case 'unreachable':
      return 'connect_error';
    case 'circuit_open':
    case 'rate_limited':
    case 'truncated':
    case 'upstream_error':
    case 'invalid_upstream':
      return attempt.outcome;
    default:
      return 'other';
  }
}
