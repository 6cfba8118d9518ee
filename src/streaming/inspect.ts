import { upstreamInvalid } from '../core/errors.js';
import { contentCharsInText } from '../observability/usage.js';
import type { ChatCompletionChunk } from '../core/types.js';
import type { ChunkEvent } from '../core/events.js';

/**
 * Whether `text` (a JSON object) may carry `key` with a non-null value. A cheap scan that lets the
 * passthrough path skip JSON.parse for most chunks; a hit is confirmed by parsing. Inside a JSON
 * string every quote is escaped, so `"key"` followed by a colon can only be a real key (or a key
 * that ends in it, which the parse then rules out).
 */
function mayHaveValue(text: string, quotedKey: string): boolean {
  let from = 0;
  for (;;) {
    const at = text.indexOf(quotedKey, from);
    if (at < 0) return false;
    let i = at + quotedKey.length;
    while (isSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) === 58 /* : */) {
      i++;
      while (isSpace(text.charCodeAt(i))) i++;
      if (text.charCodeAt(i) !== 110 /* n(ull) */) return true;
    }
    from = at + 1;
  }
}

/**
 * Whether a chunk's text may carry a usage block or a finish_reason: the two values a passthrough
 * chunk must be parsed for (usage accounting, and the count of finished choices).
 */
export function mayHaveUsageOrFinish(text: string): boolean {
  return mayHaveValue(text, '"usage"') || mayHaveValue(text, '"finish_reason"');
}

const QUOTE = 34;
const BACKSLASH = 92;
const COLON = 58;
const OPEN_BRACE = 123;
const NULL_START = 110; // n

/** Keys whose non-null value sends a frame to be parsed, as they appear on the wire. */
const PARSE_KEYS = ['"finish_reason"', '"usage"', '"error"'].map((key) => Buffer.from(key));
const CONTENT_KEY = Buffer.from('"content"');
const KEYS = [...PARSE_KEYS, CONTENT_KEY];
/** The search window: the shortest key's length. */
const WINDOW = Math.min(...KEYS.map((key) => key.length));
/** Horspool's shift for the byte at the window's end (over every key's first WINDOW bytes). */
const SHIFT = new Uint8Array(256).fill(WINDOW);
/** For the byte at the window's end, the keys that end their first WINDOW bytes with it. */
const CANDIDATES: Buffer[][] = Array.from({ length: 256 }, () => []);
for (const key of KEYS) {
  for (let j = 0; j < WINDOW - 1; j++) SHIFT[key[j] as number] = Math.min(SHIFT[key[j] as number] as number, WINDOW - 1 - j);
  (CANDIDATES[key[WINDOW - 1] as number] as Buffer[]).push(key);
}

/**
 * For a passthrough frame's undecoded JSON bytes (`buf` from `from` to `to`): the byte length of
 * its `content` strings, or -1 unless it is a plain chunk: a JSON object with no `error`, `usage`
 * or `finish_reason` key holding a non-null value (such a frame is parsed instead).
 *
 * A key is found as its quoted name followed by a colon: inside a JSON string every quote is
 * escaped, so that can only be a key (or a key ending in an escaped quote and the name, which at
 * worst sends the frame to be parsed). That makes it a substring search, done Horspool's way:
 * the window jumps by up to its length, so about one byte in five is looked at on OpenAI-shaped
 * chunks (1.4-2.3x faster than the token walk that read every byte, on 180- and 320-byte chunks).
 */
export function plainChunkContentBytes(buf: Buffer, from: number, to: number, span?: ContentSpan): number {
  if (buf[from] !== OPEN_BRACE) return -1;
  if (span !== undefined) span.strings = 0;
  let content = 0;
  let i = from + WINDOW - 1;
  while (i < to) {
    const last = buf[i] as number;
    const candidates = CANDIDATES[last] as Buffer[];
    const key = candidates.length === 0 ? undefined : keyAt(buf, i - WINDOW + 1, to, candidates);
    const colon = key === undefined ? to : skipSpaces(buf, i - WINDOW + 1 + key.length, to);
    if (colon >= to || buf[colon] !== COLON) {
      i += SHIFT[last] as number;
      continue;
    }
    const value = skipSpaces(buf, colon + 1, to);
    if (value >= to) return -1;
    if (key !== CONTENT_KEY) {
      if (buf[value] !== NULL_START) return -1;
      i = value + WINDOW - 1;
    } else if (buf[value] === QUOTE) {
      const valueEnd = stringEnd(buf, value + 1, to);
      content += valueEnd - value - 1;
      if (span !== undefined) {
        span.strings++;
        span.start = value + 1;
        span.end = valueEnd;
      }
      i = valueEnd + WINDOW;
    } else {
      i = value + WINDOW - 1;
    }
  }
  return content;
}

/** Where plainChunkContentBytes found `content` strings: how many, and the last one's bytes, quotes excluded. */
interface ContentSpan {
  strings: number;
  start: number;
  end: number;
}

/** Consecutive misses after which a stream's frames are taken not to repeat a shape. */
const SHAPE_MISSES = 3;

/**
 * plainChunkContentBytes for a stream's frames, one after another. Most upstreams write every
 * token's frame alike but for its one `content` string; a frame with the same bytes around that
 * string is plain too (the same keys and values, another text). So the last plain frame with one
 * content string is kept, and a frame is first compared with it, four bytes at a time: less than
 * half the key search's cost on OpenAI-shaped frames (in the throughput benchmark's profile, 0.64
 * -> 0.23 µs per frame). A stream whose frames also vary elsewhere (OpenAI's per-chunk
 * `obfuscation` padding, say) stops trying after a few misses.
 */
export class FrameShape {
  /** The kept frame's bytes before its content string (the opening quote included), then those after it. */
  private shape: DataView | undefined;
  /** How many of the kept bytes come before the content string. */
  private head = 0;
  private misses = 0;
  private readonly span: ContentSpan = { strings: 0, start: 0, end: 0 };

  /** For the frame `buf` from `from` to `to` (`view`: a DataView over the same bytes as `buf`): as plainChunkContentBytes. */
  contentBytes(buf: Buffer, view: DataView, from: number, to: number): number {
    const shape = this.shape;
    if (shape !== undefined) {
      const head = this.head;
      const tail = shape.byteLength - head;
      if (to - from >= head + tail && sameBytes(view, from, shape, 0, head)) {
        const end = stringEnd(buf, from + head, to);
        if (to - end === tail && sameBytes(view, end, shape, head, tail)) {
          this.misses = 0;
          return end - from - head;
        }
      }
      if (++this.misses === SHAPE_MISSES) this.shape = undefined;
    }
    const span = this.span;
    const content = plainChunkContentBytes(buf, from, to, span);
    if (content >= 0 && span.strings === 1 && this.misses < SHAPE_MISSES) this.keep(buf, from, to, span);
    return content;
  }

  /** Keeps the frame's bytes around its content string, not the string: a long text is not held. */
  private keep(buf: Buffer, from: number, to: number, span: ContentSpan): void {
    const head = span.start - from;
    const bytes = new Uint8Array(head + to - span.end);
    bytes.set(buf.subarray(from, span.start));
    bytes.set(buf.subarray(span.end, to), head);
    this.shape = new DataView(bytes.buffer);
    this.head = head;
  }
}

/** Whether `n` bytes of `view` from `at` equal those of `other` from `otherAt`. */
function sameBytes(view: DataView, at: number, other: DataView, otherAt: number, n: number): boolean {
  let i = 0;
  for (; i + 4 <= n; i += 4) if (view.getUint32(at + i) !== other.getUint32(otherAt + i)) return false;
  for (; i < n; i++) if (view.getUint8(at + i) !== other.getUint8(otherAt + i)) return false;
  return true;
}

/** The key among `keys` that starts at `start`, if any. */
function keyAt(buf: Buffer, start: number, to: number, keys: Buffer[]): Buffer | undefined {
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k] as Buffer;
    if (start + key.length > to) continue;
    let j = 0;
    while (j < key.length && buf[start + j] === key[j]) j++;
    if (j === key.length) return key;
  }
  return undefined;
}

/** The index of the quote that closes the string starting at `from` (or `to` if none does). */
function stringEnd(buf: Buffer, from: number, to: number): number {
  let j = from;
  while (j < to) {
    const c = buf[j];
    if (c === QUOTE) return j;
    j += c === BACKSLASH ? 2 : 1;
  }
  return to;
}

function skipSpaces(buf: Buffer, from: number, to: number): number {
  let j = from;
  while (j < to && isSpace(buf[j] as number)) j++;
  return j;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** The parsed chunk of an event, parsing passthrough text once and caching it on the event. */
export function chunkValue(event: ChunkEvent): ChatCompletionChunk {
  if (event.chunk !== undefined) return event.chunk;
  let value: unknown;
  try {
    value = JSON.parse(event.text);
  } catch {
    throw upstreamInvalid('a stream event is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || !Array.isArray((value as { choices?: unknown }).choices)) {
    throw upstreamInvalid('a stream event is not a chat.completion.chunk');
  }
  const chunk = value as ChatCompletionChunk;
  (event as { chunk?: ChatCompletionChunk }).chunk = chunk;
  return chunk;
}

/** The JSON text to write for an event: the upstream's own when it was not changed. */
export function chunkText(event: ChunkEvent): string {
  const text = event.text;
  // A multi-line data field (pretty-printed JSON) would break `data:` framing: re-serialise it.
  if (text !== undefined && text.indexOf('\n') < 0) return text;
  return JSON.stringify(chunkValue(event));
}

/**
 * isSubstantive for an event, without parsing a passthrough chunk whose text plainly carries a
 * non-empty `content` string (most of them; a parse costs ~1.6 µs hot, ~8 in situ) or is a bare
 * role chunk (the first of most streams).
 */
export function isSubstantiveEvent(event: ChunkEvent): boolean {
  const text = event.text;
  if (event.chunk === undefined && text !== undefined) {
    if (contentCharsInText(text) > 0) return true;
    if (isBareRoleChunk(text)) return false;
  }
  return isSubstantive(chunkValue(event));
}

/** A role chunk's one delta as OpenAI-compatible servers write it, with nothing a client waits for. */
const BARE_ROLE_DELTAS = ['"delta":{"role":"assistant","content":""}', '"delta":{"role":"assistant"}', '"delta":{"role":"assistant","content":null}', '"delta":{"role":"assistant","content":"","refusal":null}'];
const DELTA_KEY = '"delta":';

/**
 * A chunk whose only delta is one of BARE_ROLE_DELTAS and with no finish_reason or usage value.
 * As in mayHaveValue, `"delta":` can only be a key: a second one, or any other delta, is left to
 * the parse.
 */
function isBareRoleChunk(text: string): boolean {
  const at = text.indexOf(DELTA_KEY);
  if (at < 0 || text.indexOf(DELTA_KEY, at + DELTA_KEY.length) >= 0) return false;
  return BARE_ROLE_DELTAS.some((delta) => text.startsWith(delta, at)) && !mayHaveUsageOrFinish(text);
}

/** A chunk that carries something a client waits for: text, tool calls, reasoning, a finish, usage. */
function isSubstantive(chunk: ChatCompletionChunk): boolean {
  if (chunk.usage) return true;
  for (const choice of chunk.choices) {
    if (choice.finish_reason) return true;
    const delta = choice.delta;
    if (delta === null || typeof delta !== 'object') continue;
    for (const key in delta) {
      if (key === 'role') continue;
      const value = delta[key];
      if (value === null || value === undefined || value === '') continue;
      if (Array.isArray(value) && value.length === 0) continue;
      return true;
    }
  }
  return false;
}
