import type { ServerResponse } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { openaiUsage, type AnthropicUsage } from '../../core/anthropic-wire.js';
import { asSluiceError, SluiceError, truncated } from '../../core/errors.js';
import type { RequestContext } from '../../server/state.js';
import { isJsonObject, tryParseJson } from '../../core/json.js';
import { joinUrl } from '../../core/url.js';
import { withSseHeaders, writeOrWait } from '../../streaming/sse-writer.js';
import { nextBytes } from '../../core/body.js';
import type { UpstreamResponse } from '../../upstream/client.js';
import { readText, runTargets, sendRequest, type Attempt } from '../../upstream/attempt.js';
import { anthropicEvent } from './stream.js';
import { errorBody } from './errors.js';

const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** What a native request forwards from the client besides its body. */
export interface NativeForward {
  /** The client's `anthropic-version` and `anthropic-beta`, when sent. */
  version: string | undefined;
  beta: string | undefined;
  /** The query string as sent (`?beta=true` from Claude Code), with its `?`, or ''. */
  query: string;
}

/** Whether every target of this request speaks the Messages API itself (type `anthropic`). */
export function isNative(ctx: RequestContext): boolean {
  return ctx.resolution.targets.every((t) => t.provider.type === 'anthropic');
}

/**
 * Sends the client's body to the upstream's own endpoint, only `model` replaced by the upstream
 * name: cache_control, thinking blocks with their signatures, server tools, betas all go as sent.
 * Retries and fallback run as for any request (before the first byte).
 */
function open(ctx: RequestContext, path: string, body: Record<string, unknown>, forward: NativeForward): Promise<UpstreamResponse> {
  return runTargets(ctx, (a: Attempt) => {
    const provider = a.runtime.config;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': forward.version ?? provider.anthropic_version, ...provider.headers };
    if (forward.beta !== undefined) headers['anthropic-beta'] = forward.beta;
    if (a.apiKey !== undefined) headers['x-api-key'] = a.apiKey;
    const url = joinUrl(provider.base_url ?? '', path) + forward.query;
    return sendRequest(ctx, a, { url, method: 'POST', headers, body: JSON.stringify({ ...body, model: a.target.upstreamModel }) });
  });
}

/** Reads usage off Anthropic usage objects (cumulative: each overwrites what it names). */
class UsageReader {
  private usage: AnthropicUsage | undefined;

  add(value: unknown): void {
    if (!isJsonObject(value)) return;
    const next: AnthropicUsage = { ...this.usage };
    for (const key of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const) {
      if (typeof value[key] === 'number') next[key] = value[key];
    }
    this.usage = next;
  }

  store(ctx: RequestContext): void {
    if (this.usage !== undefined) ctx.record.usage = openaiUsage(this.usage);
  }
}

const LF_LF = Buffer.from('\n\n');
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const CR_CR = Buffer.from('\r\r');

/** Where the last whole SSE event in `bytes` ends (0: none yet), for any of SSE's line endings. */
function eventsEnd(bytes: Buffer): number {
  let end = 0;
  for (const blank of [LF_LF, CRLF_CRLF, CR_CR]) {
    const at = bytes.lastIndexOf(blank);
    if (at >= 0 && at + blank.length > end) end = at + blank.length;
  }
  return end;
}

/** Non-stream: the upstream's JSON exactly as it came; its usage read for the logs. */
export async function nativeComplete(ctx: RequestContext, path: string, body: Record<string, unknown>, forward: NativeForward): Promise<string> {
  const response = await open(ctx, path, body, forward);
  const text = await readText(response, MAX_BODY_BYTES);
  const usage = new UsageReader();
  // Not JSON is still the upstream's answer to pass on; only usage is read here.
  usage.add((tryParseJson(text) as { usage?: unknown } | null | undefined)?.usage);
  usage.store(ctx);
  return text;
}

/**
 * Stream: the upstream's bytes forwarded as they come, usage read from message_start and
 * message_delta on the side. An upstream `error` event passes through as sent; a stream cut before
 * `message_stop` gets Sluice's own `error` event, as the SDK would otherwise take it as complete.
 */
export async function nativeStream(ctx: RequestContext, res: ServerResponse, headers: () => Record<string, string>, body: Record<string, unknown>, forward: NativeForward): Promise<void> {
  const response = await open(ctx, '/messages', body, forward);
  const contentType = response.headers['content-type'];
  const out = withSseHeaders(headers());
  out['content-type'] = typeof contentType === 'string' ? contentType : 'text/event-stream';
  res.writeHead(200, out);
  ctx.record.ttftMs = Date.now() - ctx.startedAt;
  ctx.gateway.metrics.streamOpened(ctx.record.provider ?? '');
  const usage = new UsageReader();
  let ended = false;
  const decoder = new TextDecoder();
  const parser = createParser({
    onEvent(event: EventSourceMessage): void {
      const type = event.event;
      if (type === 'message_stop') ended = true;
      else if (type === 'error') {
        ended = true;
        ctx.record.outcome = 'upstream_error';
      } else if (type === 'message_start' || type === 'message_delta') {
        const data = tryParseJson(event.data) as { message?: { usage?: unknown }; usage?: unknown } | undefined;
        usage.add(type === 'message_start' ? data?.message?.usage : data?.usage);
      }
    },
  });
  const reader = response.body[Symbol.asyncIterator]();
  // Bytes after the last whole event wait for the rest of it: if the upstream fails mid-event,
  // Sluice's error event must not land inside a half-written one.
  let tail: Buffer | undefined;
  try {
    for (;;) {
      const next = await nextBytes(reader, response);
      if (next.done === true) break;
      parser.feed(decoder.decode(next.value, { stream: true }));
      const bytes = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      const pending = tail === undefined ? bytes : Buffer.concat([tail, bytes]);
      const whole = eventsEnd(pending);
      tail = whole < pending.length ? pending.subarray(whole) : undefined;
      if (whole === 0) continue;
      const drained = writeOrWait(res, whole === pending.length ? pending : pending.subarray(0, whole));
      if (drained !== undefined) await drained;
    }
    if (!ended) throw truncated(ctx.record.provider ?? 'upstream', 'the stream ended before message_stop');
    if (tail !== undefined) res.write(tail); // what followed message_stop, as sent
  } catch (err) {
    response.destroy();
    const reason = ctx.signal.aborted ? ctx.signal.reason : err;
    const error = asSluiceError(reason);
    if (error.outcome !== 'client_abort' && !res.destroyed) res.write(anthropicEvent('error', { error: errorBody(error).error }));
    throw error instanceof SluiceError ? error : reason;
  } finally {
    usage.store(ctx);
    ctx.gateway.metrics.streamClosed(ctx.record.provider ?? '');
    if (!res.destroyed) res.end();
  }
}
