import { tryParseJson } from '../../core/json.js';
import { SluiceError, upstreamErrorEvent } from '../../core/errors.js';
import { errorFieldsFromBody, upstreamStatusError } from '../upstream-error.js';
import type { Usage } from '../../core/types.js';

/** Anthropic stop_reason -> OpenAI finish_reason. */
export function finishReason(stopReason: unknown): string {
  switch (stopReason) {
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop'; // end_turn, stop_sequence, pause_turn
  }
}

export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** Prompt tokens include cache reads and writes; cached_tokens are the reads. */
export function openaiUsage(usage: AnthropicUsage): Usage {
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheWrite = usage.cache_creation_input_tokens ?? 0;
  const prompt = (usage.input_tokens ?? 0) + cacheRead + cacheWrite;
  const completion = usage.output_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cacheRead, cache_creation_tokens: cacheWrite },
  };
}

const TYPE_MAP: Record<string, string> = {
  invalid_request_error: 'invalid_request_error',
  authentication_error: 'authentication_error',
  permission_error: 'permission_error',
  not_found_error: 'not_found_error',
  request_too_large: 'invalid_request_error',
  rate_limit_error: 'rate_limit_error',
  overloaded_error: 'server_error',
  api_error: 'server_error',
  timeout_error: 'server_error',
};

const RETRYABLE = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

function anthropicError(body: unknown): { type: string; message: string } | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const error = (body as { error?: unknown }).error;
  if (error === null || typeof error !== 'object') return undefined;
  const { type, message } = error as { type?: unknown; message?: unknown };
  return typeof type === 'string' ? { type, message: typeof message === 'string' ? message : type } : undefined;
}

/** An Anthropic error body (`{"type":"error","error":{"type","message"}}`) in OpenAI terms. */
export function parseAnthropicError(upstreamStatus: number, bodyText: string): SluiceError {
  // 529 (overloaded) is Anthropic's own; clients and load balancers know 503.
  const status = upstreamStatus === 529 ? 503 : upstreamStatus;
  const error = anthropicError(tryParseJson(bodyText));
  if (error === undefined) return upstreamStatusError(status, errorFieldsFromBody(status, bodyText));
  return upstreamStatusError(status, { message: error.message, type: TYPE_MAP[error.type] ?? 'server_error', code: error.type });
}

/** An `error` event inside a stream. */
export function streamError(data: unknown): SluiceError {
  const error = anthropicError(data) ?? { type: 'api_error', message: 'The upstream reported an unknown error.' };
  return upstreamErrorEvent(error.message, TYPE_MAP[error.type] ?? 'server_error', error.type, 502, RETRYABLE.has(error.type));
}
