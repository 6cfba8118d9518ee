import type { SluiceError } from '../../core/errors.js';
import type { ChunkEvent, FramesEvent } from '../../core/events.js';
import type { ChunkSink, UsageTally } from '../../core/sink.js';
import type { ChatCompletionChunk } from '../../core/types.js';
import { chunkText } from '../../streaming/inspect.js';
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
 * What every stream of OpenAI chat-style chunks shares (chat completions, legacy completions): the
 * finished choices, pings, `[DONE]` at the end and the chat error event on failure.
 */
export abstract class ChatStyleSseSink implements ChunkSink {
  protected readonly finished = new Set<number>();

  constructor(
    protected readonly writer: SseWriter,
    protected readonly wantsUsage: boolean,
    protected readonly record: UsageTally,
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

  abstract write(events: Array<ChunkEvent | FramesEvent>): Promise<void> | undefined;

  end(): void {
    this.writer.end(DONE_EVENT);
  }

  fail(error: SluiceError): void {
    this.writer.end(chatErrorEvent(error));
  }
}

/**
 * Sink A for chat completions. Passthrough chunks go out as the upstream's own text, and the
 * frames the adapter vouched for as its own bytes. A read's worth of chunks is one write.
 */
export class ChatSseSink extends ChatStyleSseSink {
  readonly takesFrames = true;

  write(events: Array<ChunkEvent | FramesEvent>): Promise<void> | undefined {
    let out = '';
    let drained: Promise<void> | undefined;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as ChunkEvent | FramesEvent;
      if (event.type === 'frames') {
        // Text before the frames goes first; the frames' write answers for backpressure.
        if (out !== '') this.writer.write(out);
        out = '';
        // Bytes, not characters: an estimate either way, used only if the upstream reports no usage.
        this.record.completionChars += event.contentBytes;
        drained = this.writer.write(event.bytes);
        continue;
      }
      const text = this.forwardedText(event);
      if (text !== undefined) out += frame(text);
    }
    return out === '' ? drained : this.writer.write(out);
  }

  /** The JSON text to send for a chunk, or undefined to drop it. */
  private forwardedText(event: ChunkEvent): string | undefined {
    const chunk = event.chunk;
    if (chunk === undefined) {
      // Vouched for by the stream's scanner: a plain content chunk.
      this.record.completionChars += event.content.length;
      return chunkText(event);
    }
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
