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
 * A canonical chunk: parsed (`chunk`, with the upstream's own JSON `text` when a passthrough adapter
 * read it, to forward as is), or, for a passthrough chunk the stream's scanner vouched for
 * (core/chunk-scan.ts), not parsed: its `text`, its `content` and the choice `index`.
 */
export type ChunkEvent =
  | { type: 'chunk'; chunk: ChatCompletionChunk; text?: string; content?: undefined }
  | { type: 'chunk'; chunk?: undefined; text: string; content: string; index: number };

/**
 * OpenAI chunks that go to a chat stream client exactly as the upstream framed them
 * (`data: {...}\n\n` each), undecoded. Only produced once the pipeline asks for them.
 */
export interface FramesEvent {
  type: 'frames';
  /** One read's run of frames, or the reads of one long frame. */
  bytes: Buffer | readonly Buffer[];
  count: number;
  /** The bytes of the frames' content strings (escapes as written): an estimate of the text generated. */
  contentBytes: number;
}

export type StreamEvent = ChunkEvent | FramesEvent | { type: 'error'; error: SluiceError } | { type: 'done' };
