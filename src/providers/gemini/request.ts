import { isJsonObject, tryParseJson } from '../../core/json.js';
import type { ProviderConfig } from '../../config/schema.js';
import type { BuildContext, UpstreamRequest } from '../adapter.js';
import { requestHeaders } from '../headers.js';
import { imageUrlOf, parseDataUrl, textOf } from '../content.js';
import type { ChatMessage, ChatRequest, ToolCall } from '../../core/types.js';
import { joinUrl } from '../../core/url.js';

type Part = Record<string, unknown>;
interface Content {
  role: 'user' | 'model';
  parts: Part[];
}

const THINKING_BUDGET: Record<string, number> = { minimal: 512, low: 1024, medium: 8192, high: 24576 };

export function geminiHeaders(provider: ProviderConfig, apiKey: string | undefined, passed?: Record<string, string>): Record<string, string> {
  return requestHeaders(provider, apiKey, 'x-goog-api-key', '', undefined, passed);
}

/** OpenAI chat request -> Gemini generateContent / streamGenerateContent?alt=sse. */
export function buildGeminiRequest(request: ChatRequest, context: BuildContext): UpstreamRequest {
  const provider = context.provider;
  const model = encodeURIComponent(context.upstreamModel);
  const path = context.stream ? `/models/${model}:streamGenerateContent?alt=sse` : `/models/${model}:generateContent`;
  const { system, contents } = translateMessages(request.messages);
  const body: Record<string, unknown> = { contents };
  if (system.length > 0) body.systemInstruction = { parts: system };
  if (Array.isArray(request.tools) && request.tools.length > 0) {
    body.tools = [{ functionDeclarations: request.tools.map(functionDeclaration) }];
  }
  const toolConfig = translateToolChoice(request.tool_choice);
  if (toolConfig !== undefined) body.toolConfig = toolConfig;
  const generationConfig = generationConfigOf(request);
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  return { url: joinUrl(provider.base_url ?? '', path), method: 'POST', headers: geminiHeaders(provider, context.apiKey), body: JSON.stringify(body) };
}

function generationConfigOf(request: ChatRequest): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  if (typeof request.temperature === 'number') config.temperature = request.temperature;
  if (typeof request.top_p === 'number') config.topP = request.top_p;
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (typeof maxTokens === 'number') config.maxOutputTokens = maxTokens;
  if (request.stop !== undefined && request.stop !== null) config.stopSequences = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (typeof request.n === 'number' && request.n > 1) config.candidateCount = request.n;
  const format = request.response_format as { type?: string; json_schema?: { schema?: unknown } } | undefined;
  if (format?.type === 'json_object') config.responseMimeType = 'application/json';
  else if (format?.type === 'json_schema') {
    config.responseMimeType = 'application/json';
    if (format.json_schema?.schema !== undefined) config.responseJsonSchema = format.json_schema.schema;
  }
  if (typeof request.reasoning_effort === 'string' && THINKING_BUDGET[request.reasoning_effort] !== undefined) {
    config.thinkingConfig = { thinkingBudget: THINKING_BUDGET[request.reasoning_effort], includeThoughts: true };
  }
  return config;
}

function functionDeclaration(tool: unknown): Part {
  const fn = (tool as { function?: { name?: string; description?: string; parameters?: unknown } }).function ?? {};
  const out: Part = { name: fn.name ?? '' };
  if (fn.description !== undefined) out.description = fn.description;
  // parametersJsonSchema takes full JSON Schema; `parameters` rejects keys such as additionalProperties.
  if (fn.parameters !== undefined) out.parametersJsonSchema = fn.parameters;
  return out;
}

function translateToolChoice(choice: unknown): Part | undefined {
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  const name = (choice as { function?: { name?: string } } | null)?.function?.name;
  return name === undefined ? undefined : { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [name] } };
}

function contentParts(content: unknown): Part[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) return [];
  const parts: Part[] = [];
  for (const part of content) {
    if (part === null || typeof part !== 'object') continue;
    if (part.type === 'text' && typeof part.text === 'string') parts.push({ text: part.text });
    else if (part.type === 'image_url') {
      const url = imageUrlOf(part);
      if (url === undefined) continue;
      const data = parseDataUrl(url);
      parts.push(data ? { inlineData: { mimeType: data.mediaType, data: data.data } } : { fileData: { fileUri: url, mimeType: mimeFromUrl(url) } });
    }
  }
  return parts;
}

function mimeFromUrl(url: string): string {
  const ext = url.split('?')[0]?.split('.').pop()?.toLowerCase();
  return ext === 'png' ? 'image/png' : ext === 'webp' ? 'image/webp' : ext === 'gif' ? 'image/gif' : 'image/jpeg';
}

function parseArgs(text: string): unknown {
  const value = tryParseJson(text);
  return value !== null && typeof value === 'object' ? value : {};
}

/** A tool result: its JSON object as is, anything else wrapped as `{content}`. */
function toolResponse(content: unknown): unknown {
  const text = textOf(content);
  const value = tryParseJson(text);
  return isJsonObject(value) ? value : { content: text };
}

function translateMessages(input: ChatMessage[]): { system: Part[]; contents: Content[] } {
  const system: Part[] = [];
  const contents: Content[] = [];
  const toolNames = new Map<string, string>();
  const push = (role: 'user' | 'model', parts: Part[]): void => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last !== undefined && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  for (const message of input) {
    if (message.role === 'system' || message.role === 'developer') {
      const text = textOf(message.content);
      if (text !== '') system.push({ text });
    } else if (message.role === 'assistant') {
      const parts = contentParts(message.content);
      for (const call of (message.tool_calls ?? []) as ToolCall[]) {
        toolNames.set(call.id, call.function.name);
        parts.push({ functionCall: { name: call.function.name, args: parseArgs(call.function.arguments) } });
      }
      push('model', parts);
    } else if (message.role === 'tool') {
      const name = toolNames.get(message.tool_call_id ?? '') ?? message.name ?? 'tool';
      push('user', [{ functionResponse: { name, response: toolResponse(message.content) } }]);
    } else push('user', contentParts(message.content));
  }
  return { system, contents };
}
