import { SluiceError, upstreamInvalid } from '../../core/errors.js';
import type { ChunkSink, UsageTally } from '../../core/sink.js';
import type { ChunkEvent } from '../../core/events.js';
import { chunkValue } from '../../streaming/inspect.js';
import type { SseWriter } from '../../streaming/sse-writer.js';
import { reasoningText, type ChunkChoice, type Usage } from '../../core/types.js';
import { errorBody } from './errors.js';
import { messageId, messageUsage, stopOf, toolUseId, type AnswerOptions, type JsonRecord } from './message.js';

/** An Anthropic SSE event: the type on the `event:` line and in the JSON, as the API sends it. */
export function anthropicEvent(type: string, body: JsonRecord): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
}

const PING = anthropicEvent('ping', {});

/** Anthropic's in-stream `error` event: how a Messages stream (translated or native) ends on a failure. */
export function messagesErrorEvent(error: SluiceError): string {
  return anthropicEvent('error', { error: errorBody(error).error });
}

interface OpenBlock {
  kind: 'thinking' | 'text' | 'tool_use';
  index: number;
  /** The chat tool-call index, for a tool_use block. */
  toolIndex?: number;
}

/** A tool call whose name has not arrived yet: a block cannot start without one. */
interface PendingCall {
  id: string | undefined;
  args: string[];
}

/**
 * Sink for `/v1/messages` streams: canonical chat chunks -> Anthropic's event sequence.
 * `message_start`, then one content block at a time (`content_block_start`, deltas,
 * `content_block_stop`, indexes from 0), then `message_delta` with the stop reason and the whole
 * usage, and `message_stop`. Reasoning is a thinking block, text a text block, each tool call a
 * tool_use block. An error after the first byte is one `event: error`, then the stream ends.
 */
export class MessagesSink implements ChunkSink {
  private started = false;
  private finished = false;
  private nextIndex = 0;
  private open: OpenBlock | undefined;
  /** Chat tool-call indexes whose block is already closed. */
  private readonly closedTools = new Set<number>();
  private readonly pending = new Map<number, PendingCall>();
  private hasToolUse = false;
  private finishReason: string | null = null;
  private matchedStop: unknown;
  private usage: Usage | undefined;
  private chars = 0;
  private readonly id = messageId();

  constructor(
    private readonly writer: SseWriter,
    private readonly options: AnswerOptions,
    private readonly record: UsageTally,
  ) {}

  get committed(): boolean {
    return this.writer.committed;
  }

  get finishedChoices(): number {
    return this.finishReason === null ? 0 : 1;
  }

  /** Anthropic pings after message_start: once the status is out, the message has started too. */
  ping(): void {
    if (this.finished) return;
    void this.writer.write(this.start() + PING);
  }

  write(events: ChunkEvent[]): Promise<void> | undefined {
    let out = '';
    for (const event of events) {
      const chunk = chunkValue(event);
      if (chunk.usage) this.usage = chunk.usage;
      // message_start carries the usage known so far, so it waits for the batch's first chunk.
      out += this.start();
      for (const choice of chunk.choices) if (choice.index === 0) out += this.choice(choice);
    }
    return out === '' ? undefined : this.writer.write(out);
  }

  end(): void {
    if (this.finished) return;
    let out = this.start() + this.closeBlock() + this.flushPending();
    const usage = this.usage ?? this.options.estimate(this.chars);
    if (this.usage !== undefined) this.record.usage = this.usage;
    this.record.completionChars = this.chars;
    const stop = stopOf(this.finishReason, this.matchedStop, this.options.stopSequences, this.hasToolUse);
    out += anthropicEvent('message_delta', { delta: stop, usage: messageUsage(usage) });
    out += anthropicEvent('message_stop', {});
    this.finish(out);
  }

  fail(error: SluiceError): void {
    if (this.finished) return;
    // No content_block_stop or message_stop: Anthropic ends a failed stream with the error alone.
    this.finish(this.start() + messagesErrorEvent(error));
  }

  private start(): string {
    if (this.started) return '';
    this.started = true;
    const usage = messageUsage(this.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    const message = { id: this.id, type: 'message', role: 'assistant', model: this.options.model, content: [], stop_reason: null, stop_sequence: null, stop_details: null, usage };
    return anthropicEvent('message_start', { message });
  }

  private finish(out: string): void {
    this.finished = true;
    this.writer.end(out);
  }

  private choice(choice: ChunkChoice): string {
    let out = '';
    const delta = choice.delta ?? {};
    const reasoning = reasoningText(delta);
    if (reasoning !== '') {
      this.chars += reasoning.length;
      if (this.options.showThinking) out += this.blockDelta('thinking', { type: 'thinking_delta', thinking: reasoning });
    }
    if (typeof delta.content === 'string' && delta.content !== '') {
      this.chars += delta.content.length;
      out += this.blockDelta('text', { type: 'text_delta', text: delta.content });
    }
    for (const call of delta.tool_calls ?? []) out += this.toolCall(call.index, call.id, call.function?.name, call.function?.arguments);
    if (choice.finish_reason) {
      this.finishReason = choice.finish_reason;
      this.matchedStop = choice.stop_reason;
    }
    return out;
  }

  /** A delta for the open thinking or text block; another kind of block open is closed first. */
  private blockDelta(kind: 'thinking' | 'text', delta: JsonRecord): string {
    let out = '';
    if (this.open?.kind !== kind) {
      out += this.closeBlock();
      out += this.startBlock({ kind, index: this.nextIndex++ }, kind === 'thinking' ? { type: 'thinking', thinking: '', signature: '' } : { type: 'text', text: '' });
    }
    return out + anthropicEvent('content_block_delta', { index: (this.open as OpenBlock).index, delta });
  }

  private startBlock(block: OpenBlock, contentBlock: JsonRecord): string {
    this.open = block;
    return anthropicEvent('content_block_start', { index: block.index, content_block: contentBlock });
  }

  private closeBlock(): string {
    const open = this.open;
    if (open === undefined) return '';
    this.open = undefined;
    if (open.toolIndex !== undefined) this.closedTools.add(open.toolIndex);
    return anthropicEvent('content_block_stop', { index: open.index });
  }

  private toolCall(index: number, id: string | undefined, name: string | undefined, args: string | undefined): string {
    if (this.open?.kind === 'tool_use' && this.open.toolIndex === index) {
      this.chars += args?.length ?? 0;
      return args ? anthropicEvent('content_block_delta', { index: this.open.index, delta: { type: 'input_json_delta', partial_json: args } }) : '';
    }
    // Anthropic blocks run one after another: a closed block cannot take more arguments.
    if (this.closedTools.has(index)) throw upstreamInvalid(`tool call ${index} got more arguments after another content block began`);
    let pending = this.pending.get(index);
    if (pending === undefined) {
      pending = { id: undefined, args: [] };
      this.pending.set(index, pending);
    }
    if (id) pending.id ??= id;
    if (args) {
      this.chars += args.length;
      pending.args.push(args);
    }
    // A name that comes late: hold the arguments until it does.
    return name ? this.startTool(index, name) : '';
  }

  private startTool(index: number, name: string): string {
    const pending = this.pending.get(index) as PendingCall;
    this.pending.delete(index);
    this.hasToolUse = true;
    let out = this.closeBlock();
    out += this.startBlock({ kind: 'tool_use', index: this.nextIndex++, toolIndex: index }, { type: 'tool_use', id: pending.id ?? toolUseId(), name, input: {} });
    const held = pending.args.join('');
    if (held !== '') out += anthropicEvent('content_block_delta', { index: (this.open as OpenBlock).index, delta: { type: 'input_json_delta', partial_json: held } });
    return out;
  }

  /** Calls that never got a name are still calls: announced with an empty name rather than lost. */
  private flushPending(): string {
    let out = '';
    for (const index of [...this.pending.keys()]) out += this.startTool(index, '') + this.closeBlock();
    return out;
  }
}
