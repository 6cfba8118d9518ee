import { z } from 'zod';
import { SluiceError } from '../../core/errors.js';
import type { ChatMessage, ChatRequest, ToolCall } from '../../core/types.js';

/**
 * Fields of a Messages request that Sluice accepts and drops when it translates for a non-Anthropic
 * upstream (a native passthrough forwards them untouched). Each is a hint or a feature with no
 * chat-completions counterpart; none changes what a translated answer means:
 * - `cache_control` (on system blocks, messages' blocks and tools): prompt caching is Anthropic's;
 *   OpenAI-type upstreams cache by prefix on their own.
 * - `context_management`: server-side clearing of old tool results and thinking; a translated
 *   request carries no thinking history to clear (see `thinking` blocks below).
 * - `container`, `mcp_servers`, `service_tier`, `inference_geo`: Anthropic-hosted execution, MCP
 *   connectors and capacity options.
 * - `thinking` and `redacted_thinking` blocks in assistant history: signed by Anthropic, no other
 *   provider can replay them (the Responses front drops earlier reasoning the same way).
 * - `citations` on text blocks, `metadata` other than `user_id`, `defer_loading` on tools (a
 *   translated request offers every tool at once, so nothing needs loading later).
 * - `thinking.display`: decides only whether reasoning comes back as thinking blocks.
 */
export const DROPPED_FIELDS = ['cache_control', 'context_management', 'container', 'mcp_servers', 'service_tier', 'inference_geo'] as const;

const block = z.looseObject({ type: z.string(required('must be a string')) });

const message = z.looseObject({
  // `system` turns mid-conversation: Claude Code 2.1 sends them (its per-turn-control beta).
  role: z.enum(['user', 'assistant', 'system'], required("must be 'user', 'assistant' or 'system'")),
  content: z.union([z.string(), z.array(block)], required('must be a string or a list of content blocks')),
});

const tool = z.looseObject({ name: z.string({ error: 'is required and must be a string' }).min(1, 'must not be empty'), type: z.string().nullish() });

const toolChoice = z
  .looseObject({
    type: z.enum(['auto', 'any', 'tool', 'none'], { error: "must be 'auto', 'any', 'tool' or 'none'" }),
    name: z.string().optional(),
    disable_parallel_tool_use: z.boolean({ error: 'must be a boolean' }).optional(),
  })
  .refine((c) => c.type !== 'tool' || typeof c.name === 'string', { message: "needs a 'name' when type is 'tool'", path: ['name'] });

const thinking = z
  .looseObject({
    type: z.enum(['enabled', 'disabled', 'adaptive'], { error: "must be 'enabled', 'disabled' or 'adaptive'" }),
    budget_tokens: z.number({ error: 'must be an integer' }).int('must be an integer').positive('must be positive').optional(),
    display: z.string().nullish(),
  })
  .refine((t) => t.type !== 'enabled' || t.budget_tokens !== undefined, { message: "is required when type is 'enabled'", path: ['budget_tokens'] });

/** A missing required field says so (as Anthropic's "Field required"); a present one of the wrong type says what it must be. */
function required(expected: string): { error: (issue: { input?: unknown }) => string } {
  return { error: (issue) => (issue.input === undefined ? 'Field required' : expected) };
}

const positiveInt = z.number({ error: 'must be an integer' }).int('must be an integer').positive('must be at least 1');

function requestSchema(requireMaxTokens: boolean) {
  return z.looseObject({
    model: z.string(required('must be a string')).min(1, 'must not be empty'),
    max_tokens: requireMaxTokens ? z.number(required('must be an integer')).int('must be an integer').positive('must be at least 1') : positiveInt.optional(),
    messages: z.array(message, required('must be a list of messages')).min(1, 'must contain at least one message'),
    system: z.union([z.string(), z.array(block)], { error: 'must be a string or a list of text blocks' }).nullish(),
    stream: z.boolean({ error: 'must be a boolean' }).nullish(),
    stop_sequences: z.array(z.string({ error: 'must be a string' }), { error: 'must be a list of strings' }).nullish(),
    temperature: z.number({ error: 'must be a number' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').nullish(),
    top_p: z.number({ error: 'must be a number' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').nullish(),
    top_k: positiveInt.nullish(),
    tools: z.array(tool, { error: 'must be a list of tools' }).nullish(),
    tool_choice: toolChoice.nullish(),
    thinking: thinking.nullish(),
    metadata: z.looseObject({ user_id: z.string({ error: 'must be a string' }).nullish() }).nullish(),
  });
}

const messagesSchema = requestSchema(true);
const countTokensSchema = requestSchema(false);

export type MessagesRequest = z.infer<typeof messagesSchema>;

/** A 400 in Anthropic terms (`invalid_request_error`), naming the field as the API does (`messages.0.content`). */
export function invalidRequest(message: string, path?: string): SluiceError {
  return new SluiceError('SLUICE_ERR_BAD_REQUEST', 400, 'invalid_request_error', path === undefined ? message : `${path}: ${message}`, { param: path ?? null });
}

/** Anthropic spells paths with dots and bare indexes: `messages.0.content.1.type`. */
export function dottedPath(path: ReadonlyArray<PropertyKey>): string {
  return path.length === 0 ? '(body)' : path.map(String).join('.');
}

/**
 * The issue to report. A union (content: a string or blocks) that failed reports for the branch
 * that got furthest: a list of blocks with a bad block names that block, not the whole union.
 */
function deepest(issue: z.core.$ZodIssue | undefined): { message: string; path: PropertyKey[] } {
  if (issue === undefined) return { message: 'invalid value', path: [] };
  if (issue.code === 'invalid_union') {
    let best: z.core.$ZodIssue | undefined;
    for (const branch of issue.errors) {
      const first = branch[0];
      if (first !== undefined && first.path.length > (best?.path.length ?? 0)) best = first;
    }
    if (best !== undefined) {
      const inner = deepest(best);
      return { message: inner.message, path: [...issue.path, ...inner.path] };
    }
  }
  return { message: issue.message, path: issue.path };
}

/** A validated Messages request, and what it means as a chat request. */
export interface ParsedMessages {
  /** The client's body as sent (validated): what a native passthrough forwards. */
  body: Record<string, unknown>;
  request: MessagesRequest;
  /**
   * The canonical chat request. When the body is valid Anthropic but cannot be translated (a block
   * or tool type only Anthropic serves), `translationError` says why and `chat` carries only the
   * model: a native upstream still takes the request; any other answers that 400.
   */
  chat: ChatRequest;
  translationError?: SluiceError;
  /** Whether the client wants reasoning text back (`thinking.display: omitted` says no). */
  showThinking: boolean;
}

/** POST /v1/messages (and, with `forCount`, /v1/messages/count_tokens): validate and translate. */
export function parseMessagesRequest(body: unknown, forCount = false): ParsedMessages {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('The request body must be a JSON object.');
  const result = (forCount ? countTokensSchema : messagesSchema).safeParse(body);
  if (!result.success) {
    const issue = deepest(result.error.issues[0]);
    throw invalidRequest(issue.message, dottedPath(issue.path));
  }
  const request = result.data as MessagesRequest;
  const showThinking = request.thinking?.type === 'enabled' || request.thinking?.type === 'adaptive' ? request.thinking.display !== 'omitted' : true;
  try {
    return { body: body as Record<string, unknown>, request, chat: toChatRequest(request), showThinking };
  } catch (err) {
    if (!(err instanceof SluiceError)) throw err;
    const chat: ChatRequest = { model: request.model, messages: [], stream: request.stream === true };
    return { body: body as Record<string, unknown>, request, chat, translationError: err, showThinking };
  }
}

/** Anthropic's output_config.effort -> reasoning_effort (`max` has no chat counterpart above `high`). */
const EFFORTS: Record<string, string> = { low: 'low', medium: 'medium', high: 'high', max: 'high' };

/** thinking.budget_tokens -> reasoning_effort, in the bands the Anthropic adapter maps back. */
function effortFor(budget: number): string {
  if (budget < 4096) return 'low';
  if (budget < 16384) return 'medium';
  return 'high';
}

function toChatRequest(req: MessagesRequest): ChatRequest {
  const messages: ChatMessage[] = [];
  const system = systemText(req.system);
  if (system !== '') messages.push({ role: 'system', content: system });
  req.messages.forEach((m, i) => {
    if (m.role === 'system') {
      const text = systemText(m.content as string | Block[], `messages.${i}.content`);
      if (text !== '') messages.push({ role: 'system', content: text });
    } else addMessage(messages, m.role, m.content as string | Block[], i);
  });
  const chat: ChatRequest = { model: req.model, messages, stream: req.stream === true };
  if (req.stream === true) chat.stream_options = { include_usage: true };
  if (typeof req.max_tokens === 'number') chat.max_completion_tokens = req.max_tokens;
  if (typeof req.temperature === 'number') chat.temperature = req.temperature;
  if (typeof req.top_p === 'number') chat.top_p = req.top_p;
  // Forwarded as OpenAI-type upstreams that have it (vLLM, llama.cpp) take it; Gemini gets topK.
  if (typeof req.top_k === 'number') chat.top_k = req.top_k;
  if (req.stop_sequences && req.stop_sequences.length > 0) chat.stop = req.stop_sequences;
  if (typeof req.metadata?.user_id === 'string') chat.user = req.metadata.user_id;
  // `disabled` and `adaptive` leave the upstream's default: models without reasoning reject any effort.
  // output_config.effort is the same dial; it wins over a budget when both are sent.
  const effort = (req as { output_config?: { effort?: unknown } | null }).output_config?.effort;
  if (req.thinking?.type !== 'disabled' && typeof effort === 'string' && EFFORTS[effort] !== undefined) chat.reasoning_effort = EFFORTS[effort];
  else if (req.thinking?.type === 'enabled') chat.reasoning_effort = effortFor(req.thinking.budget_tokens ?? 0);
  const tools = (req.tools ?? []).map((t, i) => toChatTool(t, i));
  if (tools.length > 0) {
    chat.tools = tools;
    // OpenAI rejects tool_choice and parallel_tool_calls without tools.
    const choice = req.tool_choice;
    if (choice) {
      chat.tool_choice = choice.type === 'any' ? 'required' : choice.type === 'tool' ? { type: 'function', function: { name: choice.name } } : choice.type;
      if (choice.disable_parallel_tool_use === true) chat.parallel_tool_calls = false;
    }
  }
  const format = outputFormat(req as Record<string, unknown>);
  if (format !== undefined) chat.response_format = format;
  return chat;
}

/** Structured outputs (`output_config.format`, or the older `output_format`) -> response_format. */
function outputFormat(req: Record<string, unknown>): Record<string, unknown> | undefined {
  const config = req.output_config as { format?: unknown } | null | undefined;
  const format = (config?.format ?? req.output_format) as { type?: unknown; schema?: unknown } | null | undefined;
  if (format?.type !== 'json_schema') return undefined;
  return { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } };
}

type Block = { type: string; [key: string]: unknown };

function systemText(system: MessagesRequest['system'], path = 'system'): string {
  if (system === null || system === undefined) return '';
  if (typeof system === 'string') return system;
  return system
    .map((b, i) => {
      if (b.type !== 'text' || typeof b.text !== 'string') throw invalidRequest("system blocks must be text blocks with a string 'text'", `${path}.${i}`);
      return b.text;
    })
    .join('\n\n');
}

function toChatTool(tool: { name: string; type?: string | null | undefined; [key: string]: unknown }, index: number): Record<string, unknown> {
  if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') {
    throw invalidRequest(`tool type '${tool.type}' is a server tool that only an Anthropic-type upstream runs; this model's route translates to another provider.`, `tools.${index}.type`);
  }
  const schema = tool.input_schema;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw invalidRequest('is required: a JSON Schema object', `tools.${index}.input_schema`);
  const fn: Record<string, unknown> = { name: tool.name, parameters: schema };
  if (typeof tool.description === 'string') fn.description = tool.description;
  return { type: 'function', function: fn };
}

const textBlock = z.looseObject({ type: z.literal('text'), text: z.string({ error: 'is required and must be a string' }) });
const imageBlock = z.looseObject({
  type: z.literal('image'),
  source: z.discriminatedUnion(
    'type',
    [
      z.looseObject({ type: z.literal('base64'), media_type: z.string({ error: 'is required and must be a string' }), data: z.string({ error: 'is required and must be a string' }) }),
      z.looseObject({ type: z.literal('url'), url: z.string({ error: 'is required and must be a string' }) }),
    ],
    { error: "must be {type: 'base64', media_type, data} or {type: 'url', url}" },
  ),
});
const toolUseBlock = z.looseObject({
  type: z.literal('tool_use'),
  id: z.string({ error: 'is required and must be a string' }),
  name: z.string({ error: 'is required and must be a string' }),
  input: z.unknown(),
});
const toolResultBlock = z.looseObject({
  type: z.literal('tool_result'),
  tool_use_id: z.string({ error: 'is required and must be a string' }),
  content: z.union([z.string(), z.array(block)], { error: 'must be a string or a list of content blocks' }).optional(),
  is_error: z.boolean({ error: 'must be a boolean' }).optional(),
});

/** Block types each role may send when translating, and what validates them. */
const USER_BLOCKS: Record<string, z.ZodType> = { text: textBlock, image: imageBlock, tool_result: toolResultBlock };
const ASSISTANT_BLOCKS: Record<string, z.ZodType> = { text: textBlock, tool_use: toolUseBlock, thinking: block, redacted_thinking: block };

function checked<T>(schema: z.ZodType, value: unknown, path: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data as T;
  const issue = deepest(result.error.issues[0]);
  throw invalidRequest(issue.message, issue.path.length === 0 ? path : `${path}.${dottedPath(issue.path)}`);
}

function checkBlock(role: 'user' | 'assistant', b: Block, path: string): Block {
  const schemas = role === 'user' ? USER_BLOCKS : ASSISTANT_BLOCKS;
  const schema = schemas[b.type];
  if (schema === undefined) {
    const allowed = Object.keys(schemas).join("', '");
    throw invalidRequest(`block type '${b.type}' is not supported in ${role} messages when translating to this model's provider (supported: '${allowed}'; every type passes through to an Anthropic-type upstream)`, `${path}.type`);
  }
  return checked<Block>(schema, b, path);
}

function imagePart(b: Block): Record<string, unknown> {
  const source = b.source as { type: string; media_type?: string; data?: string; url?: string };
  const url = source.type === 'base64' ? `data:${source.media_type};base64,${source.data}` : (source.url as string);
  return { type: 'image_url', image_url: { url } };
}

/** The text of a tool_result's content, and its images (which a chat tool message cannot carry). */
function toolResultParts(b: Block, path: string): { text: string; images: Array<Record<string, unknown>> } {
  const value = b.content;
  if (value === undefined || typeof value === 'string') return { text: value ?? '', images: [] };
  const texts: string[] = [];
  const images: Array<Record<string, unknown>> = [];
  (value as Block[]).forEach((inner, k) => {
    const at = `${path}.content.${k}`;
    if (inner.type === 'text') texts.push(checked<Block>(textBlock, inner, at).text as string);
    // Tool search (Claude Code's ToolSearch) answers with references to deferred tools; a translated
    // request sends every tool already, so the reference only needs to read as one.
    else if (inner.type === 'tool_reference') texts.push(`Tool available: ${String(inner.tool_name ?? '')}`);
    else if (inner.type === 'image') images.push(imagePart(checked<Block>(imageBlock, inner, at)));
    else throw invalidRequest(`block type '${inner.type}' is not supported inside a tool_result when translating (supported: 'text', 'image', 'tool_reference')`, `${at}.type`);
  });
  return { text: texts.join('\n'), images };
}

/**
 * One Anthropic message -> chat messages. A user turn's tool_result blocks become `tool` messages
 * (first, as they must follow the assistant's tool calls), the rest one user message; images in
 * tool results follow as a user message, as chat tool messages carry text only.
 */
function addMessage(out: ChatMessage[], role: 'user' | 'assistant', content: string | Block[], index: number): void {
  if (typeof content === 'string') {
    out.push({ role, content });
    return;
  }
  const path = `messages.${index}.content`;
  const blocks = content.map((b, j) => checkBlock(role, b, `${path}.${j}`));
  if (role === 'assistant') {
    const texts: string[] = [];
    const calls: ToolCall[] = [];
    for (const b of blocks) {
      if (b.type === 'text') texts.push(b.text as string);
      else if (b.type === 'tool_use') calls.push({ id: b.id as string, type: 'function', function: { name: b.name as string, arguments: JSON.stringify(b.input ?? {}) } });
    }
    const assistant: ChatMessage = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
    if (calls.length > 0) assistant.tool_calls = calls;
    if (texts.length > 0 || calls.length > 0) out.push(assistant);
    return;
  }
  const parts: Array<Record<string, unknown>> = [];
  const resultImages: Array<Record<string, unknown>> = [];
  blocks.forEach((b, j) => {
    if (b.type === 'tool_result') {
      const { text, images } = toolResultParts(b, `${path}.${j}`);
      // A chat tool message has no error flag: the model reads it in the text, as Anthropic's does.
      out.push({ role: 'tool', tool_call_id: b.tool_use_id as string, content: b.is_error === true && text !== '' ? `Error: ${text}` : b.is_error === true ? 'Error' : text });
      resultImages.push(...images);
    } else if (b.type === 'text') parts.push({ type: 'text', text: b.text });
    else parts.push(imagePart(b));
  });
  const user = [...resultImages, ...parts];
  if (user.length > 0) out.push({ role: 'user', content: user });
}
