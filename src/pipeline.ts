import { coarseTimeout } from './core/coarse-timer.js';
import { SluiceError, truncated, upstreamInvalid } from './core/errors.js';
import type { RequestContext } from './server/state.js';
import { Aggregator } from './streaming/aggregate.js';
import { decidesCommit } from './streaming/inspect.js';
import { parseSseText, SseEventStream } from './streaming/parse.js';
import { synthesizeChunks } from './streaming/synthesize.js';
import type { ChatCompletion } from './core/types.js';
import { readText, runTargets, send, type Attempt } from './upstream/attempt.js';
import type { UpstreamResponse } from './upstream/client.js';
import type { ProviderRuntime } from './upstream/runtime.js';
import type { ChunkEvent, FramesEvent, StreamEvent } from './core/events.js';
import type { ChunkSink } from './core/sink.js';

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

/** An upstream answer, whatever was asked for: an event stream, or one whole completion. */
type UpstreamAnswer =
  | { kind: 'sse'; batches: AsyncGenerator<StreamEvent[]>; stream?: SseEventStream<unknown> }
  | { kind: 'json'; completion: ChatCompletion; text: string | undefined };

/**
 * SSE is recognised by Content-Type or, failing that, by a body that is plainly SSE. A stream
 * client's events come one by one until the pipeline commits (see SseEventStream).
 */
async function readAnswer(runtime: ProviderRuntime, response: UpstreamResponse, forStreamClient: boolean, takesFrames = false): Promise<UpstreamAnswer> {
  if (isEventStream(response)) {
    const stream = new SseEventStream(response, runtime.adapter, runtime.adapter.initStream(), forStreamClient, runtime.config.max_event_mb * 1024 * 1024, takesFrames);
    return { kind: 'sse', batches: stream.batches(), stream };
  }
  // Queued upstreams may send blank lines before the JSON: trim before parsing.
  const text = (await readText(response, MAX_BODY_BYTES)).trim();
  if (looksLikeSse(text)) return { kind: 'sse', batches: once(parseSseText(text, runtime.adapter, runtime.adapter.initStream())) };
  const body = parseJsonBody(text);
  const completion = runtime.adapter.parseResponse(body);
  return { kind: 'json', completion, text: completion === body ? text : undefined };
}

// ---- sink B: one chat.completion ----------------------------------------------------------------

/** A whole completion, and the upstream's own body when the adapter took it unchanged (to send as is). */
export interface Completed {
  completion: ChatCompletion;
  upstreamText?: string;
}

/** A non-stream client: JSON upstream answers pass through the adapter; SSE answers are aggregated. */
export async function completeForClient(ctx: RequestContext): Promise<Completed> {
  return runTargets(ctx, async (a) => {
    const { runtime } = a;
    const forced = runtime.config.force_upstream_stream && runtime.config.supports_stream;
    const response = await send(ctx, a, forced);
    const answer = await readAnswer(runtime, response, false);
    if (answer.kind === 'json') return { completion: answer.completion, upstreamText: answer.text };
    noteAggregation(ctx, runtime, forced);
    return { completion: await aggregateEvents(runtime, answer.batches, response) };
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
        if (event.type === 'chunk') {
          if (event.chunk === undefined) aggregator.addContent(event.index, event.content);
          else aggregator.add(event.chunk);
        } else if (event.type === 'error') throw nonStreamError(event.error);
        else if (event.type === 'done') {
          done = true;
          break outer;
        }
      }
    }
  } finally {
    if (done) response.release();
    else response.destroy();
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
  /** The events after `pending`; ended by `streamInto` once the pump is done with it. */
  rest: AsyncIterator<StreamEvent[]>;
  /** The upstream event stream, when it is SSE (not synthesized from JSON). */
  stream: SseEventStream<unknown> | undefined;
}

/**
 * A stream client: open the upstream, then pump its events into the sink. Failures are thrown,
 * never written: whether one reaches the client as a status or as the front's in-stream event is
 * decided once, by server/exchange.ts (deliverError), from whether the sink has committed.
 */
export async function streamInto(ctx: RequestContext, sink: ChunkSink): Promise<void> {
  const opened = await openCommitted(ctx, sink);
  opened.runtime.active++;
  ctx.gateway.metrics.streamOpened(opened.runtime.config.name);
  try {
    await pump(ctx, opened, sink);
  } catch (err) {
    opened.response.destroy();
    // A cancelled request (client gone, total timeout, shutdown) failed for that reason.
    throw ctx.signal.aborted ? ctx.signal.reason : err;
  } finally {
    // Ends the event stream too. Left suspended, it holds its last batch, and with it the network
    // read the frames were cut from, for as long as anything still reaches it (bench/PROFILE.md,
    // "suspended generator").
    void opened.rest.return?.();
    opened.runtime.active--;
    ctx.gateway.metrics.streamClosed(opened.runtime.config.name);
  }
}

/**
 * Route, attempts, retries and fallback, committing late: events are held back until the first
 * substantive chunk, so an upstream that fails right after opening can still be retried or fall
 * back. Pings keep idle proxies from cutting the wait (the first one commits the sink: the status
 * is 200 and later failures are events). Returns the chosen upstream's event stream, committed.
 */
async function openCommitted(ctx: RequestContext, sink: ChunkSink): Promise<OpenedStream> {
  const keepaliveMs = ctx.state.config.server.keepalive_ms;
  let ping = coarseTimeout(keepaliveMs, function pingAgain() {
    sink.ping();
    ping = coarseTimeout(keepaliveMs, pingAgain);
  });
  let opened: OpenedStream;
  try {
    opened = await runTargets(ctx, (a) => openStream(ctx, a, sink.takesFrames === true));
  } finally {
    ping.cancel();
  }
  ctx.record.ttftMs = Date.now() - ctx.startedAt;
  opened.stream?.commit();
  return opened;
}

async function openStream(ctx: RequestContext, a: Attempt, takesFrames: boolean): Promise<OpenedStream> {
  const { runtime } = a;
  const response = await send(ctx, a, runtime.config.supports_stream);
  const answer = await readAnswer(runtime, response, true, takesFrames);
  let batches: AsyncIterator<StreamEvent[]>;
  if (answer.kind === 'sse') batches = answer.batches;
  else {
    // A JSON completion (the upstream ignored `stream`, or cannot stream): synthesize the chunks.
    ctx.record.synthesized = true;
    const events: StreamEvent[] = synthesizeChunks(answer.completion, { includeUsage: true }).map((chunk) => ({ type: 'chunk', chunk }));
    events.push({ type: 'done' });
    batches = once(events);
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
        if (decidesCommit(event)) {
          for (let j = i; j < events.length; j++) held.push(events[j] as StreamEvent);
          const stream = answer.kind === 'sse' ? answer.stream : undefined;
          return { runtime, response, pending: held, rest: batches, stream };
        }
        held.push(event);
      }
    }
  } catch (err) {
    response.destroy();
    throw err;
  }
}

function isChunks(event: StreamEvent): event is ChunkEvent | FramesEvent {
  return event.type === 'chunk' || event.type === 'frames';
}

async function pump(ctx: RequestContext, opened: OpenedStream, sink: ChunkSink): Promise<void> {
  const expectedChoices = typeof ctx.request.n === 'number' && ctx.request.n > 1 ? ctx.request.n : 1;
  let events: StreamEvent[] | undefined = opened.pending;
  while (events !== undefined) {
    let end = 0;
    while (end < events.length && isChunks(events[end] as StreamEvent)) end++;
    if (end > 0) {
      // Awaiting only a real promise: `await undefined` would still cost a microtask per batch.
      const drained = sink.write((end === events.length ? events : events.slice(0, end)) as Array<ChunkEvent | FramesEvent>);
      if (drained !== undefined) await drained;
    }
    const last = events[end] as Exclude<StreamEvent, ChunkEvent | FramesEvent> | undefined;
    if (last !== undefined) {
      if (last.type === 'error') throw last.error;
      opened.response.release();
      sink.end();
      return;
    }
    const next = await opened.rest.next();
    events = next.done === true ? undefined : next.value;
  }
  // EOF without [DONE]: complete only if every choice finished.
  if (sink.finishedChoices < expectedChoices) throw truncated(opened.runtime.config.name, 'the stream ended before a finish_reason');
  sink.end();
}
