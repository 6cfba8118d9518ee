import cluster from 'node:cluster';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
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
    if (cluster.isWorker) joinWorkerMetrics(this.registry);
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

  /** The metrics text: under `server.workers`, every worker's summed (see workerMetrics), else this process's own. */
  render(): Promise<string> {
    if (!cluster.isWorker) return this.registry.metrics();
    return workerMetrics(this.registry);
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

// Under `server.workers`, /metrics (on whichever worker took the connection) answers for all of
// them: the worker asks the primary, which gathers every worker's registry through prom-client's
// AggregatorRegistry (counters and histograms summed, as the default and process metrics say) and
// sends the text back. If the primary does not answer in time, the worker's own metrics.

const METRICS_REQUEST = 'sluice:metrics';
const METRICS_ANSWER = 'sluice:metrics-answer';
const ANSWER_MS = 6000;
const waiting = new Map<number, (text: string | undefined) => void>();
let nextId = 0;
let workerListening = false;

/** In a worker: this registry is what the primary gathers from it, and the primary's answers are awaited. */
function joinWorkerMetrics(own: Registry): void {
  AggregatorRegistry.setRegistries(own);
  if (workerListening) return;
  workerListening = true;
  new AggregatorRegistry(); // answers the primary's gathering requests from this worker
  process.on('message', (message: { type?: string; id?: number; text?: string }) => {
    if (message?.type !== METRICS_ANSWER || message.id === undefined) return;
    waiting.get(message.id)?.(message.text);
  });
}

function workerMetrics(own: Registry): Promise<string> {
  return new Promise((resolve) => {
    const id = nextId++;
    const settle = (text: string | undefined): void => {
      clearTimeout(timer);
      waiting.delete(id);
      if (text !== undefined) resolve(text);
      else void own.metrics().then(resolve);
    };
    const timer = setTimeout(() => settle(undefined), ANSWER_MS);
    waiting.set(id, settle);
    process.send?.({ type: METRICS_REQUEST, id });
  });
}

/** In the primary of `server.workers`: answers each worker's request for everyone's metrics. */
export function serveWorkerMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: { type?: string; id?: number }) => {
    if (message?.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: METRICS_ANSWER, id: message.id, text }),
      () => worker.send({ type: METRICS_ANSWER, id: message.id }),
    );
  });
}
