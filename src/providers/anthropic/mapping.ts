import { tryParseJson } from '../../core/json.js';
import { SluiceError, upstreamErrorEvent } from '../../core/errors.js';
import { errorFieldsFromBody, upstreamStatusError } from '../upstream-error.js';
import { ANTHROPIC_ERRORS, isAnthropicErrorType, RETRYABLE_ERROR_TYPES } from '../../core/anthropic-wire.js';

function anthropicError(body: unknown): { type: string; message: string } | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const error = (body as { error?: unknown }).error;
  if (error === null || typeof error !== 'object') return undefined;
  const { type, message } = error as { type?: unknown; message?: unknown };
  return typeof type === 'string' ? { type, message: typeof message === 'string' ? message : type } : undefined;
}

function openaiTypeOf(type: string): string {
  return isAnthropicErrorType(type) ? ANTHROPIC_ERRORS[type].openaiType : 'server_error';
}

/** An Anthropic error body (`{"type":"error","error":{"type","message"}}`) in OpenAI terms. */
export function parseAnthropicError(upstreamStatus: number, bodyText: string): SluiceError {
  // 529 (overloaded) is Anthropic's own; clients and load balancers know 503.
  const status = upstreamStatus === 529 ? 503 : upstreamStatus;
  const error = anthropicError(tryParseJson(bodyText));
  if (error === undefined) return upstreamStatusError(status, errorFieldsFromBody(status, bodyText));
  return upstreamStatusError(status, { message: error.message, type: openaiTypeOf(error.type), code: error.type });
}

/** An `error` event inside a stream. */
export function streamError(data: unknown): SluiceError {
  const error = anthropicError(data) ?? { type: 'api_error', message: 'The upstream reported an unknown error.' };
  return upstreamErrorEvent(error.message, openaiTypeOf(error.type), error.type, 502, RETRYABLE_ERROR_TYPES.has(error.type));
}
