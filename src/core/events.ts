import type { SluiceError } from './errors.js';
import type { ChatCompletionChunk } from './types.js';

// The canonical stream events: adapters produce them, the pipeline pumps them, sinks consume them.

/** One Server-Sent Event as eventsource-parser hands it over. */
export interface SseEvent {
  event?: string | undefined;
  data: string;
  id?: string | undefined;
}

/**
 * A canonical chunk. Passthrough adapters set `text` (the upstream's JSON, forwarded untouched and
 * parsed only when inspected); translating adapters set `chunk`.
 */
export type ChunkEvent =
  | { type: 'chunk'; chunk: ChatCompletionChunk; text?: undefined }
  | { type: 'chunk'; text: string; chunk?: undefined };

/**
 * OpenAI chunks that go to a chat stream client exactly as the upstream framed them
 * (`data: {...}\n\n` each), undecoded. Only produced once the pipeline asks for them.
 */
export interface FramesEvent {
  type: 'frames';
  bytes: Buffer;
  count: number;
}

export type StreamEvent = ChunkEvent | FramesEvent | { type: 'error'; error: SluiceError } | { type: 'done' };
