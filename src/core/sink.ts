import type { SluiceError } from './errors.js';
import type { ChunkEvent, FramesEvent } from './events.js';

/**
 * Decides, from a single-line `data: ` frame's JSON bytes (`buf` from `start` to `end`; `view` is a
 * DataView over the same bytes as `buf`), whether it goes to the client as received. Offsets
 * rather than a subarray, and one view per read: no allocation per frame.
 */
export type ForwardFrame = (buf: Buffer, view: DataView, start: number, end: number) => boolean;

/** Where a committed chunk stream goes: the chat SSE writer, or another API's translator. */
export interface ChunkSink {
  readonly headersSent: boolean;
  /** A keep-alive while the first token is awaited (sends the status if not yet sent). */
  ping(): void;
  /** A batch of chunks; resolves when the client can take more (backpressure). */
  write(events: Array<ChunkEvent | FramesEvent>): Promise<void> | undefined;
  /**
   * Set by a sink that takes OpenAI chunk frames as bytes (FramesEvent): whether one may go out as
   * received. Sinks without it only ever get ChunkEvents.
   */
  readonly forwardsAsIs?: ForwardFrame;
  /** How many choices got a finish_reason so far (an EOF is complete once all did). */
  readonly finishedChoices: number;
  end(): void;
  fail(error: SluiceError): void;
}
