import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ProviderConfig } from '../config/schema.js';
import { coarseTimeout, type CoarseTimer } from '../core/coarse-timer.js';
import { asSluiceError, SluiceError, upstreamTimeout } from '../core/errors.js';
import type { ChunkSink, Committable } from '../core/sink.js';
import type { ChatCompletion } from '../core/types.js';
import type { Front, FrontRequest } from '../fronts/front.js';
import { newAccessRecord, type AccessRecord } from '../observability/access.js';
import { completionChars } from '../observability/usage.js';
import { completeForClient, streamInto } from '../pipeline.js';
import { completeNative, NativeSink, servesNatively, streamNative } from '../pipeline-native.js';
import { resolveModel } from '../routing/route.js';
import { SseWriter } from '../streaming/sse-writer.js';
import { Cancellation } from '../upstream/cancellation.js';
import type { ClientGrant } from '../limits/limiter.js';
import { checkModelAllowed } from './auth.js';
import type { Gateway, RequestContext } from './state.js';

function clientAbort(): SluiceError {
  return new SluiceError('SLUICE_ERR_CLIENT_ABORT', 499, 'invalid_request_error', 'The client closed the connection.', { outcome: 'client_abort' });
}

function totalTimeout(providers: ProviderConfig[]): { ms: number; error: () => SluiceError } {
  const longest = providers.reduce((a, b) => (b.timeouts.total_ms > a.timeouts.total_ms ? b : a));
  return { ms: longest.timeouts.total_ms, error: () => upstreamTimeout(longest.name, 'total', longest.timeouts.total_ms) };
}

/**
 * One request to a front (on its route `path`), from parse to access line: validate (the front), check the client may use
 * the model, route, run the pipeline (or the front's native passthrough) into the front's sink or
 * JSON builder, deliver any failure (deliverError), then finish the access record once.
 */
export async function serveFront(gateway: Gateway, front: Front, path: string, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const startedAt = Date.now();
  const state = gateway.state; // a reload during this request does not touch it
  const record = newAccessRecord(path, request.client?.name);
  const res = reply.raw;
  const cancellation = new Cancellation();
  // A client that goes away (before or after the first token) aborts the upstream request at once.
  const onClose = (): void => {
    if (!res.writableFinished) cancellation.abort(clientAbort());
  };
  res.on('close', onClose);
  gateway.inflight.add(cancellation);
  let totalTimer: CoarseTimer | undefined;
  let grant: ClientGrant | undefined;
  const headers = (): Record<string, string> => {
    // Object.assign, not a spread: V8 makes a spread of these quoted keys slow (bench/PROFILE.md, "SSE headers").
    const out: Record<string, string> = grant === undefined ? {} : Object.assign({}, grant.headers);
    out['x-request-id'] = request.id;
    out['x-sluice-attempts'] = String(record.attempts.length);
    if (record.provider !== undefined) out['x-sluice-provider'] = record.provider;
    if (record.droppedTools !== undefined) out['x-sluice-dropped-tools'] = record.droppedTools.join(', ');
    return out;
  };
  // The key's limits are checked while the body is validated: the store's round trip overlaps it.
  const admission = state.limits.admit(request.client?.name);
  let parsed: FrontRequest | undefined;
  let sink: Committable | undefined;
  let failure: SluiceError | undefined;
  const trace = gateway.tracing?.startRequest(record.api, request.method, request.headers, startedAt);
  try {
    parsed = front.parse(request.body, request.headers, request.url);
    const chat = parsed.chat;
    trace?.requested(chat);
    record.model = chat.model;
    record.stream = chat.stream === true;
    checkModelAllowed(request.client, chat.model);
    grant = admission instanceof Promise ? await admission : admission;
    const resolution = resolveModel(state.config, chat.model);
    record.route = resolution.route?.name ?? resolution.targets[0]?.provider.name;
    const total = totalTimeout(resolution.targets.map((t) => t.provider));
    totalTimer = coarseTimeout(total.ms, () => cancellation.abort(total.error()));
    const traceparent = request.headers.traceparent;
    const requestCtx: RequestContext = {
      gateway,
      state,
      request: chat,
      resolution,
      record,
      signal: cancellation,
      startedAt,
      log: request.log,
      requestId: request.id,
      traceparent: typeof traceparent === 'string' ? traceparent : undefined,
      trace,
    };
    const ctx = parsed.route?.(requestCtx) ?? requestCtx;
    const nativeRequest = parsed.native;
    const native = front.native !== undefined && nativeRequest !== undefined && servesNatively(ctx, front.native.protocol) ? front.native : undefined;
    if (native === undefined && parsed.untranslatable !== undefined) throw parsed.untranslatable;
    const local = native === undefined ? parsed.local?.() : undefined;
    if (local !== undefined) {
      record.usage = local.usage;
      record.ttftMs = Date.now() - startedAt;
      await reply.code(200).headers(headers()).type('application/json').send(local.body);
    } else if (record.stream) {
      reply.hijack();
      const writer = new SseWriter(res, headers, () => gateway.inflight.size <= 1);
      if (native !== undefined && nativeRequest !== undefined) {
        const nativeSink = new NativeSink(writer, front.errorEvent);
        sink = nativeSink;
        await streamNative(ctx, native, nativeRequest, nativeSink);
      } else {
        const chunkSink: ChunkSink = parsed.sink(writer, record);
        sink = chunkSink;
        await streamInto(ctx, chunkSink);
      }
      // `ok` only if the stream's end reached the socket, not merely was written. (A response
      // neither ended nor destroyed would never settle; every sink ends its own.)
      if ((res.writableEnded || res.destroyed) && !(await writer.flushed())) throw clientAbort();
    } else {
      let text: string;
      if (native !== undefined && nativeRequest !== undefined) text = await completeNative(ctx, native, nativeRequest);
      else if (parsed.answer !== undefined) text = await parsed.answer(ctx);
      else {
        const { completion, upstreamText } = await completeForClient(ctx);
        if (completion.usage) record.usage = completion.usage;
        else record.completionChars = completionChars(completion);
        if (trace !== undefined) traceCompletion(ctx, completion);
        text = parsed.complete(completion, upstreamText);
      }
      record.ttftMs = Date.now() - startedAt;
      await reply.code(200).headers(headers()).type('application/json').send(text);
    }
  } catch (err) {
    const error = asSluiceError(err);
    failure = error;
    if (error.code === 'SLUICE_ERR_INTERNAL') request.log.error({ err: error.cause ?? error }, 'internal error');
    await deliverError(front, error, sink, reply, headers, record);
  } finally {
    totalTimer?.cancel();
    res.off('close', onClose);
    gateway.inflight.delete(cancellation);
    gateway.access.finish(request.id, record, startedAt, parsed?.chat);
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

/** What a span says of a whole completion (only computed when tracing is on). */
function traceCompletion(ctx: RequestContext, completion: ChatCompletion): void {
  ctx.record.responseModel = completion.model;
  ctx.record.finishReasons = completion.choices.flatMap((c) => (c.finish_reason ? [c.finish_reason] : []));
  ctx.trace?.output(completion.choices.map((c) => c.message));
}

/**
 * The one place that decides how a failure reaches the client. A client that left gets nothing.
 * Once the sink has committed (its status went out with a ping or the first events) the status
 * cannot change: the failure is the front's in-stream error event. Before that it is the front's
 * JSON error with the error's status, whether or not the reply was hijacked for a stream.
 */
export async function deliverError(front: Front, error: SluiceError, sink: Committable | undefined, reply: FastifyReply, headers: () => Record<string, string>, record: AccessRecord): Promise<void> {
  if (record.outcome === 'ok') record.outcome = error.outcome;
  if (error.outcome === 'client_abort') {
    record.status = 499;
    return;
  }
  if (sink?.committed === true) {
    sink.fail(error);
    return;
  }
  const res = reply.raw;
  if (res.headersSent) return;
  const out = front.errorReply(error);
  record.status = out.status;
  if (reply.sent) sendRaw(res, out.status, { ...out.headers, ...headers() }, out.body);
  else await reply.headers(headers()).code(out.status).headers(out.headers).type('application/json').send(out.body);
}

/** A hijacked (stream) reply that failed before its first byte: the JSON error written by hand. */
function sendRaw(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  if (res.destroyed) return;
  headers['content-type'] = 'application/json';
  res.writeHead(status, headers);
  res.end(body);
}
