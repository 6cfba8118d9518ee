import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Adapter, StreamEvent } from '../providers/adapter.js';
import { nextBytes, type UpstreamResponse } from '../upstream/client.js';

/**
 * Upstream SSE bytes -> canonical events, one batch per network read so that the writer can send a
 * read's worth of events in one write. eventsource-parser does all the framing (CRLF, comments,
 * split lines); TextDecoder in stream mode keeps multi-byte characters split across reads intact.
 */
export async function* parseSseStream<S>(response: UpstreamResponse, adapter: Adapter<S>, state: S): AsyncGenerator<StreamEvent[]> {
  const decoder = new TextDecoder();
  let batch: StreamEvent[] = [];
  const parser = createParser({
    onEvent(message: EventSourceMessage): void {
      if (message.data === '') return;
      const events = adapter.parseEvent(message, state);
      for (let i = 0; i < events.length; i++) batch.push(events[i] as StreamEvent);
    },
  });
  const reader = response.body[Symbol.asyncIterator]();
  for (;;) {
    const next = await nextBytes(reader, response);
    if (next.done === true) break;
    parser.feed(decoder.decode(next.value, { stream: true }));
    if (batch.length > 0 && !response.buffered()) {
      const out = batch;
      batch = [];
      yield out;
    }
  }
  parser.feed(decoder.decode());
  // An incomplete event at EOF is not dispatched (WHATWG), so no reset({ consume: true }) here.
  const tail = adapter.endStream(state);
  for (let i = 0; i < tail.length; i++) batch.push(tail[i] as StreamEvent);
  if (batch.length > 0) yield batch;
}

/** A whole SSE body already in memory (an upstream that answered SSE to a non-stream request). */
export function parseSseText<S>(text: string, adapter: Adapter<S>, state: S): StreamEvent[] {
  const out: StreamEvent[] = [];
  const parser = createParser({
    onEvent(message: EventSourceMessage): void {
      if (message.data !== '') out.push(...adapter.parseEvent(message, state));
    },
  });
  parser.feed(text);
  out.push(...adapter.endStream(state));
  return out;
}
