// The Anthropic Messages API's vocabulary, in both directions: the `anthropic` provider adapter
// reads it (Anthropic -> OpenAI) and the Messages front writes it (OpenAI -> Anthropic). One table
// per fact, so the two directions cannot drift apart. Imports nothing of the app.

/** Anthropic `stop_reason` values, as the API documents them. */
export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal';

/** stop_reason -> OpenAI finish_reason. */
const FINISH_BY_STOP: Record<StopReason, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/**
 * OpenAI finish_reason -> stop_reason: the table above read backwards, with `stop` meaning
 * `end_turn` (the caller tells a matched stop sequence apart, when the upstream says which).
 */
const STOP_BY_FINISH: Record<string, StopReason> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', function_call: 'tool_use', content_filter: 'refusal' };

/** Anthropic stop_reason -> OpenAI finish_reason; anything unknown ends the turn normally. */
export function finishReasonOf(stopReason: unknown): string {
  return FINISH_BY_STOP[stopReason as StopReason] ?? 'stop';
}

/** OpenAI finish_reason -> Anthropic stop_reason; none (or an unknown one) is `end_turn`. */
export function stopReasonOf(finishReason: string | null | undefined): StopReason {
  return (finishReason === null || finishReason === undefined ? undefined : STOP_BY_FINISH[finishReason]) ?? 'end_turn';
}

/** Anthropic usage: input_tokens excludes the cached reads and the cache writes. */
export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** The OpenAI usage fields both directions read and write. */
export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: Record<string, unknown>;
  completion_tokens_details?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Anthropic -> OpenAI: prompt tokens include cache reads and writes; cached_tokens are the reads. */
export function openaiUsage(usage: AnthropicUsage): OpenAIUsage {
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

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

/** OpenAI -> Anthropic: the inverse of openaiUsage (cached reads and writes taken out of input_tokens). */
export function anthropicUsage(usage: OpenAIUsage): Required<{ [K in keyof AnthropicUsage]: number }> {
  const cacheRead = count(usage.prompt_tokens_details?.cached_tokens);
  const cacheWrite = count(usage.prompt_tokens_details?.cache_creation_tokens);
  return {
    input_tokens: Math.max(0, count(usage.prompt_tokens) - cacheRead - cacheWrite),
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
    output_tokens: count(usage.completion_tokens),
  };
}

/** One Anthropic error type: its HTTP status, and the OpenAI error `type` it corresponds to. */
interface ErrorKind {
  status: number;
  openaiType: string;
}

/** Anthropic's documented error types (https://docs.anthropic.com/en/api/errors). */
export const ANTHROPIC_ERRORS = {
  invalid_request_error: { status: 400, openaiType: 'invalid_request_error' },
  authentication_error: { status: 401, openaiType: 'authentication_error' },
  billing_error: { status: 402, openaiType: 'invalid_request_error' },
  permission_error: { status: 403, openaiType: 'permission_error' },
  not_found_error: { status: 404, openaiType: 'not_found_error' },
  request_too_large: { status: 413, openaiType: 'invalid_request_error' },
  rate_limit_error: { status: 429, openaiType: 'rate_limit_error' },
  api_error: { status: 500, openaiType: 'server_error' },
  timeout_error: { status: 504, openaiType: 'server_error' },
  overloaded_error: { status: 529, openaiType: 'server_error' },
} as const satisfies Record<string, ErrorKind>;

export type AnthropicErrorType = keyof typeof ANTHROPIC_ERRORS;

export function isAnthropicErrorType(type: unknown): type is AnthropicErrorType {
  return typeof type === 'string' && Object.hasOwn(ANTHROPIC_ERRORS, type);
}

/** Error types another attempt may cure. */
export const RETRYABLE_ERROR_TYPES: ReadonlySet<string> = new Set<AnthropicErrorType>(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

/** The Anthropic error type for an HTTP status: the table above read backwards. */
export function errorTypeForStatus(status: number): AnthropicErrorType {
  for (const [type, kind] of Object.entries(ANTHROPIC_ERRORS)) if (kind.status === status) return type as AnthropicErrorType;
  // 503 is "try again later", which Anthropic says with 529.
  if (status === 503) return 'overloaded_error';
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

/** Anthropic's error body. */
export interface AnthropicErrorBody {
  type: 'error';
  error: { type: string; message: string };
  request_id?: string;
}
