import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import type { ForwardFrame } from '../core/sink.js';
import type { Adapter } from '../providers/adapter.js';
import type { FramesEvent, StreamEvent } from '../core/events.js';
import { nextBytes, type BodySource } from '../core/body.js';

const LF = 10;
const CR = 13;
const DATA_PREFIX = Buffer.from('data: ');

/**
 * Upstream SSE bytes -> messages. eventsource-parser reads every field; this class only cuts the
 * byte stream at event boundaries (`\n\n`) so that eventsource-parser always starts a fresh event,
 * and, once `forward` is set, hands runs of plain `data: {...}\n\n` frames on as the upstream's
 * own bytes, undecoded (the passthrough hot path). A stream that uses CR line ends or opens with
 * a BOM is left to eventsource-parser whole: its event boundaries are not a simple byte search.
 */
export class SseSplitter {
  forward: ForwardFrame | undefined;
  private readonly parser: EventSourceParser;
  /** Bytes received and not yet split: `buf` from `pos` on. */
  private buf: Buffer | undefined;
  private pos = 0;
  private decoder: TextDecoder | undefined;
  private started = false;
  private dispatched = false;

  constructor(
    onMessage: (message: EventSourceMessage) => void,
    private readonly onFrames: (bytes: Buffer, count: number) => void,
  ) {
    this.parser = createParser({
      onEvent: (message) => {
        this.dispatched = true;
        onMessage(message);
      },
    });
  }

  push(read: Uint8Array): void {
    if (this.decoder !== undefined) {
      this.parser.feed(this.decoder.decode(read, { stream: true }));
      return;
    }
    const bytes = Buffer.isBuffer(read) ? read : Buffer.from(read.buffer, read.byteOffset, read.byteLength);
    const rest = this.buf !== undefined && this.pos < this.buf.length ? this.buf.subarray(this.pos) : undefined;
    const buf = rest === undefined ? bytes : Buffer.concat([rest, bytes]);
    const opensWithBom = !this.started && buf[0] === 0xef;
    this.started = true;
    if (opensWithBom || bytes.indexOf(CR) >= 0) {
      this.buf = undefined;
      this.decoder = new TextDecoder();
      this.parser.feed(this.decoder.decode(buf, { stream: true }));
      return;
    }
    this.buf = buf;
    this.pos = 0;
  }

  /**
   * Splits the complete events pushed so far. With `oneMessage`, stops after the first event that
   * reaches the parser and returns true if more bytes wait (so a caller can act on that event
   * before the rest is split, e.g. switch `forward` on).
   */
  split(oneMessage: boolean): boolean {
    const buf = this.buf;
    if (buf === undefined) return false;
    let pos = this.pos;
    let runStart = -1;
    let runCount = 0;
    let view: DataView | undefined;
    this.dispatched = false;
    for (;;) {
      while (buf[pos] === LF) pos++; // blank lines between events dispatch nothing
      // The event ends at the first line end followed by another: one memchr per line.
      const firstLineEnd = buf.indexOf(LF, pos);
      let boundary = firstLineEnd;
      while (boundary >= 0 && boundary + 1 < buf.length && buf[boundary + 1] !== LF) boundary = buf.indexOf(LF, boundary + 1);
      if (boundary < 0 || boundary + 1 >= buf.length) break;
      const end = boundary + 2;
      if (this.forward !== undefined && boundary === firstLineEnd && isDataLine(buf, pos) && this.forward(buf, (view ??= new DataView(buf.buffer, buf.byteOffset, buf.byteLength)), pos + DATA_PREFIX.length, boundary)) {
        if (runStart < 0) runStart = pos;
        runCount++;
      } else {
        if (runStart >= 0) {
          this.onFrames(buf.subarray(runStart, pos), runCount);
          runStart = -1;
          runCount = 0;
        }
        this.parser.feed(buf.toString('utf8', pos, end));
      }
      pos = end;
      if (oneMessage && this.dispatched) {
        this.pos = pos;
        return pos < buf.length;
      }
    }
    if (runStart >= 0) this.onFrames(buf.subarray(runStart, pos), runCount);
    // A copy, so that a partial event does not pin the whole read's memory while the stream idles.
    this.buf = pos < buf.length ? Buffer.from(buf.subarray(pos)) : undefined;
    this.pos = 0;
    return false;
  }

  /** EOF. An incomplete event is not dispatched (WHATWG). */
  end(): void {
    if (this.decoder !== undefined) this.parser.feed(this.decoder.decode());
    this.buf = undefined;
  }
}

/** A line that starts `data: `: with a single line, the frame shape forwarded as bytes. */
function isDataLine(buf: Buffer, pos: number): boolean {
  for (let i = 0; i < DATA_PREFIX.length; i++) if (buf[pos + i] !== DATA_PREFIX[i]) return false;
  return true;
}

/**
 * An upstream SSE body as canonical events, one batch per network read, so that the writer can
 * send a read's worth of events in one write. A stream client's events come one at a time until
 * `commit` (the pipeline decides when to commit event by event), then a read's worth per batch,
 * with OpenAI chunk frames forwarded as bytes if `commit` was given a `forward` test.
 */
export class SseEventStream<S> {
  private batch: StreamEvent[] = [];
  private readonly splitter: SseSplitter;

  constructor(
    private readonly response: BodySource,
    private readonly adapter: Adapter<S>,
    private readonly state: S,
    private eventByEvent = false,
  ) {
    this.splitter = new SseSplitter(
      (message) => {
        if (message.data === '') return;
        const events = adapter.parseEvent(message, state);
        for (let i = 0; i < events.length; i++) this.batch.push(events[i] as StreamEvent);
      },
      (bytes, count) => this.batch.push({ type: 'frames', bytes, count } satisfies FramesEvent),
    );
  }

  commit(forward: ForwardFrame | undefined): void {
    this.eventByEvent = false;
    this.splitter.forward = forward;
  }

  async *batches(): AsyncGenerator<StreamEvent[]> {
    const { response, splitter } = this;
    const reader = response.body[Symbol.asyncIterator]();
    for (;;) {
      const more = splitter.split(this.eventByEvent);
      if (this.batch.length > 0 && (more || !response.buffered())) {
        const out = this.batch;
        this.batch = [];
        yield out;
        continue;
      }
      if (more) continue;
      const next = await nextBytes(reader, response);
      if (next.done === true) break;
      splitter.push(next.value);
    }
    splitter.end();
    const tail = this.adapter.endStream(this.state);
    for (let i = 0; i < tail.length; i++) this.batch.push(tail[i] as StreamEvent);
    if (this.batch.length > 0) yield this.batch;
  }
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
