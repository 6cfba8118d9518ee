import { randomBytes } from 'node:crypto';
import type { ChatCompletion, Usage } from '../../core/types.js';
import type { ResponsesRequest } from './request.js';

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
    truncation: 'disabled',
    usage: null,
    user: req.user ?? null,
  };
}

export function reasoningItem(id: string, text: string): JsonRecord {
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

export function reasoningText(message: JsonRecord): string {
  const value = message.reasoning_content ?? message.reasoning;
  return typeof value === 'string' ? value : '';
}

/** A whole chat completion (choice 0) -> a Response object. */
export function completionToResponse(req: ResponsesRequest, completion: ChatCompletion): JsonRecord {
  const response = responseShell(req, newId('resp'), completion.created || Math.floor(Date.now() / 1000), completion.model || req.model);
  const choice = completion.choices[0];
  const output: JsonRecord[] = [];
  if (choice !== undefined) {
    const message = choice.message;
    const reasoning = reasoningText(message);
    if (reasoning !== '') output.push(reasoningItem(newId('rs'), reasoning));
    if (typeof message.content === 'string' && message.content !== '') output.push(messageItem(newId('msg'), message.content));
    for (const call of message.tool_calls ?? []) output.push(functionCallItem(newId('fc'), call.id || newId('call'), call.function.name, call.function.arguments));
  }
  return { ...response, ...ending(choice?.finish_reason ?? null), output, usage: responsesUsage(completion.usage) };
}
