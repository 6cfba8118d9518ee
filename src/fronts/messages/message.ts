import { randomBytes } from 'node:crypto';
import { anthropicUsage, stopReasonOf, type StopReason } from '../../core/anthropic-wire.js';
import { tryParseJson, isJsonObject } from '../../core/json.js';
import { reasoningText, type ChatCompletion, type Usage } from '../../core/types.js';

export type JsonRecord = Record<string, unknown>;

/** What shapes an answer besides the upstream's output: set once per request by the front. */
export interface AnswerOptions {
  /** The model the client asked for: Anthropic echoes it, and Claude Code checks it. */
  model: string;
  /** `thinking.display: omitted` asks for no reasoning text; then no thinking block is sent. */
  showThinking: boolean;
  /** The request's stop_sequences, to tell a matched stop sequence from a natural end. */
  stopSequences: readonly string[];
  /** Usage for an upstream that reported none, from the characters generated (as the access log estimates it). */
  estimate(completionChars: number): Usage;
}

export function messageId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

export function toolUseId(): string {
  return `toolu_${randomBytes(12).toString('hex')}`;
}

/** The Anthropic usage object for a message, from chat usage. */
export function messageUsage(usage: Usage): JsonRecord {
  return anthropicUsage(usage);
}

/**
 * finish_reason -> stop_reason and stop_sequence. An upstream that names the stop string it hit
 * (vLLM's `stop_reason` on the choice) gives `stop_sequence`; otherwise a stop is `end_turn`, as
 * chat completions do not say whether a stop sequence or the model ended the turn.
 */
export function stopOf(finishReason: string | null, matched: unknown, stopSequences: readonly string[], hasToolUse: boolean): { stop_reason: StopReason; stop_sequence: string | null; stop_details: null } {
  if (finishReason === 'stop' && typeof matched === 'string' && stopSequences.includes(matched)) return { stop_reason: 'stop_sequence', stop_sequence: matched, stop_details: null };
  // An upstream that called tools but gave no finish_reason (or `stop`) still asked for tool results.
  if (hasToolUse && (finishReason === null || finishReason === 'stop')) return { stop_reason: 'tool_use', stop_sequence: null, stop_details: null };
  return { stop_reason: stopReasonOf(finishReason), stop_sequence: null, stop_details: null };
}

/** A tool call's arguments as the `input` object Anthropic sends (`{}` when empty or not an object). */
export function toolInput(args: string): JsonRecord {
  const value = args === '' ? {} : tryParseJson(args);
  return isJsonObject(value) ? value : {};
}

/** A whole chat completion (choice 0) -> an Anthropic `message`, blocks in the order a stream sends them. */
export function completionToMessage(completion: ChatCompletion, options: AnswerOptions): JsonRecord {
  const choice = completion.choices[0];
  const content: JsonRecord[] = [];
  let chars = 0;
  if (choice !== undefined) {
    const message = choice.message;
    const reasoning = reasoningText(message);
    chars += reasoning.length;
    if (reasoning !== '' && options.showThinking) content.push({ type: 'thinking', thinking: reasoning, signature: '' });
    if (typeof message.content === 'string' && message.content !== '') {
      chars += message.content.length;
      content.push({ type: 'text', text: message.content });
    }
    for (const call of message.tool_calls ?? []) {
      chars += call.function.arguments.length;
      content.push({ type: 'tool_use', id: call.id || toolUseId(), name: call.function.name, input: toolInput(call.function.arguments) });
    }
  }
  const hasToolUse = content.some((b) => b.type === 'tool_use');
  const stop = stopOf(choice?.finish_reason ?? null, choice?.stop_reason, options.stopSequences, hasToolUse);
  return {
    id: messageId(),
    type: 'message',
    role: 'assistant',
    model: options.model,
    content,
    ...stop,
    usage: messageUsage(completion.usage ?? options.estimate(chars)),
  };
}
