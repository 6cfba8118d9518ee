import cluster from 'node:cluster';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';
import type { AccessRecord, AttemptRecord } from './access.js';

// LLM latencies: 50 ms .. 120 s.
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120];

/** Label values for a request Sluice could not route: never the client's model string. */
export const UNROUTED = 'none';

/**
 * Prometheus metrics. Labels come only from configured names (routes, providers) and fixed sets
 * (status codes, outcomes), so bogus model names cannot grow cardinality. Updates are O(1) per
 * request, never per chunk.
 *
 * What every request updates (its counts and the open streams) is tallied here, in a Map per
 * metric keyed by the label values, and handed to prom-client when a metric is read (its
 * `collect`, which runs on every scrape and worker gathering): prom-client's own update builds a
 * label hash and checks the labels on each call, and those calls were a twentieth of a request's
 * CPU (bench/PROFILE.md, "metrics"). The latency histograms take each observation through a
 * child made once per route and provider.
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
  private readonly requestTally = new Tally<'route' | 'provider' | 'status' | 'stream' | 'api'>();
  private readonly tokenTally = new Tally<'route' | 'provider' | 'type'>();
  private readonly attemptTally = new Tally<'provider' | 'outcome'>();
  private readonly disconnectTally = new Tally<'provider'>();
  private readonly aggregatedTally = new Tally<'provider' | 'reason'>();
  /** Open streams per provider, set on the gauge when it is read. */
  private readonly open = new Map<string, number>();
  /** The latency histograms' children per route and provider. */
  private readonly latency = new Map<string, { duration: Observer; ttft: Observer }>();

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'sluice_requests_total', help: 'Client requests by route, provider, HTTP status, stream flag and API (the endpoint).', labelNames: ['route', 'provider', 'status', 'stream', 'api'], registers, collect: () => this.requestTally.flush(this.requests) });
    this.duration = new Histogram({ name: 'sluice_request_duration_seconds', help: 'Whole request duration.', labelNames: ['route', 'provider'], buckets: LATENCY_BUCKETS, registers });
    this.ttft = new Histogram({ name: 'sluice_time_to_first_token_seconds', help: 'Time until the first token reached a stream client.', labelNames: ['route', 'provider'], buckets: LATENCY_BUCKETS, registers });
    this.tokens = new Counter({ name: 'sluice_tokens_total', help: 'Tokens by type, from upstream usage (estimated when the upstream gave none).', labelNames: ['route', 'provider', 'type'], registers, collect: () => this.tokenTally.flush(this.tokens) });
    this.attempts = new Counter({ name: 'sluice_upstream_attempts_total', help: 'Upstream attempts by outcome.', labelNames: ['provider', 'outcome'], registers, collect: () => this.attemptTally.flush(this.attempts) });
    this.activeStreams = new Gauge({ name: 'sluice_active_streams', help: 'Streams currently open to clients.', labelNames: ['provider'], registers, collect: () => this.setOpenStreams() });
    this.disconnects = new Counter({ name: 'sluice_client_disconnects_total', help: 'Requests the client abandoned before the end.', labelNames: ['provider'], registers, collect: () => this.disconnectTally.flush(this.disconnects) });
    this.aggregated = new Counter({ name: 'sluice_aggregated_responses_total', help: 'Non-stream responses aggregated from an upstream stream.', labelNames: ['provider', 'reason'], registers, collect: () => this.aggregatedTally.flush(this.aggregated) });
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
    this.open.set(provider, (this.open.get(provider) ?? 0) + 1);
  }

  streamClosed(provider: string): void {
    this.open.set(provider, (this.open.get(provider) ?? 0) - 1);
  }

  private setOpenStreams(): void {
    for (const [provider, count] of this.open) this.activeStreams.set({ provider }, count);
  }

  /** Everything else is read off the finished request's access record. */
  requestFinished(record: AccessRecord, durationMs: number): void {
    const route = record.route ?? UNROUTED;
    const provider = record.provider ?? UNROUTED;
    const status = String(record.status);
    const stream = String(record.stream);
    const api = record.api;
    const target = `${route}\u0000${provider}`;
    this.requestTally.add(`${target}\u0000${status}\u0000${stream}\u0000${api}`, () => ({ route, provider, status, stream, api }));
    const latency = this.latencyOf(target, route, provider);
    latency.duration.observe(durationMs / 1000);
    if (record.stream && record.ttftMs !== undefined) latency.ttft.observe(record.ttftMs / 1000);
    for (const attempt of record.attempts) {
      const outcome = attemptOutcome(attempt);
      this.attemptTally.add(`${attempt.provider}\u0000${outcome}`, () => ({ provider: attempt.provider, outcome }));
    }
    if (record.outcome === 'client_abort') this.disconnectTally.add(provider, () => ({ provider }));
    const reason = record.aggregated;
    if (reason !== undefined) this.aggregatedTally.add(`${provider}\u0000${reason}`, () => ({ provider, reason }));
    const usage = record.usage;
    if (usage !== undefined) {
      this.addTokens(target, route, provider, 'prompt', usage.prompt_tokens || 0);
      this.addTokens(target, route, provider, 'completion', usage.completion_tokens || 0);
      const reasoning = Number(usage.completion_tokens_details?.reasoning_tokens ?? 0);
      const cached = Number(usage.prompt_tokens_details?.cached_tokens ?? 0);
      if (reasoning > 0) this.addTokens(target, route, provider, 'reasoning', reasoning);
      if (cached > 0) this.addTokens(target, route, provider, 'cached', cached);
    }
  }

  private addTokens(target: string, route: string, provider: string, type: string, n: number): void {
    this.tokenTally.add(`${target}\u0000${type}`, () => ({ route, provider, type }), n);
  }

  private latencyOf(target: string, route: string, provider: string): { duration: Observer; ttft: Observer } {
    let latency = this.latency.get(target);
    if (latency === undefined) {
      latency = { duration: this.duration.labels({ route, provider }), ttft: this.ttft.labels({ route, provider }) };
      this.latency.set(target, latency);
    }
    return latency;
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

type Observer = ReturnType<Histogram<string>['labels']>;

/**
 * A counter's increments per label set, kept until prom-client reads the counter (`flush` from its
 * `collect`). The key is the label values joined; the labels object is made once per key.
 */
class Tally<L extends string> {
  private readonly counts = new Map<string, { labels: LabelValues<L>; n: number; shown: boolean }>();

  add(key: string, labels: () => LabelValues<L>, n = 1): void {
    const entry = this.counts.get(key);
    if (entry === undefined) this.counts.set(key, { labels: labels(), n, shown: false });
    else entry.n += n;
  }

  /** Hands the counts on; a label set counted only by 0 so far is shown at 0, as prom-client would. */
  flush(counter: Counter<L>): void {
    for (const entry of this.counts.values()) {
      if (entry.n === 0 && entry.shown) continue;
      counter.inc(entry.labels, entry.n);
      entry.n = 0;
      entry.shown = true;
    }
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
