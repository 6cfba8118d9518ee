import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { SluiceError } from './core/errors.js';
import { isJsonObject, tryParseJson } from './core/json.js';
import { redactSecrets } from './core/redact.js';
import type { Committable } from './core/sink.js';
import { nextBytes } from './core/body.js';
import { joinUrl } from './core/url.js';
import type { NativeProtocol, NativeRequest } from './fronts/front.js';
import type { RequestContext } from './server/state.js';
import type { SseWriter } from './streaming/sse-writer.js';
import { readText, runTargets, sendRequest } from './upstream/attempt.js';
import type { UpstreamResponse } from './upstream/client.js';

// Native passthrough, for any front that declares a NativeProtocol: when every target of a request
// serves that protocol itself (Adapter.nativePath), the client's body goes upstream with only the
// model name changed, and the upstream's answer comes back byte for byte. Routing, attempts,
// retries and fallback are the pipeline's own (runTargets); usage is read on the side for the logs.

const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Whether every target of this request serves `protocol` natively. */
export function servesNatively(ctx: RequestContext, protocol: string): boolean {
  return ctx.resolution.targets.every((t) => ctx.state.providers.get(t.provider.name)?.adapter.nativePath?.(protocol, t.provider) !== undefined);
}

function open(ctx: RequestContext, protocol: string, request: NativeRequest): Promise<UpstreamResponse> {
  return runTargets(ctx, (a) => {
    const { adapter, config } = a.runtime;
    const headers = adapter.headers(config, a.apiKey, request.headers);
    const url = joinUrl(config.base_url ?? '', adapter.nativePath?.(protocol, config) ?? '') + (request.query ?? '');
    return sendRequest(ctx, a, { url, method: 'POST', headers, body: request.body(a.target.upstreamModel) });
  });
}

/** Non-stream: the upstream's JSON exactly as it came (not JSON is still its answer to pass on). */
export async function completeNative(ctx: RequestContext, native: NativeProtocol, request: NativeRequest): Promise<string> {
  const text = await readText(await open(ctx, native.protocol, request), MAX_BODY_BYTES);
  const body = tryParseJson(text);
  // An error body under a 2xx status reaches the client as sent, but never with a provider key in it.
  if (isJsonObject(body) && body.error) return redactSecrets(text);
  const usage = native.responseUsage(body);
  if (usage !== undefined) ctx.record.usage = usage;
  return text;
}

/** A native stream's end of the bargain with the exchange: committed once the status is out; a failure ends it with the front's error event. */
export class NativeSink implements Committable {
  constructor(
    readonly writer: SseWriter,
    private readonly errorEvent: (error: SluiceError) => string,
  ) {}

  get committed(): boolean {
    return this.writer.committed;
  }

  fail(error: SluiceError): void {
    this.writer.end(this.errorEvent(error));
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

/** Stream: the upstream's bytes forwarded as they come, with its content type; the protocol's reader looks on. */
export async function streamNative(ctx: RequestContext, native: NativeProtocol, request: NativeRequest, sink: NativeSink): Promise<void> {
  const response = await open(ctx, native.protocol, request);
  const provider = ctx.record.provider ?? '';
  const contentType = response.headers['content-type'];
  const writer = sink.writer;
  writer.open(typeof contentType === 'string' ? contentType : 'text/event-stream');
  ctx.record.ttftMs = Date.now() - ctx.startedAt;
  ctx.gateway.metrics.streamOpened(provider);
  const reader = native.streamReader?.();
  const decoder = new TextDecoder();
  const parser = reader === undefined ? undefined : createParser({ onEvent: (event: EventSourceMessage) => reader.event(event) });
  const body = response.body[Symbol.asyncIterator]();
  // Bytes after the last whole event wait for the rest of it: if the upstream fails mid-event,
  // the front's error event must not land inside a half-written one.
  let tail: Buffer | undefined;
  // The upstream's bytes as sent; once it failed, its error events reach the client, but never with a provider key in them.
  const passed = (bytes: Buffer): Buffer | string => (reader?.failed === true ? redactSecrets(bytes.toString('utf8')) : bytes);
  try {
    for (;;) {
      const next = await nextBytes(body, response);
      if (next.done === true) break;
      parser?.feed(decoder.decode(next.value, { stream: true }));
      const bytes = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      const pending = tail === undefined ? bytes : Buffer.concat([tail, bytes]);
      const whole = eventsEnd(pending);
      tail = whole < pending.length ? pending.subarray(whole) : undefined;
      if (whole === 0) continue;
      const drained = writer.write(passed(whole === pending.length ? pending : pending.subarray(0, whole)));
      if (drained !== undefined) await drained;
    }
    const incomplete = reader?.end(provider);
    if (incomplete !== undefined) throw incomplete;
    if (tail !== undefined) void writer.write(passed(tail)); // what followed the last event
  } catch (err) {
    response.destroy();
    throw ctx.signal.aborted ? ctx.signal.reason : err;
  } finally {
    ctx.gateway.metrics.streamClosed(provider);
    if (reader?.usage !== undefined) ctx.record.usage = reader.usage;
    // An upstream error event went to the client as sent; the access line says so.
    if (reader?.failed === true && ctx.record.outcome === 'ok') ctx.record.outcome = 'upstream_error';
  }
  writer.end();
}
