import { isJsonObject, tryParseJson } from '../../core/json.js';
import type { SseEvent, StreamEvent } from '../../core/events.js';
import type { ChatCompletionChunk, ChunkDelta, Usage } from '../../core/types.js';
import { upstreamInvalid } from '../../core/errors.js';
import { finishReasonOf, openaiUsage, type AnthropicUsage } from '../../core/anthropic-wire.js';
import { streamError } from './mapping.js';

/** What spans events of one Anthropic stream. */
export interface AnthropicStreamState {
  id: string;
  model: string;
  created: number;
  usage: AnthropicUsage;
  stopReason: unknown;
  /** content block index -> OpenAI tool_calls index (ordinal among tool_use blocks). */
  toolIndex: Map<number, number>;
}

export function initAnthropicStream(): AnthropicStreamState {
  return { id: '', model: '', created: 0, usage: {}, stopReason: null, toolIndex: new Map() };
}

function chunk(state: AnthropicStreamState, delta: ChunkDelta, finish: string | null = null): StreamEvent {
  const value: ChatCompletionChunk = {
    id: state.id,
    object: 'chat.completion.chunk',
    created: state.created,
    model: state.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
  return { type: 'chunk', chunk: value };
}

interface Payload {
  type?: string;
  index?: number;
  message?: { id?: string; model?: string; usage?: AnthropicUsage };
  content_block?: { type?: string; id?: string; name?: string; text?: string; thinking?: string };
  delta?: { type?: string; text?: string; partial_json?: string; thinking?: string; stop_reason?: unknown };
  usage?: AnthropicUsage;
}

/** One Anthropic SSE event -> canonical chunks. Usage is cumulative: it is overwritten, never added. */
export function parseAnthropicEvent(event: SseEvent, state: AnthropicStreamState): StreamEvent[] {
  const parsed = tryParseJson(event.data);
  if (!isJsonObject(parsed)) return [{ type: 'error', error: upstreamInvalid('an Anthropic stream event is not a JSON object') }];
  const payload = parsed as Payload;
  const type = event.event ?? payload.type;
  switch (type) {
    case 'message_start': {
      const message = payload.message ?? {};
      state.id = message.id ?? state.id;
      state.model = message.model ?? state.model;
      state.created = Math.floor(Date.now() / 1000);
      state.usage = { ...message.usage };
      return [chunk(state, { role: 'assistant', content: '' })];
    }
    case 'content_block_start': {
      const block = payload.content_block ?? {};
      if (block.type === 'tool_use') {
        const ordinal = state.toolIndex.size;
        state.toolIndex.set(payload.index ?? ordinal, ordinal);
        // The block's `input: {}` is a placeholder; the arguments come as input_json_delta.
        return [chunk(state, { tool_calls: [{ index: ordinal, id: block.id ?? '', type: 'function', function: { name: block.name ?? '', arguments: '' } }] })];
      }
      if (block.type === 'text' && block.text) return [chunk(state, { content: block.text })];
      if (block.type === 'thinking' && block.thinking) return [chunk(state, { reasoning_content: block.thinking })];
      return [];
    }
    case 'content_block_delta': {
      const delta = payload.delta ?? {};
      if (delta.type === 'text_delta' && delta.text) return [chunk(state, { content: delta.text })];
      if (delta.type === 'thinking_delta' && delta.thinking) return [chunk(state, { reasoning_content: delta.thinking })];
      if (delta.type === 'input_json_delta' && delta.partial_json) {
        const index = state.toolIndex.get(payload.index ?? -1) ?? 0;
        return [chunk(state, { tool_calls: [{ index, function: { arguments: delta.partial_json } }] })];
      }
      return []; // signature_delta, citations_delta: nothing OpenAI-shaped to say
    }
    case 'message_delta':
      if (payload.delta?.stop_reason !== undefined) state.stopReason = payload.delta.stop_reason;
      if (payload.usage) state.usage = { ...state.usage, ...stripNulls(payload.usage) };
      return [];
    case 'message_stop': {
      const usage: Usage = openaiUsage(state.usage);
      const usageChunk: ChatCompletionChunk = { id: state.id, object: 'chat.completion.chunk', created: state.created, model: state.model, choices: [], usage };
      return [chunk(state, {}, finishReasonOf(state.stopReason)), { type: 'chunk', chunk: usageChunk }, { type: 'done' }];
    }
    case 'error':
      return [{ type: 'error', error: streamError(payload) }];
    default:
      return []; // ping, content_block_stop, and event types added later
  }
}

function stripNulls(usage: AnthropicUsage): AnthropicUsage {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(usage)) if (typeof value === 'number') out[key] = value;
  return out as AnthropicUsage;
}
