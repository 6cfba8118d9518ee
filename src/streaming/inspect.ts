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
const FINISH_REASON = Buffer.from('finish_reason');
const USAGE = Buffer.from('usage');
const CONTENT = Buffer.from('content');

/**
 * For a passthrough frame's undecoded JSON bytes: the byte length of its `content` strings, or -1
 * when it has a `usage` or `finish_reason` key with a non-null value (such a chunk is parsed).
 * One pass: strings are skipped whole, so only a string followed by a colon is taken for a key.
 */
export function plainChunkContentBytes(json: Buffer): number {
  const n = json.length;
  let content = 0;
  let i = 0;
  while (i < n) {
    if (json[i] !== QUOTE) {
      i++;
      continue;
    }
    const start = i + 1;
    const end = stringEnd(json, start);
    let k = end + 1;
    while (isSpace(json[k] as number)) k++;
    if (json[k] !== COLON) {
      i = end + 1;
      continue;
    }
    k++;
    while (isSpace(json[k] as number)) k++;
    if (json[k] !== 110 /* n(ull) */ && (bytesEqual(json, start, end, FINISH_REASON) || bytesEqual(json, start, end, USAGE))) return -1;
    if (json[k] === QUOTE && bytesEqual(json, start, end, CONTENT)) {
      const valueEnd = stringEnd(json, k + 1);
      content += valueEnd - k - 1;
      k = valueEnd + 1;
    }
    i = k;
  }
  return content;
}

/** The index of the quote that closes the string starting at `from` (or the length if none does). */
function stringEnd(json: Buffer, from: number): number {
  let j = from;
  while (j < json.length) {
    const c = json[j];
    if (c === QUOTE) return j;
    j += c === BACKSLASH ? 2 : 1;
  }
  return json.length;
}

function bytesEqual(json: Buffer, start: number, end: number, word: Buffer): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (json[start + i] !== word[i]) return false;
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
