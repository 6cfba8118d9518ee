import type { ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { ProviderConfig } from '../config/schema.js';
import { SluiceError, upstreamTimeout, asSluiceError } from '../core/errors.js';
import type { Gateway, RequestContext } from './state.js';
import { resolveModel } from '../routing/route.js';
import type { ChatRequest } from '../core/types.js';
import { Cancellation } from '../upstream/cancellation.js';
import { estimateUsage } from '../observability/usage.js';
import type { ClientGrant } from '../limits/limiter.js';
import { watchFlush } from '../streaming/sse-writer.js';
import { checkModelAllowed } from './auth.js';
import type { AccessRecord } from '../observability/access.js';

/** A JSON body to send exactly as received (a native passthrough), not re-serialised. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** How one API serves a validated request through the pipeline, streamed or whole. */
export interface ExchangeHandlers {
  /** Parse and validate the body (throws a 400 SluiceError), as the chat request to run. */
  parse(body: unknown): ChatRequest;
  /** A stream client: the reply is hijacked; write to `res`, sending `headers()` (a fresh object each call) with the status. */
  stream(ctx: RequestContext, res: ServerResponse, headers: () => Record<string, string>): Promise<void>;
  /** A non-stream client: the JSON body to send (a RawJson goes out byte for byte). */
  complete(ctx: RequestContext): Promise<unknown>;
  /** An error before the first byte in this API's own shape; OpenAI's when absent. */
  errorReply?(error: SluiceError): ErrorReply;
}

/** An error response: status, JSON body and headers. */
export interface ErrorReply {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

function openaiErrorReply(error: SluiceError): ErrorReply {
  return { status: error.status, body: error.toBody(), headers: error.headers };
}

function clientAbort(): SluiceError {
  return new SluiceError('SLUICE_ERR_CLIENT_ABORT', 499, 'invalid_request_error', 'The client closed the connection.', { outcome: 'client_abort' });
}

function totalTimeout(providers: ProviderConfig[]): { ms: number; error: () => SluiceError } {
  const longest = providers.reduce((a, b) => (b.timeouts.total_ms > a.timeouts.total_ms ? b : a));
  return { ms: longest.timeouts.total_ms, error: () => upstreamTimeout(longest.name, 'total', longest.timeouts.total_ms) };
}

/**
 * One request's life: validate, check the client may use the model, route, run the pipeline into
 * the sink the client asked for, turn any failure into the right error, write the access line.
 */
export async function runExchange(gateway: Gateway, request: FastifyRequest, reply: FastifyReply, handlers: ExchangeHandlers): Promise<void> {
  const startedAt = Date.now();
  const state = gateway.state; // a reload during this request does not touch it
  const record: AccessRecord = { api: request.routeOptions.url ?? request.url, model: '', stream: false, attempts: [], outcome: 'ok', status: 200, client: request.client?.name, completionChars: 0 };
  const res = reply.raw;
  const cancellation = new Cancellation();
  // A client that goes away (before or after the first token) aborts the upstream request at once.
  const onClose = (): void => {
    if (!res.writableFinished) cancellation.abort(clientAbort());
  };
  res.on('close', onClose);
  gateway.inflight.add(cancellation);
  let totalTimer: NodeJS.Timeout | undefined;
  let grant: ClientGrant | undefined;
  const headers = (): Record<string, string> => {
    const out: Record<string, string> = grant === undefined ? {} : { ...grant.headers };
    out['x-request-id'] = request.id;
    out['x-sluice-attempts'] = String(record.attempts.length);
    if (record.provider !== undefined) out['x-sluice-provider'] = record.provider;
    return out;
  };
  let body: ChatRequest | undefined;
  // The key's limits are checked while the body is validated: the store's round trip overlaps it.
  const admission = state.limits.admit(request.client?.name);
  let failure: SluiceError | undefined;
  const trace = gateway.tracing?.startRequest(record.api, request.method, request.headers, startedAt);
  try {
    body = handlers.parse(request.body);
    trace?.requested(body);
    record.model = body.model;
    record.stream = body.stream === true;
    checkModelAllowed(request.client, body.model);
    grant = admission instanceof Promise ? await admission : admission;
    const resolution = resolveModel(state.config, body.model);
    record.route = resolution.route?.name ?? resolution.targets[0]?.provider.name;
    const total = totalTimeout(resolution.targets.map((t) => t.provider));
    totalTimer = setTimeout(() => cancellation.abort(total.error()), total.ms);
    const traceparent = request.headers.traceparent;
    const ctx: RequestContext = {
      gateway,
      state,
      request: body,
      resolution,
      record,
      signal: cancellation,
      startedAt,
      log: request.log,
      requestId: request.id,
      traceparent: typeof traceparent === 'string' ? traceparent : undefined,
      trace,
    };
    if (record.stream) {
      reply.hijack();
      const flushed = watchFlush(res);
      await handlers.stream(ctx, res, headers);
      // `ok` only if the end (`[DONE]`) reached the socket, not merely was written. (A response
      // neither ended nor destroyed would never settle; every stream handler ends its own.)
      if ((res.writableEnded || res.destroyed) && !(await flushed())) throw clientAbort();
    } else {
      const result = await handlers.complete(ctx);
      record.ttftMs = Date.now() - startedAt;
      const text = result instanceof RawJson ? result.text : JSON.stringify(result);
      await reply.code(200).headers(headers()).type('application/json').send(text);
    }
  } catch (err) {
    const error = asSluiceError(err);
    failure = error;
    if (error.code === 'SLUICE_ERR_INTERNAL') request.log.error({ err: error.cause ?? error }, 'internal error');
    if (record.outcome === 'ok') record.outcome = error.outcome;
    if (error.outcome === 'client_abort') record.status = 499;
    else if (!res.headersSent) {
      const out = (handlers.errorReply ?? openaiErrorReply)(error);
      record.status = out.status;
      if (reply.sent) sendRawError(res, out, headers());
      else await reply.code(out.status).headers(headers()).headers(out.headers).type('application/json').send(JSON.stringify(out.body));
    }
  } finally {
    clearTimeout(totalTimer);
    res.off('close', onClose);
    gateway.inflight.delete(cancellation);
    if (record.usage === undefined && record.outcome === 'ok' && body !== undefined) {
      record.usage = estimateUsage(body, record.completionChars);
      record.usageEstimated = true;
    }
    const durationMs = Date.now() - startedAt;
    gateway.metrics.requestFinished(record, durationMs);
    logAccess(gateway.accessLog, request.id, record, durationMs);
    settle(state, admission, grant, record);
    if (trace !== undefined) trace.end(record, record.provider === undefined ? undefined : state.providers.get(record.provider)?.config.type, failure);
  }
}

/**
 * Counts the request against its key (and its provider's tpm) once it ended. A request that failed
 * before its admission was awaited (a 400) still releases what the admission took.
 */
function settle(state: RequestContext['state'], admission: ReturnType<RequestContext['state']['limits']['admit']>, grant: ClientGrant | undefined, record: AccessRecord): void {
  const settlement = {
    provider: record.servedBy,
    upstreamModel: record.upstreamModel,
    usage: record.usage,
  };
  if (grant === undefined && admission instanceof Promise) {
    admission.then(
      (late) => void state.limits.settle({ client: late, ...settlement }),
      () => undefined, // refused: nothing was taken
    );
    return;
  }
  void state.limits.settle({ client: grant ?? (admission instanceof Promise ? undefined : admission), ...settlement });
}

/** A hijacked (stream) reply that failed before its first byte: a plain JSON error with its status. */
function sendRawError(res: ServerResponse, error: ErrorReply, headers: Record<string, string>): void {
  if (res.destroyed) return;
  res.writeHead(error.status, { ...error.headers, ...headers, 'content-type': 'application/json' });
  res.end(JSON.stringify(error.body));
}

function logAccess(log: FastifyBaseLogger, reqId: string, record: AccessRecord, durationMs: number): void {
  const usage = record.usage;
  log.info(
    {
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
    },
    'request completed',
  );
}
