import type { SluiceError } from './errors.js';
import type { ChunkEvent, FramesEvent } from './events.js';
import type { Usage } from './types.js';

/** What a sink tells the access record: the upstream's usage, else the generated characters seen. */
export interface UsageTally {
  usage?: Usage;
  /** Generated characters seen, for estimating usage when the upstream gave none. */
  completionChars: number;
  /** The model the upstream said answered (set where a chunk is parsed anyway; for tracing). */
  responseModel?: string;
  /** Finish reasons seen, by choice order of arrival (for tracing). */
  finishReasons?: string[];
}

/**
 * What a failure needs to know of a response under way: whether it has committed (sent its status
 * and maybe events, so an error can only be an in-stream event now) and how to end it with one.
 */
export interface Committable {
  readonly committed: boolean;
  /** Ends the stream with the front's in-stream error event. Only called once committed. */
  fail(error: SluiceError): void;
}

/** Where a committed chunk stream goes: a front's translation of canonical events into its SSE. */
export interface ChunkSink extends Committable {
  /** A keep-alive while the first token is awaited (sends the status if not yet sent: commits). */
  ping(): void;
  /** A batch of chunks; resolves when the client can take more (backpressure). */
  write(events: Array<ChunkEvent | FramesEvent>): Promise<void> | undefined;
  /**
   * True for a sink that takes OpenAI chunk frames as bytes (FramesEvent): the chunks a passthrough
   * adapter vouches for without parsing, to go out as received. Other sinks only get ChunkEvents.
   */
  readonly takesFrames?: boolean;
  /** How many choices got a finish_reason so far (an EOF is complete once all did). */
  readonly finishedChoices: number;
  end(): void;
}
