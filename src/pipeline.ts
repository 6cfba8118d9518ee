import type { ServerResponse } from 'node:http';
import type { ProviderConfig } from './config/schema.js';
import { SluiceError, truncated, upstreamInvalid, upstreamTimeout } from './errors.js';
import type { ProviderRuntime, RequestContext } from './gateway.js';
import type { ChunkEvent, StreamEvent } from './providers/adapter.js';
import { Aggregator } from './streaming/aggregate.js';
import { chunkText, chunkValue, isSubstantive, mayHaveValue } from './streaming/inspect.js';
import { parseSseStream, parseSseText } from './streaming/parse.js';
import { frame, SseWriter } from './streaming/sse-writer.js';
import { synthesizeChunks } from './streaming/synthesize.js';
import type { ChatCompletion } from './streaming/types.js';
import { asSluiceError, readText, runTargets, send, type Attempt } from './upstream/attempt.js';
import type { UpstreamResponse } from './upstream/client.js';

const MAX_BODY_BYTES = 64 * 1024 * 1024;

function isEventStream(response: UpstreamResponse): boolean {
  const type = response.headers['content-type'];
  return typeof type === 'string' && type.toLowerCase().startsWith('text/event-stream');
}

/** A body that is plainly SSE although not labelled so. */
function looksLikeSse(text: string): boolean {
  return text.startsWith('data:') || text.startsWith('event:') || text.startsWith(':');
}

function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw upstreamInvalid('the body is neither JSON nor SSE');
  }
}

async function* once(events: StreamEvent[]): AsyncGenerator<StreamEvent[]> {
  yield events;
}

// ---- sink B: one chat.completion ----------------------------------------------------------------

/** A non-stream client: JSON upstream answers pass through the adapter; SSE answers are aggregated. */
export async function completeForClient(ctx: RequestContext): Promise<ChatCompletion> {
  return runTargets(ctx, async (a) => {
    const { runtime } = a;
    const forced = runtime.config.force_upstream_stream && runtime.config.supports_stream;
    const response = await send(ctx, a, forced);
    if (isEventStream(response)) {
      noteAggregation(ctx, runtime, forced);
      return aggregateEvents(runtime, parseSseStream(response.body, runtime.adapter, runtime.adapter.initStream()), response);
    }
    // Queued upstreams may send blank lines before the JSON: trim before parsing.
    const text = (await readText(response, MAX_BODY_BYTES)).trim();
    if (looksLikeSse(text)) {
      noteAggregation(ctx, runtime, forced);
      return aggregateEvents(runtime, once(parseSseText(text, runtime.adapter, runtime.adapter.initStream())), response);
    }
    return runtime.adapter.parseResponse(parseJsonBody(text));
  });
}

function noteAggregation(ctx: RequestContext, runtime: ProviderRuntime, forced: boolean): void {
  ctx.record.aggregated = forced ? 'forced' : 'autodetected';
  const name = runtime.config.name;
  if (forced || ctx.gateway.sseAutodetectWarned.has(name)) return;
  ctx.gateway.sseAutodetectWarned.add(name);
  ctx.gateway.log.warn({ provider: name }, `provider '${name}' answered a non-stream request with SSE; Sluice aggregated it. Set force_upstream_stream: true on this provider to ask for SSE outright.`);
}

async function aggregateEvents(runtime: ProviderRuntime, batches: AsyncIterable<StreamEvent[]>, response: UpstreamResponse): Promise<ChatCompletion> {
  const aggregator = new Aggregator();
  let done = false;
  try {
    outer: for await (const events of batches) {
      for (const event of events) {
        if (event.type === 'chunk') aggregator.add(chunkValue(event));
        else if (event.type === 'error') throw nonStreamError(event.error);
        else {
          done = true;
          break outer;
        }
      }
    }
  } finally {
    response.destroy();
  }
  if (!done && !aggregator.allChoicesFinished) throw truncated(runtime.config.name, 'the stream ended before a finish_reason');
  return aggregator.result();
}

/** An error event aggregated for a non-stream client is a 502 with the upstream's message. */
function nonStreamError(error: SluiceError): SluiceError {
  if (error.status === 502) return error;
  return new SluiceError(error.code, 502, error.type, error.message, { openaiCode: error.openaiCode, param: error.param, retryable: error.retryable, outcome: error.outcome });
}

// ---- sink A: an SSE stream ------------------------------------------------------------------------

interface OpenedStream {
  runtime: ProviderRuntime;
  response: UpstreamResponse;
  /** Events read while deciding to commit, to be written first. */
  pending: StreamEvent[];
  rest: AsyncIterator<StreamEvent[]> | undefined;
}

/**
 * A stream client. Commit late: events are held back until the first substantive chunk, so an
 * upstream that fails right after opening can still be retried. Pings keep idle proxies from
 * cutting the wait; once one is out the status is 200 and later failures become error events.
 */
export async function streamToClient(ctx: RequestContext, res: ServerResponse, headers: () => Record<string, string>): Promise<void> {
  const writer = new SseWriter(res, headers);
  const ping = setInterval(() => writer.ping(), ctx.state.config.server.keepalive_ms);
  let opened: OpenedStream;
  try {
    opened = await runTargets(ctx, (a) => openStream(ctx, a));
  } catch (err) {
    if (writer.headersSent) writer.fail(asSluiceError(err));
    throw err;
  } finally {
    clearInterval(ping);
  }
  ctx.record.ttftMs = Date.now() - ctx.startedAt;
  opened.runtime.active++;
  try {
    await pump(ctx, opened, writer);
  } catch (err) {
    opened.response.destroy();
    if (ctx.signal.aborted && ctx.signal.reason instanceof SluiceError && ctx.signal.reason.outcome === 'client_abort') throw ctx.signal.reason;
    const error = asSluiceError(ctx.signal.aborted ? ctx.signal.reason : err);
    writer.fail(error);
    throw error;
  } finally {
    opened.runtime.active--;
  }
}

async function openStream(ctx: RequestContext, a: Attempt): Promise<OpenedStream> {
  const { runtime } = a;
  const response = await send(ctx, a, runtime.config.supports_stream);
  let batches: AsyncIterator<StreamEvent[]>;
  if (isEventStream(response)) {
    batches = parseSseStream(response.body, runtime.adapter, runtime.adapter.initStream());
  } else {
    const text = (await readText(response, MAX_BODY_BYTES)).trim();
    if (looksLikeSse(text)) {
      batches = once(parseSseText(text, runtime.adapter, runtime.adapter.initStream()));
    } else {
      // A JSON completion (the upstream ignored `stream`, or cannot stream): synthesize the chunks.
      ctx.record.synthesized = true;
      const completion = runtime.adapter.parseResponse(parseJsonBody(text));
      const chunks = synthesizeChunks(completion, { includeUsage: true });
      const events: StreamEvent[] = chunks.map((chunk) => ({ type: 'chunk', chunk }));
      events.push({ type: 'done' });
      batches = once(events);
    }
  }
  const held: StreamEvent[] = [];
  try {
    for (;;) {
      const next = await batches.next();
      if (next.done) throw truncated(runtime.config.name, 'the stream ended before any content');
      const events = next.value;
      for (let i = 0; i < events.length; i++) {
        const event = events[i] as StreamEvent;
        if (event.type === 'error') throw event.error;
        if (event.type === 'done' || isSubstantive(chunkValue(event))) {
          for (let j = i; j < events.length; j++) held.push(events[j] as StreamEvent);
          return { runtime, response, pending: held, rest: event.type === 'done' ? undefined : batches };
        }
        held.push(event);
      }
    }
  } catch (err) {
    response.destroy();
    throw err;
  }
}

async function pump(ctx: RequestContext, opened: OpenedStream, writer: SseWriter): Promise<void> {
  const wantsUsage = ctx.request.stream_options?.include_usage === true;
  const expectedChoices = typeof ctx.request.n === 'number' && ctx.request.n > 1 ? ctx.request.n : 1;
  const finished = new Set<number>();
  let events: StreamEvent[] | undefined = opened.pending;
  while (events !== undefined) {
    let out = '';
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as StreamEvent;
      if (event.type === 'chunk') {
        const text = forwardedText(ctx, event, wantsUsage, finished);
        if (text !== undefined) out += frame(text);
      } else {
        if (out !== '') await writer.write(out);
        opened.response.destroy();
        if (event.type === 'error') {
          ctx.record.outcome = event.error.outcome;
          writer.fail(event.error);
        } else writer.end();
        return;
      }
    }
    if (out !== '') await writer.write(out);
    const next: IteratorResult<StreamEvent[]> | undefined = await opened.rest?.next();
    events = next === undefined || next.done ? undefined : next.value;
  }
  // EOF without [DONE]: complete only if every choice finished.
  if (finished.size < expectedChoices) throw truncated(opened.runtime.config.name, 'the stream ended before a finish_reason');
  writer.end();
}

/** The JSON text to send for a chunk, or undefined to drop it. Parses only chunks that may need it. */
function forwardedText(ctx: RequestContext, event: ChunkEvent, wantsUsage: boolean, finished: Set<number>): string | undefined {
  const text = event.text;
  if (text !== undefined && event.chunk === undefined && !mayHaveValue(text, '"usage"') && !mayHaveValue(text, '"finish_reason"')) {
    return chunkText(event);
  }
  const chunk = chunkValue(event);
  for (const choice of chunk.choices) if (choice.finish_reason) finished.add(choice.index);
  if (chunk.usage) {
    ctx.record.usage = chunk.usage;
    if (!wantsUsage) {
      // Sluice asked for usage for its own accounting; a client that did not ask never sees it.
      if (chunk.choices.length === 0) return undefined;
      const { usage: _dropped, ...rest } = chunk;
      return JSON.stringify(rest);
    }
  }
  return chunkText(event);
}

export function totalTimeoutError(provider: ProviderConfig): SluiceError {
  return upstreamTimeout(provider.name, 'total', provider.timeouts.total_ms);
}
