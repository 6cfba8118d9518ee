import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { SluiceError } from './core/errors.js';
import { tryParseJson } from './core/json.js';
import type { Committable } from './core/sink.js';
import type { Usage } from './core/types.js';
import { joinUrl } from './core/url.js';
import type { NativeProtocol } from './fronts/front.js';
import type { RequestContext } from './server/state.js';
import type { SseWriter } from './streaming/sse-writer.js';
import { readText, runTargets, sendRequest } from './upstream/attempt.js';
import type { UpstreamResponse } from './upstream/client.js';

// Native passthrough, for any front that declares a NativeProtocol: when every target of a request
// serves that protocol itself (Adapter.nativePath), the client's body goes upstream with only
// `model` and `stream` set, and the upstream's answer comes back byte for byte. Routing, attempts,
// retries and fallback are the pipeline's own (runTargets); usage is read on the side for the logs.

const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Whether every target of this request serves `protocol` natively. */
export function servesNatively(ctx: RequestContext, protocol: string): boolean {
  return ctx.resolution.targets.every((t) => ctx.state.providers.get(t.provider.name)?.adapter.nativePath?.(protocol, t.provider) !== undefined);
}

function open(ctx: RequestContext, protocol: string, body: Record<string, unknown>, stream: boolean): Promise<UpstreamResponse> {
  return runTargets(ctx, (a) => {
    const { adapter, config } = a.runtime;
    const path = adapter.nativePath?.(protocol, config) ?? '';
    const json = JSON.stringify(Object.assign({}, body, { model: a.target.upstreamModel, stream }));
    return sendRequest(ctx, a, { url: joinUrl(config.base_url ?? '', path), method: 'POST', headers: adapter.headers(config, a.apiKey), body: json });
  });
}

/** Non-stream: the upstream's JSON exactly as it came (not JSON is still its answer to pass on). */
export async function completeNative(ctx: RequestContext, native: NativeProtocol, body: Record<string, unknown>): Promise<string> {
  const text = await readText(await open(ctx, native.protocol, body, false), MAX_BODY_BYTES);
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

/** Stream: the upstream's bytes forwarded as they come, with its content type; usage read on the side. */
export async function streamNative(ctx: RequestContext, native: NativeProtocol, body: Record<string, unknown>, sink: NativeSink): Promise<void> {
  const response = await open(ctx, native.protocol, body, true);
  const contentType = response.headers['content-type'];
  const writer = sink.writer;
  writer.open(typeof contentType === 'string' ? contentType : 'text/event-stream');
  ctx.record.ttftMs = Date.now() - ctx.startedAt;
  let usage: Usage | undefined;
  const decoder = new TextDecoder();
  const parser = createParser({
    onEvent(event: EventSourceMessage): void {
      if (event.data.includes('"usage"')) usage = native.eventUsage(event, usage);
    },
  });
  try {
    for await (const bytes of response.body) {
      parser.feed(decoder.decode(bytes, { stream: true }));
      const drained = writer.write(bytes);
      if (drained !== undefined) await drained;
    }
  } catch (err) {
    response.destroy();
    throw ctx.signal.aborted ? ctx.signal.reason : response.bodyError(err);
  } finally {
    if (usage !== undefined) ctx.record.usage = usage;
  }
  writer.end();
}
