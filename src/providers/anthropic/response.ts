import { upstreamInvalid } from '../../core/errors.js';
import type { AssistantMessage, ChatCompletion, ToolCall } from '../../core/types.js';
import { finishReasonOf, openaiUsage, type AnthropicUsage } from '../../core/anthropic-wire.js';

interface AnthropicMessageBody {
  id?: string;
  model?: string;
  content?: Array<{ type?: string; text?: string; thinking?: string; id?: string; name?: string; input?: unknown }>;
  stop_reason?: unknown;
  usage?: AnthropicUsage;
}

/** A whole Anthropic message -> chat.completion. */
export function parseAnthropicResponse(body: unknown): ChatCompletion {
  if (body === null || typeof body !== 'object' || !Array.isArray((body as AnthropicMessageBody).content)) {
    throw upstreamInvalid('the Anthropic message has no content array');
  }
  const message = body as AnthropicMessageBody;
  const text: string[] = [];
  const thinking: string[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of message.content ?? []) {
    if (block.type === 'text' && typeof block.text === 'string') text.push(block.text);
    else if (block.type === 'thinking' && typeof block.thinking === 'string') thinking.push(block.thinking);
    else if (block.type === 'tool_use') toolCalls.push({ id: block.id ?? '', type: 'function', function: { name: block.name ?? '', arguments: JSON.stringify(block.input ?? {}) } });
  }
  const assistant: AssistantMessage = { role: 'assistant', content: text.length > 0 ? text.join('') : null, refusal: null };
  if (thinking.length > 0) assistant.reasoning_content = thinking.join('');
  if (toolCalls.length > 0) assistant.tool_calls = toolCalls;
  return {
    id: message.id ?? '',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: message.model ?? '',
    choices: [{ index: 0, message: assistant, logprobs: null, finish_reason: finishReasonOf(message.stop_reason) }],
    usage: openaiUsage(message.usage ?? {}),
  };
}
