import type { ChatCompletionChunk } from '../core/types.js';
import type { ChunkEvent, StreamEvent } from '../core/events.js';

/**
 * The parsed chunk of an event. A chunk the stream's scanner vouched for (core/chunk-scan.ts) is
 * valid JSON, parsed here for a sink that needs the whole object.
 */
export function chunkValue(event: ChunkEvent): ChatCompletionChunk {
  return event.chunk ?? (JSON.parse(event.text) as ChatCompletionChunk);
}

/** The JSON text to write for an event: the upstream's own when it was not changed. */
export function chunkText(event: ChunkEvent): string {
  const text = event.text;
  // A multi-line data field (pretty-printed JSON) would break `data:` framing: re-serialise it.
  if (text !== undefined && text.indexOf('\n') < 0) return text;
  return JSON.stringify(chunkValue(event));
}

/** Whether an event carries something a client waits for (a vouched chunk: its content is not empty). */
export function isSubstantiveEvent(event: ChunkEvent): boolean {
  return event.chunk === undefined ? event.content !== '' : isSubstantive(event.chunk);
}

/**
 * Whether an event commits a stream (late commit: what comes before it is held): anything but a
 * chunk with nothing a client waits for.
 */
export function decidesCommit(event: StreamEvent): boolean {
  return event.type !== 'chunk' || isSubstantiveEvent(event);
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
