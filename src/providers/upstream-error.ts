import { redactSecrets } from '../core/redact.js';
import { isJsonObject, tryParseJson } from '../core/json.js';
import { SluiceError } from '../core/errors.js';

const typeByStatus: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
  413: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
};

export function defaultErrorType(status: number): string {
  return typeByStatus[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
}

/** 408, 409, 429 and 5xx may succeed on another attempt; other 4xx will not. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

export interface ErrorFields {
  message: string;
  type?: string | undefined;
  code?: string | null | undefined;
  param?: string | null | undefined;
}

/** An upstream HTTP error carried to the client with the upstream's status; its texts redacted (see redactSecrets). */
export function upstreamStatusError(status: number, fields: ErrorFields): SluiceError {
  return new SluiceError('SLUICE_ERR_UPSTREAM_STATUS', status, fields.type ?? defaultErrorType(status), redactSecrets(fields.message), {
    openaiCode: fields.code == null ? null : redactSecrets(fields.code),
    param: fields.param == null ? null : redactSecrets(fields.param),
    retryable: isRetryableStatus(status),
    outcome: 'upstream_status',
  });
}

function asString(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return null;
}

/**
 * Error fields from any of the shapes upstreams use: OpenAI's nested `{"error":{...}}`, vLLM's integer
 * `code`, a flat `{"message":...}`, FastAPI's `{"detail":...}`, a bare string error, plain text, HTML.
 * The body is redacted whole first, so that a long text cut below never cuts a key in two.
 */
export function errorFieldsFromBody(status: number, bodyText: string): ErrorFields {
  const text = redactSecrets(bodyText).trim();
  const parsed = text === '' ? undefined : tryParseJson(text);
  if (isJsonObject(parsed)) {
    const body = parsed;
    const inner = body.error;
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
      const e = inner as Record<string, unknown>;
      const message = asString(e.message) ?? JSON.stringify(e);
      // vLLM repeats the HTTP status as an integer `code`; OpenAI codes are strings.
      const code = typeof e.code === 'string' ? e.code : null;
      return { message, type: asString(e.type) ?? undefined, code, param: asString(e.param) };
    }
    if (typeof inner === 'string') return { message: inner, type: asString(body.type) ?? undefined };
    const message = asString(body.message) ?? asString(body.detail) ?? (body.detail !== undefined ? JSON.stringify(body.detail) : null);
    if (message !== null) return { message, type: asString(body.type) ?? undefined, code: asString(body.code) };
  }
  if (text === '') return { message: `Upstream returned HTTP ${status} with an empty body.` };
  if (/^<(!doctype|html)/i.test(text)) {
    const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
    return { message: `Upstream returned HTTP ${status} (an HTML page${title ? `: ${title}` : ''}).` };
  }
  return { message: text.length > 500 ? `${text.slice(0, 500)}…` : text };
}
