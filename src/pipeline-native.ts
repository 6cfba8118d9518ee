import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { SluiceError } from './core/errors.js';
import { tryParseJson } from './core/json.js';
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
  const usage = native.responseUsage(tryParseJson(text));
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
  try {
    for (;;) {
      const next = await nextBytes(body, response);
      if (next.done === true) break;
      parser?.feed(decoder.decode(next.value, { stream: true }));
      const drained = writer.write(next.value);
      if (drained !== undefined) await drained;
    }
    const incomplete = reader?.end(provider);
    if (incomplete !== undefined) throw incomplete;
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
