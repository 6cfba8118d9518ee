import { z } from 'zod';
import { badRequest } from '../../core/errors.js';
import type { ChatMessage, ChatRequest, ToolCall } from '../../core/types.js';
import { issueError } from '../../core/zod-path.js';

const item = z.looseObject({ type: z.string().optional(), role: z.string().optional() });

export const responsesRequestSchema = z.looseObject({
  model: z.string({ error: 'is required and must be a string' }).min(1, 'must not be empty'),
  input: z.union([z.string(), z.array(item)], { error: 'is required: a string or a list of input items' }),
  instructions: z.string().nullish(),
  tools: z.array(z.looseObject({ type: z.string() })).nullish(),
  tool_choice: z.union([z.enum(['auto', 'none', 'required']), z.looseObject({ type: z.string(), name: z.string().optional() })]).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  max_output_tokens: z.number().int().positive().nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  reasoning: z.looseObject({ effort: z.string().nullish(), summary: z.string().nullish() }).nullish(),
  text: z.looseObject({ format: z.looseObject({ type: z.string() }).optional() }).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  store: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  user: z.string().nullish(),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

/** Features that need server-side state; Sluice keeps none. */
const STATEFUL = ['previous_response_id', 'conversation', 'prompt'] as const;

/** A Responses API request -> the chat request the pipeline runs (and the original, for echo fields). */
export function parseResponsesRequest(body: unknown): { chat: ChatRequest; original: ResponsesRequest } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object with "model" and "input".');
  const record = body as Record<string, unknown>;
  for (const field of STATEFUL) {
    if (record[field] !== undefined && record[field] !== null) {
      throw badRequest(`'${field}' needs stored responses, and Sluice is stateless: send the whole conversation in 'input' instead.`, field, 'unsupported_parameter');
    }
  }
  if (record.background === true) throw badRequest("'background' responses need a store, and Sluice is stateless; leave it out.", 'background', 'unsupported_parameter');
  const result = responsesRequestSchema.safeParse(body);
  if (!result.success) throw issueError(result.error.issues[0]);
  const req = result.data;
  return { chat: toChatRequest(req), original: req };
}

function toChatRequest(req: ResponsesRequest): ChatRequest {
  const messages: ChatMessage[] = [];
  if (req.instructions) messages.push({ role: 'system', content: req.instructions });
  if (typeof req.input === 'string') messages.push({ role: 'user', content: req.input });
  else req.input.forEach((entry, i) => addItem(messages, entry, i));
  const chat: ChatRequest = { model: req.model, messages, stream: req.stream === true };
  if (req.stream === true) chat.stream_options = { include_usage: true };
  if (req.tools && req.tools.length > 0) chat.tools = req.tools.map(toChatTool);
  if (req.tool_choice !== undefined && req.tool_choice !== null) {
    chat.tool_choice = typeof req.tool_choice === 'string' ? req.tool_choice : { type: 'function', function: { name: req.tool_choice.name } };
  }
  if (typeof req.parallel_tool_calls === 'boolean') chat.parallel_tool_calls = req.parallel_tool_calls;
  if (typeof req.max_output_tokens === 'number') chat.max_completion_tokens = req.max_output_tokens;
  if (typeof req.temperature === 'number') chat.temperature = req.temperature;
  if (typeof req.top_p === 'number') chat.top_p = req.top_p;
  if (req.reasoning?.effort) chat.reasoning_effort = req.reasoning.effort;
  if (typeof req.user === 'string') chat.user = req.user;
  const format = req.text?.format as { type: string; name?: string; schema?: unknown; strict?: boolean } | undefined;
  if (format?.type === 'json_schema') chat.response_format = { type: 'json_schema', json_schema: { name: format.name ?? 'response', schema: format.schema, strict: format.strict ?? false } };
  else if (format?.type === 'json_object') chat.response_format = { type: 'json_object' };
  return chat;
}

function toChatTool(tool: { type: string; [key: string]: unknown }): Record<string, unknown> {
  if (tool.type !== 'function') throw badRequest(`Tool type '${tool.type}' is not supported by Sluice; only function tools are.`, 'tools', 'unsupported_tool');
  const fn: Record<string, unknown> = { name: tool.name };
  if (tool.description !== undefined) fn.description = tool.description;
  if (tool.parameters !== undefined && tool.parameters !== null) fn.parameters = tool.parameters;
  if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
  return { type: 'function', function: fn };
}

function toChatContent(content: unknown, index: number): unknown {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw badRequest(`Input item ${index} has no content.`, `input[${index}].content`);
  return content.map((raw, j) => {
    if (raw === null || typeof raw !== 'object' || typeof (raw as { type?: unknown }).type !== 'string') {
      throw badRequest('Every content part needs a type.', `input[${index}].content[${j}]`);
    }
    const p = raw as { type: string; text?: unknown; image_url?: unknown; detail?: unknown };
    if (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') return { type: 'text', text: String(p.text ?? '') };
    if (p.type === 'input_image') {
      const url = typeof p.image_url === 'string' ? p.image_url : (p.image_url as { url?: string } | undefined)?.url;
      if (url === undefined) throw badRequest('input_image needs an image_url (file_id needs stored files, which Sluice does not keep).', `input[${index}].content[${j}]`);
      return { type: 'image_url', image_url: p.detail ? { url, detail: p.detail } : { url } };
    }
    throw badRequest(`Content part type '${p.type}' is not supported by Sluice.`, `input[${index}].content[${j}].type`);
  });
}

function addItem(messages: ChatMessage[], entry: z.infer<typeof item>, index: number): void {
  const type = entry.type ?? (entry.role !== undefined ? 'message' : undefined);
  switch (type) {
    case 'message':
      messages.push({ role: entry.role ?? 'user', content: toChatContent(entry.content, index) });
      return;
    case 'function_call': {
      const call: ToolCall = { id: String(entry.call_id ?? ''), type: 'function', function: { name: String(entry.name ?? ''), arguments: String(entry.arguments ?? '') } };
      const last = messages.at(-1);
      // Consecutive function calls are one assistant turn with parallel tool calls.
      if (last !== undefined && last.role === 'assistant' && Array.isArray(last.tool_calls) && (last.content === null || last.content === undefined)) last.tool_calls.push(call);
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      return;
    }
    case 'function_call_output':
      messages.push({ role: 'tool', tool_call_id: String(entry.call_id ?? ''), content: typeof entry.output === 'string' ? entry.output : JSON.stringify(entry.output ?? '') });
      return;
    case 'reasoning':
      return; // reasoning from earlier turns is not replayable through chat completions
    default:
      throw badRequest(`Input item type '${String(type)}' is not supported by Sluice.`, `input[${index}].type`);
  }
}
