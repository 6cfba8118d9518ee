import { z } from 'zod';
import { badRequest, SluiceError } from '../../core/errors.js';
import type { ChatRequest } from '../../core/types.js';
import { issueError } from '../../core/zod-path.js';
import { translateInput, type InputItem } from './input.js';
import { translateToolChoice, translateTools, type ToolNames } from './tools.js';

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
  text: z.looseObject({ format: z.looseObject({ type: z.string() }).optional(), verbosity: z.string().nullish() }).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  store: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  include: z.array(z.string()).nullish(),
  user: z.string().nullish(),
  safety_identifier: z.string().nullish(),
  prompt_cache_key: z.string().nullish(),
  prompt_cache_retention: z.string().nullish(),
  service_tier: z.string().nullish(),
  truncation: z.string().nullish(),
  client_metadata: z.record(z.string(), z.unknown()).nullish(),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

/**
 * Every top-level field the Responses API defines. For a translated (chat-type) target the ones not
 * mapped in toChatRequest are accepted and dropped; any other field is ignored and logged once.
 */
const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  ...Object.keys(responsesRequestSchema.shape),
  'stream_options',
  'max_tool_calls',
  'top_logprobs',
  'background',
  'previous_response_id',
  'conversation',
  'prompt',
  'context_management',
]);

/** Features that need server-side state; Sluice keeps none (a `responses: native` upstream may). */
const STATEFUL = ['previous_response_id', 'conversation', 'prompt'] as const;

export interface ParsedResponses {
  /** The chat request the pipeline runs for a translated target (model and stream always set). */
  chat: ChatRequest;
  original: ResponsesRequest;
  /** Chat function name -> the client's tool (namespaced, custom, local_shell), for the calls going back. */
  tools: ToolNames;
  /** Hosted tool types a chat-type target cannot run, left out of `chat`. */
  dropped: string[];
  /** Top-level fields the Responses API does not define: forwarded to a native upstream, ignored otherwise. */
  unknown: string[];
  /** Why the request cannot go to a chat-type target; a native upstream gets it all the same. */
  untranslatable?: SluiceError;
}

/**
 * A Responses API request, validated, with its chat translation. What only a chat-type target cannot
 * take (stored state, an unknown tool or item type) does not fail here but in `untranslatable`:
 * a `responses: native` upstream receives the client's body untouched.
 */
export function parseResponsesRequest(body: unknown): ParsedResponses {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request body must be a JSON object with "model" and "input".');
  const result = responsesRequestSchema.safeParse(body);
  if (!result.success) throw issueError(result.error.issues[0]);
  const req = result.data;
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((k) => !KNOWN_FIELDS.has(k));
  try {
    for (const field of STATEFUL) {
      if (record[field] !== undefined && record[field] !== null) {
        throw badRequest(`'${field}' needs stored responses, and Sluice is stateless: send the whole conversation in 'input' instead.`, field, 'unsupported_parameter');
      }
    }
    if (record.background === true) throw badRequest("'background' responses need a store, and Sluice is stateless; leave it out.", 'background', 'unsupported_parameter');
    const tools = translateTools(req.tools ?? []);
    const chat = toChatRequest(req, tools.tools, translateToolChoice(req.tool_choice ?? undefined));
    return { chat, original: req, tools: tools.names, dropped: tools.dropped, unknown };
  } catch (err) {
    if (!(err instanceof SluiceError)) throw err;
    return { chat: { model: req.model, messages: [], stream: req.stream === true }, original: req, tools: new Map(), dropped: [], unknown, untranslatable: err };
  }
}

/**
 * The chat request for a translated target. Mapped: input and instructions (input.ts), tools and
 * tool_choice (tools.ts), parallel_tool_calls, max_output_tokens, temperature, top_p,
 * reasoning.effort, text.format, text.verbosity, and, as the same chat fields (OpenAI-compatible
 * upstreams take them; the Anthropic and Gemini adapters leave them out): user, safety_identifier,
 * prompt_cache_key, prompt_cache_retention, service_tier. Accepted and not forwarded: store (nothing
 * is stored), include (a chat upstream has no encrypted reasoning), reasoning.summary (it shapes the
 * reasoning events instead), metadata (echoed in the response), client_metadata, truncation,
 * stream_options, max_tool_calls, top_logprobs, context_management.
 */
function toChatRequest(req: ResponsesRequest, tools: Array<Record<string, unknown>>, toolChoice: unknown): ChatRequest {
  const chat: ChatRequest = { model: req.model, messages: translateInput(req.input as string | InputItem[], req.instructions), stream: req.stream === true };
  if (req.stream === true) chat.stream_options = { include_usage: true };
  // tool_choice and parallel_tool_calls without tools are an error for OpenAI: hosted tools alone leave none.
  if (tools.length > 0) {
    chat.tools = tools;
    if (toolChoice !== undefined) chat.tool_choice = toolChoice;
    if (typeof req.parallel_tool_calls === 'boolean') chat.parallel_tool_calls = req.parallel_tool_calls;
  }
  if (typeof req.max_output_tokens === 'number') chat.max_completion_tokens = req.max_output_tokens;
  if (typeof req.temperature === 'number') chat.temperature = req.temperature;
  if (typeof req.top_p === 'number') chat.top_p = req.top_p;
  if (req.reasoning?.effort) chat.reasoning_effort = req.reasoning.effort;
  for (const field of ['user', 'safety_identifier', 'prompt_cache_key', 'prompt_cache_retention', 'service_tier'] as const) {
    if (typeof req[field] === 'string') chat[field] = req[field];
  }
  if (typeof req.text?.verbosity === 'string') chat.verbosity = req.text.verbosity;
  const format = req.text?.format as { type: string; name?: string; schema?: unknown; strict?: boolean } | undefined;
  if (format?.type === 'json_schema') chat.response_format = { type: 'json_schema', json_schema: { name: format.name ?? 'response', schema: format.schema, strict: format.strict ?? false } };
  else if (format?.type === 'json_object') chat.response_format = { type: 'json_object' };
  return chat;
}
