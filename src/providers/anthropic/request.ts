import { isJsonObject, tryParseJson } from '../../core/json.js';
import type { ProviderConfig } from '../../config/schema.js';
import type { BuildContext, UpstreamRequest } from '../adapter.js';
import { requestHeaders } from '../headers.js';
import { imageUrlOf, parseDataUrl, textOf } from '../content.js';
import { badRequest } from '../../core/errors.js';
import type { ChatMessage, ChatRequest, ToolCall } from '../../core/types.js';
import { joinUrl } from '../../core/url.js';

type Block = Record<string, unknown>;
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

const THINKING_BUDGET: Record<string, number> = { minimal: 1024, low: 1024, medium: 4096, high: 16384 };

/** `x-api-key` and `anthropic-version` (a native client's own version over the configured one), as every Messages API request carries them. */
export function anthropicHeaders(provider: ProviderConfig, apiKey: string | undefined, passed?: Record<string, string>): Record<string, string> {
  return requestHeaders(provider, apiKey, 'x-api-key', '', { 'anthropic-version': provider.anthropic_version }, passed);
}

/** OpenAI chat request -> Anthropic Messages request. */
export function buildAnthropicRequest(request: ChatRequest, context: BuildContext): UpstreamRequest {
  const provider = context.provider;
  const body: Record<string, unknown> = { model: context.upstreamModel, stream: context.stream };
  const { system, messages } = translateMessages(request.messages);
  if (system.length > 0) body.system = system;
  body.messages = messages;
  let maxTokens = numberOr(request.max_completion_tokens, numberOr(request.max_tokens, provider.default_max_tokens));
  if (request.thinking !== undefined) body.thinking = request.thinking;
  else if (typeof request.reasoning_effort === 'string' && THINKING_BUDGET[request.reasoning_effort] !== undefined) {
    const budget = THINKING_BUDGET[request.reasoning_effort] as number;
    body.thinking = { type: 'enabled', budget_tokens: budget };
    // Anthropic requires max_tokens above the thinking budget.
    if (maxTokens <= budget) maxTokens = budget + provider.default_max_tokens;
  }
  body.max_tokens = maxTokens;
  if (request.stop !== undefined && request.stop !== null) body.stop_sequences = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (typeof request.temperature === 'number') body.temperature = request.temperature;
  if (typeof request.top_p === 'number') body.top_p = request.top_p;
  if (typeof request.user === 'string') body.metadata = { user_id: request.user };
  if (Array.isArray(request.tools) && request.tools.length > 0) body.tools = request.tools.map(translateTool);
  const toolChoice = translateToolChoice(request.tool_choice, request.parallel_tool_calls);
  if (toolChoice !== undefined) body.tool_choice = toolChoice;
  return { url: joinUrl(provider.base_url ?? '', '/messages'), method: 'POST', headers: anthropicHeaders(provider, context.apiKey), body: JSON.stringify(body) };
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && value > 0 ? value : fallback;
}

function translateTool(tool: unknown): Block {
  const fn = (tool as { function?: { name?: string; description?: string; parameters?: unknown } }).function;
  if (fn?.name === undefined) throw badRequest('Every tool needs type "function" and a function.name.', 'tools');
  const out: Block = { name: fn.name, input_schema: fn.parameters ?? { type: 'object', properties: {} } };
  if (fn.description !== undefined) out.description = fn.description;
  return out;
}

function translateToolChoice(choice: unknown, parallel: unknown): Block | undefined {
  let out: Block | undefined;
  if (choice === 'auto') out = { type: 'auto' };
  else if (choice === 'none') out = { type: 'none' };
  else if (choice === 'required') out = { type: 'any' };
  else if (choice !== null && typeof choice === 'object') {
    const name = (choice as { function?: { name?: string } }).function?.name;
    if (name !== undefined) out = { type: 'tool', name };
  }
  if (parallel === false) out = { ...(out ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return out;
}

/** Content parts -> Anthropic blocks: text, and images from data URLs (base64) or http(s) URLs. */
function contentBlocks(content: unknown): Block[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  const blocks: Block[] = [];
  for (const part of content) {
    if (part === null || typeof part !== 'object') continue;
    if (part.type === 'text' && typeof part.text === 'string') blocks.push({ type: 'text', text: part.text });
    else if (part.type === 'image_url') {
      const url = imageUrlOf(part);
      if (url === undefined) continue;
      const data = parseDataUrl(url);
      blocks.push({ type: 'image', source: data ? { type: 'base64', media_type: data.mediaType, data: data.data } : { type: 'url', url } });
    }
  }
  return blocks;
}

function parseArguments(text: string): unknown {
  const value = tryParseJson(text);
  return isJsonObject(value) ? value : {};
}

/** System/developer -> `system`; tool results -> user turns; same-role turns merged (Anthropic alternates). */
function translateMessages(input: ChatMessage[]): { system: Block[]; messages: AnthropicMessage[] } {
  const system: Block[] = [];
  const messages: AnthropicMessage[] = [];
  const push = (role: 'user' | 'assistant', blocks: Block[]): void => {
    if (blocks.length === 0) return;
    const last = messages.at(-1);
    if (last !== undefined && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (const message of input) {
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = textOf(message.content);
        if (text !== '') system.push({ type: 'text', text });
        break;
      }
      case 'assistant': {
        const blocks = contentBlocks(message.content);
        for (const call of (message.tool_calls ?? []) as ToolCall[]) {
          blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) });
        }
        push('assistant', blocks);
        break;
      }
      case 'tool':
        push('user', [{ type: 'tool_result', tool_use_id: message.tool_call_id ?? '', content: textOf(message.content) }]);
        break;
      default:
        push('user', contentBlocks(message.content));
    }
  }
  return { system, messages };
}
