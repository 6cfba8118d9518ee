import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';
import { LongFrameScan } from '../core/chunk-scan.js';
import { eventTooLarge } from '../core/errors.js';
import type { Adapter } from '../providers/adapter.js';
import type { FramesEvent, StreamEvent } from '../core/events.js';
import { nextBytes, type BodySource } from '../core/body.js';
import { decidesCommit } from './inspect.js';

const LF = 10;
const CR = 13;
const DATA_PREFIX = Buffer.from('data: ');
const BLANK_LINE = Buffer.from('\n\n');
/** The per-event cap when none is given (providers[].max_event_mb's default). */
export const DEFAULT_MAX_EVENT_BYTES = 32 * 1024 * 1024;
const YIELD_AFTER_BYTES = 1024 * 1024;
/** An event held past this size is checked as it arrives, when the splitter has `longFrames`. */
const LONG_EVENT_BYTES = 1024 * 1024;
const OPEN_BRACE = 123;

/**
 * Decides, from a single-line `data: ` frame's JSON bytes (`buf` from `start` to `end`; `view` is a
 * DataView over the same bytes as `buf`), whether it goes on as received: the byte length of its
 * content if so, else -1. Offsets rather than a subarray, and one view per read: no allocation per
 * frame.
 */
export type ForwardFrame = (buf: Buffer, view: DataView, start: number, end: number) => number;

/**
 * Upstream SSE bytes -> messages. eventsource-parser reads every field; this class only cuts the
 * byte stream at event boundaries (`\n\n`) so that eventsource-parser always starts a fresh event,
 * hands a single-line `data: ` event on as its value without feeding it there, and, once `forward`
 * is set, hands runs of plain `data: {...}\n\n` frames on as the upstream's own bytes, undecoded
 * (the passthrough hot path). A stream that uses CR line ends or opens with a BOM is left to
 * eventsource-parser whole: its event boundaries are not a simple byte search.
 *
 * Linear in the event's size however it arrives: the reads of an incomplete event are kept as a
 * list, only each new read is searched for the event's end, and the pieces are joined once, when it
 * comes (re-joining and re-scanning the whole rest on every read made one 40 MB event cost minutes
 * of CPU and stalled every other client). An event over `maxEventBytes` throws eventTooLarge
 * instead of growing memory.
 */
export class SseSplitter {
  forward: ForwardFrame | undefined;
  /**
   * When set, a single-line `data: {` event that grows past LONG_EVENT_BYTES is checked as its
   * reads arrive (LongFrameScan); if the check vouches for it at its end, it goes on as those reads
   * (`onFrames`), never joined or decoded. Otherwise it is joined and parsed like any other.
   */
  longFrames = false;
  /** The held event's check: undefined before it is long, null if it is not a frame to check. */
  private long: LongFrameScan | null | undefined;
  /** A long frame vouched for, waiting for `split` to hand it on. */
  private longFrame: { pieces: Buffer[]; contentBytes: number } | undefined;
  private readonly parser: EventSourceParser;
  /** Bytes received and split as far as `pos`. */
  private buf: Buffer | undefined;
  private pos = 0;
  /** The reads of an event whose end has not come yet (no blank line in them), in order. */
  private pieces: Buffer[] | undefined;
  private piecesBytes = 0;
  private lastByte = 0;
  private decoder: TextDecoder | undefined;
  /** With the decoder: bytes fed since eventsource-parser last dispatched an event or a comment. */
  private sinceEvent = 0;
  private started = false;
  private dispatched = false;
  /** The size of the last join of an event's pieces (0 once split): a large one is worth a turn of the event loop. */
  joined = 0;

  constructor(
    private readonly onMessage: (message: EventSourceMessage) => void,
    private readonly onFrames: (bytes: Buffer | readonly Buffer[], count: number, contentBytes: number) => void,
    private readonly maxEventBytes: number = DEFAULT_MAX_EVENT_BYTES,
  ) {
    this.parser = createParser({
      onEvent: (message) => {
        this.dispatched = true;
        this.sinceEvent = 0;
        onMessage(message);
      },
      onComment: () => {
        this.sinceEvent = 0;
      },
    });
  }

  push(read: Uint8Array): void {
    if (this.decoder !== undefined) {
      this.sinceEvent += read.byteLength;
      if (this.sinceEvent > this.maxEventBytes) throw eventTooLarge(this.maxEventBytes);
      this.parser.feed(this.decoder.decode(read, { stream: true }));
      return;
    }
    const bytes = Buffer.isBuffer(read) ? read : Buffer.from(read.buffer, read.byteOffset, read.byteLength);
    const opensWithBom = !this.started && (this.pieces?.[0] ?? bytes)[0] === 0xef;
    this.started = true;
    if (opensWithBom || bytes.indexOf(CR) >= 0) {
      const held = this.held();
      this.decoder = new TextDecoder();
      this.sinceEvent = held.length + bytes.length;
      this.parser.feed(this.decoder.decode(held.length === 0 ? bytes : Buffer.concat([held, bytes]), { stream: true }));
      return;
    }
    const pieces = this.pieces;
    if (pieces === undefined) {
      const rest = this.buf !== undefined && this.pos < this.buf.length ? this.buf.subarray(this.pos) : undefined;
      this.buf = rest === undefined ? bytes : Buffer.concat([rest, bytes]);
      this.pos = 0;
      return;
    }
    // An event is pending: it ends at the first blank line, which can only be in the new bytes
    // (or straddle the last read's end). Usually within the first few hundred bytes.
    const end = this.lastByte === LF && bytes[0] === LF ? 0 : bytes.indexOf(BLANK_LINE);
    if (end < 0) {
      this.hold(bytes);
      return;
    }
    if (this.piecesBytes + end > this.maxEventBytes) throw eventTooLarge(this.maxEventBytes);
    const long = this.long;
    this.long = undefined;
    const contentBytes = long != null && long.feed(bytes, 0, end) ? long.finish() : -1;
    if (contentBytes >= 0) {
      pieces.push(bytes.subarray(0, end + 2));
      this.longFrame = { pieces, contentBytes };
      this.buf = bytes.subarray(end + 2);
      this.pos = 0;
      this.pieces = undefined;
      this.piecesBytes = 0;
      return;
    }
    pieces.push(bytes);
    this.joined = this.piecesBytes + bytes.length;
    this.buf = Buffer.concat(pieces, this.joined);
    this.pos = 0;
    this.pieces = undefined;
    this.piecesBytes = 0;
  }

  private message(data: string): void {
    this.dispatched = true;
    this.onMessage({ id: undefined, event: undefined, data });
  }

  /** Keeps a read of an incomplete event. */
  private hold(bytes: Buffer): void {
    if (bytes.length === 0) return;
    (this.pieces ??= []).push(bytes);
    this.piecesBytes += bytes.length;
    this.lastByte = bytes[bytes.length - 1] as number;
    if (this.piecesBytes > this.maxEventBytes) throw eventTooLarge(this.maxEventBytes);
    if (this.longFrames && this.long !== null && this.piecesBytes >= LONG_EVENT_BYTES) this.checkLong(bytes);
  }

  /** Feeds the held event's check with the read just held (or, when it starts, with every held read). */
  private checkLong(latest: Buffer): void {
    let check = this.long;
    if (check == null) {
      const pieces = this.pieces as Buffer[];
      const first = pieces[0] as Buffer;
      if (first.length <= DATA_PREFIX.length || !isDataLine(first, 0) || first[DATA_PREFIX.length] !== OPEN_BRACE) {
        this.long = null;
        return;
      }
      check = new LongFrameScan();
      let ok = check.feed(first, DATA_PREFIX.length, first.length);
      for (let i = 1; ok && i < pieces.length; i++) ok = check.feed(pieces[i] as Buffer, 0, (pieces[i] as Buffer).length);
      this.long = ok ? check : null;
      return;
    }
    if (!check.feed(latest, 0, latest.length)) this.long = null;
  }

  /** Every byte received and not yet split, as one buffer (emptied). */
  private held(): Buffer {
    const parts = this.pieces ?? [];
    if (this.buf !== undefined && this.pos < this.buf.length) parts.unshift(this.buf.subarray(this.pos));
    this.buf = undefined;
    this.pieces = undefined;
    this.piecesBytes = 0;
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  /**
   * Splits the complete events pushed so far. With `oneMessage`, stops after the first event that
   * reaches the parser and returns true if more bytes wait (so a caller can act on that event
   * before the rest is split, e.g. switch `forward` on).
   */
  split(oneMessage: boolean): boolean {
    const longFrame = this.longFrame;
    if (longFrame !== undefined) {
      this.longFrame = undefined;
      this.onFrames(longFrame.pieces, 1, longFrame.contentBytes);
      if (oneMessage) return this.buf !== undefined && this.pos < this.buf.length;
    }
    const buf = this.buf;
    if (buf === undefined) return false;
    let pos = this.pos;
    let runStart = -1;
    let runCount = 0;
    let runContent = 0;
    let view: DataView | undefined;
    this.dispatched = false;
    this.joined = 0;
    for (;;) {
      while (buf[pos] === LF) pos++; // blank lines between events dispatch nothing
      // The event ends at the first line end followed by another: one memchr per line.
      const firstLineEnd = buf.indexOf(LF, pos);
      let boundary = firstLineEnd;
      while (boundary >= 0 && boundary + 1 < buf.length && buf[boundary + 1] !== LF) boundary = buf.indexOf(LF, boundary + 1);
      if (boundary < 0 || boundary + 1 >= buf.length) break;
      const end = boundary + 2;
      const forward = this.forward;
      const dataLine = boundary === firstLineEnd && isDataLine(buf, pos);
      const content = forward !== undefined && dataLine ? forward(buf, (view ??= new DataView(buf.buffer, buf.byteOffset, buf.byteLength)), pos + DATA_PREFIX.length, boundary) : -1;
      if (content >= 0) {
        if (runStart < 0) runStart = pos;
        runCount++;
        runContent += content;
      } else {
        if (runStart >= 0) {
          this.onFrames(buf.subarray(runStart, pos), runCount, runContent);
          runStart = -1;
          runCount = 0;
          runContent = 0;
        }
        // A single-line data event is its line's value: eventsource-parser would hand on the same
        // message (no id, no event name), after decoding and scanning the line once more.
        if (dataLine) this.message(buf.toString('utf8', pos + DATA_PREFIX.length, boundary));
        else this.parser.feed(buf.toString('utf8', pos, end));
      }
      pos = end;
      if (oneMessage && this.dispatched) {
        this.pos = pos;
        return pos < buf.length;
      }
    }
    if (runStart >= 0) this.onFrames(buf.subarray(runStart, pos), runCount, runContent);
    this.buf = undefined;
    this.pos = 0;
    // A copy, so that a partial event does not pin the whole read's memory while the stream idles.
    if (pos < buf.length) this.hold(Buffer.from(buf.subarray(pos)));
    return false;
  }

  /** EOF. An incomplete event is not dispatched (WHATWG). */
  end(): void {
    if (this.decoder !== undefined) this.parser.feed(this.decoder.decode());
    this.buf = undefined;
    this.long = undefined;
    this.pieces = undefined;
    this.piecesBytes = 0;
  }
}

/** A line that starts `data: `: with a single line, the frame shape forwarded as bytes. */
function isDataLine(buf: Buffer, pos: number): boolean {
  for (let i = 0; i < DATA_PREFIX.length; i++) if (buf[pos + i] !== DATA_PREFIX[i]) return false;
  return true;
}

/**
 * An upstream SSE body as canonical events, one batch per network read, so that the writer can
 * send a read's worth of events in one write. Until `commit` a stream client's batches end at the
 * first event that may decide it (the pipeline decides event by event), then a read's worth per batch,
 * with OpenAI chunk frames forwarded as bytes if the sink takes them and the adapter vouches for them.
 */
export class SseEventStream<S> {
  private batch: StreamEvent[] = [];
  private readonly splitter: SseSplitter;
  /** Whether vouched OpenAI chunk frames go on as bytes: the sink takes them and the adapter vouches. */
  private readonly frames: boolean;

  constructor(
    private readonly response: BodySource,
    private readonly adapter: Adapter<S>,
    private readonly state: S,
    private eventByEvent = false,
    maxEventBytes = DEFAULT_MAX_EVENT_BYTES,
    takesFrames = false,
  ) {
    this.splitter = new SseSplitter(
      (message) => {
        if (message.data === '') return;
        const events = adapter.parseEvent(message, state);
        for (let i = 0; i < events.length; i++) this.batch.push(events[i] as StreamEvent);
      },
      (bytes, count, contentBytes) => this.batch.push({ type: 'frames', bytes, count, contentBytes } satisfies FramesEvent),
      maxEventBytes,
    );
    this.frames = takesFrames && adapter.frameContentBytes !== undefined;
    // Long frames as bytes from the start: one may be the first content, before the commit.
    this.splitter.longFrames = this.frames;
  }

  /** From here on a read's worth of events per batch, and (see `frames`) vouched frames as bytes. */
  commit(): void {
    this.eventByEvent = false;
    const { state } = this;
    const contentBytes = this.adapter.frameContentBytes;
    if (this.frames && contentBytes !== undefined) this.splitter.forward = (buf, view, from, to) => contentBytes(state, buf, view, from, to);
  }

  async *batches(): AsyncGenerator<StreamEvent[]> {
    const { response, splitter } = this;
    const reader = response.body[Symbol.asyncIterator]();
    for (;;) {
      const more = splitter.split(this.eventByEvent);
      // Before the commit, a chunk that does not decide it (a role-only first chunk) waits in the
      // batch while the next event is split: one hand-over to the pipeline, not one per event.
      const last = this.batch[this.batch.length - 1];
      if (more && this.eventByEvent && last !== undefined && !decidesCommit(last)) continue;
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
      // A multi-MB event is decoded, parsed and written in one go: let other clients' requests
      // in between its join and that, so no single turn of the loop does both.
      if (splitter.joined > YIELD_AFTER_BYTES) await new Promise(setImmediate);
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
