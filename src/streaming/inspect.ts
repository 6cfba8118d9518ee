import type { ChunkEvent } from '../providers/adapter.js';
import { upstreamInvalid } from '../errors.js';
import type { ChatCompletionChunk } from './types.js';

/**
 * Whether `text` (a JSON object) may carry `key` with a non-null value. A cheap scan that lets the
 * passthrough path skip JSON.parse for most chunks; a hit is confirmed by parsing. Inside a JSON
 * string every quote is escaped, so `"key"` followed by a colon can only be a real key (or a key
 * that ends in it, which the parse then rules out).
 */
export function mayHaveValue(text: string, quotedKey: string): boolean {
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

const QUOTE = 34;
const BACKSLASH = 92;
const COLON = 58;
const OPEN_BRACE = 123;
const NULL_START = 110; // n
const FINISH_REASON = Buffer.from('finish_reason');
const USAGE = Buffer.from('usage');
const ERROR = Buffer.from('error');
const CONTENT = Buffer.from('content');

/**
 * For a passthrough frame's undecoded JSON bytes (`buf` from `from` to `to`): the byte length of
 * its `content` strings, or -1 unless it is a plain chunk: a JSON object with no `error`, `usage`
 * or `finish_reason` key holding a non-null value (such a frame is parsed instead). One pass:
 * strings are skipped whole, so only a string followed by a colon is taken for a key.
 */
export function plainChunkContentBytes(buf: Buffer, from: number, to: number): number {
  if (buf[from] !== OPEN_BRACE) return -1;
  let content = 0;
  let i = from + 1;
  while (i < to) {
    if (buf[i] !== QUOTE) {
      i++;
      continue;
    }
    const start = i + 1;
    const end = stringEnd(buf, start, to);
    let k = skipSpaces(buf, end + 1, to);
    if (k >= to || buf[k] !== COLON) {
      i = end + 1;
      continue;
    }
    k = skipSpaces(buf, k + 1, to);
    if (k >= to) return -1;
    const value = buf[k];
    if (value !== NULL_START && (bytesEqual(buf, start, end, FINISH_REASON) || bytesEqual(buf, start, end, USAGE) || bytesEqual(buf, start, end, ERROR))) return -1;
    if (value === QUOTE && bytesEqual(buf, start, end, CONTENT)) {
      const valueEnd = stringEnd(buf, k + 1, to);
      content += valueEnd - k - 1;
      k = valueEnd + 1;
    }
    i = k;
  }
  return content;
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

function bytesEqual(buf: Buffer, start: number, end: number, word: Buffer): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (buf[start + i] !== word[i]) return false;
  return true;
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

/** A chunk that carries something a client waits for: text, tool calls, reasoning, a finish, usage. */
export function isSubstantive(chunk: ChatCompletionChunk): boolean {
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
