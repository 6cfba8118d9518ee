import type { SluiceError } from '../../core/errors.js';
import type { ChunkEvent, FramesEvent } from '../../core/events.js';
import type { ChunkSink, UsageTally } from '../../core/sink.js';
import type { ChatCompletionChunk } from '../../core/types.js';
import { contentCharsInText } from '../../observability/usage.js';
import { chunkText, chunkValue, FrameShape, mayHaveUsageOrFinish } from '../../streaming/inspect.js';
import { frame, type SseWriter } from '../../streaming/sse-writer.js';

export const DONE_EVENT = 'data: [DONE]\n\n';

/** A chat stream's in-stream error: one event the official SDKs throw on, then `[DONE]`. */
export function chatErrorEvent(error: SluiceError): string {
  return `data: ${JSON.stringify(error.toBody())}\n\n${DONE_EVENT}`;
}

/**
 * What a parsed chunk tells the access record and the end-of-stream check: generated characters,
 * the choices it finishes, the model that answered, the upstream's usage.
 */
export function tallyChunk(chunk: ChatCompletionChunk, finished: Set<number>, record: UsageTally): void {
  for (const choice of chunk.choices) {
    if (typeof choice.delta?.content === 'string') record.completionChars += choice.delta.content.length;
    if (!choice.finish_reason) continue;
    finished.add(choice.index);
    (record.finishReasons ??= []).push(choice.finish_reason);
    if (chunk.model) record.responseModel = chunk.model;
  }
  if (chunk.usage) record.usage = chunk.usage;
}

/**
 * Sink A for chat completions. Passthrough chunks go out as the upstream's own text; only a chunk
 * that may carry usage or a finish_reason is parsed. A read's worth of chunks is one write.
 */
export class ChatSseSink implements ChunkSink {
  private readonly finished = new Set<number>();
  private readonly frameShape = new FrameShape();

  constructor(
    private readonly writer: SseWriter,
    private readonly wantsUsage: boolean,
    private readonly record: UsageTally,
  ) {}

  get committed(): boolean {
    return this.writer.committed;
  }

  get finishedChoices(): number {
    return this.finished.size;
  }

  ping(): void {
    this.writer.ping();
  }

  write(events: Array<ChunkEvent | FramesEvent>): Promise<void> | undefined {
    let out = '';
    let drained: Promise<void> | undefined;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as ChunkEvent | FramesEvent;
      if (event.type === 'frames') {
        // Text before the frames goes first; the frames' write answers for backpressure.
        if (out !== '') this.writer.write(out);
        out = '';
        drained = this.writer.write(event.bytes);
        continue;
      }
      const text = this.forwardedText(event);
      if (text !== undefined) out += frame(text);
    }
    return out === '' ? drained : this.writer.write(out);
  }

  /**
   * Whether a passthrough frame can go out byte for byte: a plain chunk, with no error (which ends
   * the stream), no usage (which a client may not have asked for) and no finish_reason (counted
   * for the end-of-stream check).
   */
  readonly forwardsAsIs = (buf: Buffer, view: DataView, start: number, end: number): boolean => {
    const content = this.frameShape.contentBytes(buf, view, start, end);
    if (content < 0) return false;
    // Bytes, not characters: an estimate either way, used only if the upstream reports no usage.
    this.record.completionChars += content;
    return true;
  };

  end(): void {
    this.writer.end(DONE_EVENT);
  }

  fail(error: SluiceError): void {
    this.writer.end(chatErrorEvent(error));
  }

  /** The JSON text to send for a chunk, or undefined to drop it. */
  private forwardedText(event: ChunkEvent): string | undefined {
    const text = event.text;
    if (text !== undefined && event.chunk === undefined && !mayHaveUsageOrFinish(text)) {
      this.record.completionChars += contentCharsInText(text);
      return chunkText(event);
    }
    const chunk = chunkValue(event);
    tallyChunk(chunk, this.finished, this.record);
    if (chunk.usage) {
      if (!this.wantsUsage) {
        // Sluice asked for usage for its own accounting; a client that did not ask never sees it.
        if (chunk.choices.length === 0) return undefined;
        const { usage: _dropped, ...rest } = chunk;
        return JSON.stringify(rest);
      }
    }
    return chunkText(event);
  }
}
