import { randomBytes } from 'node:crypto';
import { reasoningText, type ChatCompletion, type Usage } from '../../core/types.js';
import { tryParseJson } from '../../core/json.js';
import type { ResponsesRequest } from './request.js';
import type { ToolNames, ToolOrigin } from './tools.js';

export type JsonRecord = Record<string, unknown>;

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

/** The response object around the output: what the request asked for, echoed as the API does. */
export function responseShell(req: ResponsesRequest, id: string, createdAt: number, model: string): JsonRecord {
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status: 'in_progress',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: req.instructions ?? null,
    max_output_tokens: req.max_output_tokens ?? null,
    metadata: req.metadata ?? {},
    model,
    output: [],
    parallel_tool_calls: req.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: req.reasoning?.effort ?? null, summary: req.reasoning?.summary ?? null },
    store: false,
    temperature: req.temperature ?? 1,
    text: req.text ?? { format: { type: 'text' } },
    tool_choice: req.tool_choice ?? 'auto',
    tools: req.tools ?? [],
    top_p: req.top_p ?? 1,
    truncation: req.truncation ?? 'disabled',
    usage: null,
    user: req.user ?? null,
    service_tier: req.service_tier ?? null,
    prompt_cache_key: req.prompt_cache_key ?? null,
    safety_identifier: req.safety_identifier ?? null,
  };
}

/**
 * Whether reasoning goes out as a summary. A chat upstream's reasoning is raw text, but a client
 * that asks for a summary (Codex always does) renders only summary parts: it gets the text there.
 */
export function wantsSummary(req: ResponsesRequest): boolean {
  const summary = req.reasoning?.summary;
  return typeof summary === 'string' && summary !== '' && summary !== 'none';
}

/** A reasoning item; never `encrypted_content`, which only OpenAI's own models produce. */
export function reasoningItem(id: string, text: string, asSummary = false): JsonRecord {
  if (asSummary) return { id, type: 'reasoning', summary: [{ type: 'summary_text', text }] };
  return { id, type: 'reasoning', summary: [], content: [{ type: 'reasoning_text', text }] };
}

export function outputTextPart(text: string): JsonRecord {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

export function messageItem(id: string, text: string, status = 'completed'): JsonRecord {
  return { id, type: 'message', status, content: text === '' && status !== 'completed' ? [] : [outputTextPart(text)], role: 'assistant' };
}

export function functionCallItem(id: string, callId: string, name: string, args: string, status = 'completed'): JsonRecord {
  return { id, type: 'function_call', status, arguments: args, call_id: callId, name };
}

/** The item id prefix for a call of this kind. */
export function callIdPrefix(origin: ToolOrigin | undefined): string {
  if (origin?.kind === 'custom') return 'ctc';
  if (origin?.kind === 'local_shell') return 'lsh';
  return 'fc';
}

/** A custom tool's text from the arguments of the chat function that stands for it (`{"input": ...}`). */
export function customInput(args: string): string {
  const value = tryParseJson(args) as { input?: unknown } | null | undefined;
  // A model that wrote the raw text instead of the JSON wrapper still means that text.
  return typeof value?.input === 'string' ? value.input : args;
}

function shellAction(args: string): JsonRecord {
  const value = (tryParseJson(args) ?? {}) as { command?: unknown; workdir?: unknown; timeout_ms?: unknown; env?: unknown };
  const action: JsonRecord = { type: 'exec', command: Array.isArray(value.command) ? value.command.map(String) : [], env: value.env !== null && typeof value.env === 'object' ? value.env : {} };
  if (typeof value.timeout_ms === 'number') action.timeout_ms = value.timeout_ms;
  if (typeof value.workdir === 'string') action.working_directory = value.workdir;
  return action;
}

/**
 * A chat tool call as the item the client declared the tool for: `function_call` (with its
 * `namespace` when it came from one), `custom_tool_call` with the raw input, or `local_shell_call`.
 */
export function callItem(id: string, callId: string, name: string, args: string, origin: ToolOrigin | undefined, status = 'completed'): JsonRecord {
  if (origin === undefined) return functionCallItem(id, callId, name, args, status);
  if (origin.kind === 'local_shell') return { id, type: 'local_shell_call', status, call_id: callId, action: shellAction(args) };
  const item: JsonRecord =
    origin.kind === 'custom'
      ? { id, type: 'custom_tool_call', status, call_id: callId, name: origin.name, input: status === 'completed' ? customInput(args) : '' }
      : functionCallItem(id, callId, origin.name, args, status);
  if (origin.namespace !== undefined) item.namespace = origin.namespace;
  return item;
}

export function responsesUsage(usage: Usage | undefined): JsonRecord | null {
  if (usage === undefined) return null;
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: Number(usage.prompt_tokens_details?.cached_tokens ?? 0) },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: Number(usage.completion_tokens_details?.reasoning_tokens ?? 0) },
    total_tokens: usage.total_tokens,
  };
}

/** finish_reason -> the response's status and incomplete_details. */
export function ending(finishReason: string | null): { status: string; incomplete_details: JsonRecord | null } {
  if (finishReason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/** A whole chat completion (choice 0) -> a Response object. */
export function completionToResponse(req: ResponsesRequest, completion: ChatCompletion, tools: ToolNames = new Map()): JsonRecord {
  const response = responseShell(req, newId('resp'), completion.created || Math.floor(Date.now() / 1000), completion.model || req.model);
  const choice = completion.choices[0];
  const output: JsonRecord[] = [];
  if (choice !== undefined) {
    const message = choice.message;
    const reasoning = reasoningText(message);
    if (reasoning !== '') output.push(reasoningItem(newId('rs'), reasoning, wantsSummary(req)));
    if (typeof message.content === 'string' && message.content !== '') output.push(messageItem(newId('msg'), message.content));
    for (const call of message.tool_calls ?? []) {
      const origin = tools.get(call.function.name);
      output.push(callItem(newId(callIdPrefix(origin)), call.id || newId('call'), call.function.name, call.function.arguments, origin));
    }
  }
  return { ...response, ...ending(choice?.finish_reason ?? null), output, usage: responsesUsage(completion.usage) };
}
