import type { ProviderConfig } from '../config/schema.js';
import type { ChatRequest, Usage } from '../core/types.js';
import { estimateUsage } from './usage.js';

export interface AttemptRecord {
  provider: string;
  model: string;
  status?: number;
  outcome: string;
  ms: number;
}

/**
 * What the access log line says about one request. Every field is required (undefined until known),
 * so that newAccessRecord, which makes every record, sets them all.
 */
export interface AccessRecord {
  /** The endpoint, e.g. /v1/chat/completions. */
  api: string;
  model: string;
  /** Metrics label: the route name, or the provider's for a direct `provider/model` request. */
  route: string | undefined;
  stream: boolean;
  client: string | undefined;
  provider: string | undefined;
  upstreamModel: string | undefined;
  upstreamStatus: number | undefined;
  attempts: AttemptRecord[];
  outcome: string;
  status: number;
  ttftMs: number | undefined;
  usage: Usage | undefined;
  usageEstimated: boolean | undefined;
  /** Generated characters seen, for estimating usage when the upstream gave none. */
  completionChars: number;
  /** The model the upstream said answered (set where a chunk or completion is parsed anyway). */
  responseModel: string | undefined;
  /** Finish reasons seen, by choice order of arrival. */
  finishReasons: string[] | undefined;
  aggregated: 'forced' | 'autodetected' | undefined;
  synthesized: boolean | undefined;
  /** Hosted tools left out of a /v1/responses request because a chat-type target cannot run them. */
  droppedTools: string[] | undefined;
  /** The provider (and key digest) whose attempt answered: its usage counts toward their tpm and price. */
  servedBy: { provider: ProviderConfig; keyId: string | undefined } | undefined;
}

/**
 * A request's record before anything is known but its endpoint and client. Every field is there
 * from the start, in one order: records filled in along different paths (a stream, a forced
 * aggregation, a failure) then share one hidden class, and the code that reads them stays monomorphic.
 */
export function newAccessRecord(api: string, client: string | undefined): AccessRecord {
  return {
    api,
    model: '',
    route: undefined,
    stream: false,
    client,
    provider: undefined,
    upstreamModel: undefined,
    upstreamStatus: undefined,
    attempts: [],
    outcome: 'ok',
    status: 200,
    ttftMs: undefined,
    usage: undefined,
    usageEstimated: undefined,
    completionChars: 0,
    responseModel: undefined,
    finishReasons: undefined,
    aggregated: undefined,
    synthesized: undefined,
    droppedTools: undefined,
    servedBy: undefined,
  };
}

/**
 * Where a finished request is written down: its metrics and its access line, in one place. The
 * record is filled in while the request runs (the exchange, the attempt loop, the sink); nothing
 * reads it before finish.
 */
export class AccessLog {
  constructor(
    /**
     * Where access lines go: the same destination without redaction (its cost: bench/PROFILE.md,
     * "access log"). An access line carries only fields Sluice sets, never headers, keys or bodies.
     */
    private readonly log: AccessLogger,
    private readonly metrics: RequestMetrics,
  ) {}

  /** Usage estimated if the upstream gave none (for a request that completed), metrics, the line. */
  finish(reqId: string, record: AccessRecord, startedAt: number, request: ChatRequest | undefined): void {
    if (record.usage === undefined && record.outcome === 'ok' && request !== undefined) {
      record.usage = estimateUsage(request, record.completionChars);
      record.usageEstimated = true;
    }
    const durationMs = Date.now() - startedAt;
    this.metrics.requestFinished(record, durationMs);
    const usage = record.usage;
    const line = {
      reqId,
      api: record.api,
      model: record.model,
      client: record.client,
      provider: record.provider,
      upstream_model: record.upstreamModel,
      upstream_status: record.upstreamStatus,
      stream: record.stream,
      status: record.status,
      outcome: record.outcome,
      attempts: record.attempts,
      ttft_ms: record.ttftMs,
      duration_ms: durationMs,
      prompt_tokens: usage?.prompt_tokens,
      completion_tokens: usage?.completion_tokens,
      usage_estimated: record.usageEstimated,
      aggregated: record.aggregated,
      synthesized: record.synthesized,
      dropped_tools: record.droppedTools,
    };
    // A request served without some of what it asked for is a warning, not just a record.
    if (record.droppedTools !== undefined) this.log.warn({ ...line, warning: `hosted tools left out: a chat-type upstream cannot run ${record.droppedTools.join(', ')}` }, 'request completed');
    else this.log.info(line, 'request completed');
  }
}

/** What the metrics take of a finished request (observability/metrics.ts). */
export interface RequestMetrics {
  requestFinished(record: AccessRecord, durationMs: number): void;
}

/** The one method of a pino logger an access log uses. */
export interface AccessLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}
