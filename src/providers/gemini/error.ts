import { tryParseJson } from '../../core/json.js';
import { SluiceError, upstreamErrorEvent } from '../../core/errors.js';
import { errorFieldsFromBody, upstreamStatusError } from '../upstream-error.js';

const TYPE_BY_STATUS: Record<string, string> = {
  INVALID_ARGUMENT: 'invalid_request_error',
  FAILED_PRECONDITION: 'invalid_request_error',
  OUT_OF_RANGE: 'invalid_request_error',
  UNAUTHENTICATED: 'authentication_error',
  PERMISSION_DENIED: 'permission_error',
  NOT_FOUND: 'not_found_error',
  RESOURCE_EXHAUSTED: 'rate_limit_error',
};

interface GoogleError {
  code?: number;
  message?: string;
  status?: string;
}

function googleError(body: unknown): GoogleError | undefined {
  const inner = Array.isArray(body) ? (body[0] as { error?: unknown } | undefined)?.error : (body as { error?: unknown } | null)?.error;
  return inner !== null && typeof inner === 'object' ? (inner as GoogleError) : undefined;
}

/** Google's `{"error":{"code","message","status"}}` in OpenAI terms. */
export function parseGeminiError(status: number, bodyText: string): SluiceError {
  const error = googleError(tryParseJson(bodyText));
  if (error?.message === undefined) return upstreamStatusError(status, errorFieldsFromBody(status, bodyText));
  return upstreamStatusError(status, {
    message: error.message,
    type: (error.status && TYPE_BY_STATUS[error.status]) ?? (status >= 500 ? 'server_error' : 'invalid_request_error'),
    code: error.status ? error.status.toLowerCase() : null,
  });
}

export function geminiStreamError(error: unknown): SluiceError {
  const e = (error ?? {}) as GoogleError;
  const type = (e.status && TYPE_BY_STATUS[e.status]) ?? 'server_error';
  return upstreamErrorEvent(e.message ?? 'Gemini reported an error.', type, e.status ? e.status.toLowerCase() : null, 502, type === 'server_error' || type === 'rate_limit_error');
}
