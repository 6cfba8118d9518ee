import { redactSecrets } from './redact.js';
import type { OpenAIErrorBody } from './types.js';

/** Stable codes: tests and dashboards match these; messages may change. */
export type SluiceErrorCode =
  | 'SLUICE_ERR_BAD_REQUEST'
  | 'SLUICE_ERR_UNAUTHORIZED'
  | 'SLUICE_ERR_FORBIDDEN'
  | 'SLUICE_ERR_MODEL_NOT_FOUND'
  | 'SLUICE_ERR_BODY_TOO_LARGE'
  | 'SLUICE_ERR_SERVER_BUSY'
  | 'SLUICE_ERR_UPSTREAM_STATUS'
  | 'SLUICE_ERR_UPSTREAM_UNREACHABLE'
  | 'SLUICE_ERR_UPSTREAM_INVALID'
  | 'SLUICE_ERR_UPSTREAM_TIMEOUT'
  | 'SLUICE_ERR_IDLE_TIMEOUT'
  | 'SLUICE_ERR_UPSTREAM_ERROR_EVENT'
  | 'SLUICE_ERR_TRUNCATED'
  | 'SLUICE_ERR_CLIENT_ABORT'
  | 'SLUICE_ERR_SHUTDOWN'
  | 'SLUICE_ERR_RATE_LIMITED'
  | 'SLUICE_ERR_BUDGET_EXCEEDED'
  | 'SLUICE_ERR_STATE_UNAVAILABLE'
  | 'SLUICE_ERR_INTERNAL';

/** What the access log records as the request's outcome when it did not complete. */
export type FailureOutcome =
  | 'client_error'
  | 'upstream_status'
  | 'unreachable'
  | 'invalid_upstream'
  | 'timeout'
  | 'idle_timeout'
  | 'upstream_error'
  | 'truncated'
  | 'client_abort'
  | 'shutdown'
  | 'rate_limited'
  | 'state_unavailable'
  | 'internal';

export interface SluiceErrorOptions {
  param?: string | null;
  /** OpenAI `code` field. */
  openaiCode?: string | null;
  /** Headers to pass to the client with a before-first-byte error (Retry-After, x-ratelimit-*). */
  headers?: Record<string, string>;
  /** Whether another attempt (retry or fallback) may succeed. */
  retryable?: boolean;
  /** Delay the upstream asked for before a retry, in ms. */
  retryAfterMs?: number;
  outcome?: FailureOutcome;
  cause?: unknown;
}

export class SluiceError extends Error {
  readonly code: SluiceErrorCode;
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly openaiCode: string | null;
  readonly headers: Record<string, string>;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly outcome: FailureOutcome;

  constructor(code: SluiceErrorCode, status: number, type: string, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.status = status;
    this.type = type;
    this.param = options.param ?? null;
    this.openaiCode = options.openaiCode ?? null;
    this.headers = options.headers ?? {};
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.outcome = options.outcome ?? (status >= 500 ? 'internal' : 'client_error');
  }

  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.openaiCode } };
  }
}

/** Anything thrown, as a SluiceError: an unknown throw is a 500 that keeps its cause for the log. */
export function asSluiceError(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  return new SluiceError('SLUICE_ERR_INTERNAL', 500, 'server_error', 'Internal gateway error.', { cause: err, outcome: 'internal' });
}

export function badRequest(message: string, param: string | null = null, openaiCode: string | null = null): SluiceError {
  return new SluiceError('SLUICE_ERR_BAD_REQUEST', 400, 'invalid_request_error', message, { param, openaiCode });
}

export function upstreamUnreachable(provider: string, cause: unknown): SluiceError {
  const detail = cause instanceof Error ? ((cause as { code?: string }).code ?? cause.message) : String(cause);
  return new SluiceError('SLUICE_ERR_UPSTREAM_UNREACHABLE', 502, 'server_error', `Upstream provider '${provider}' is unreachable (${detail}).`, {
    retryable: true,
    outcome: 'unreachable',
    openaiCode: 'upstream_unreachable',
    cause,
  });
}

export function upstreamInvalid(detail: string): SluiceError {
  return new SluiceError('SLUICE_ERR_UPSTREAM_INVALID', 502, 'server_error', `The upstream sent an invalid response: ${detail}.`, {
    outcome: 'invalid_upstream',
    openaiCode: 'upstream_invalid_response',
  });
}

export function upstreamTimeout(provider: string, which: string, ms: number): SluiceError {
  return new SluiceError('SLUICE_ERR_UPSTREAM_TIMEOUT', 504, 'server_error', `Upstream provider '${provider}' timed out (${which} timeout of ${ms} ms).`, {
    retryable: true,
    outcome: 'timeout',
    openaiCode: 'upstream_timeout',
  });
}

export function idleTimeout(provider: string, ms: number): SluiceError {
  return new SluiceError('SLUICE_ERR_IDLE_TIMEOUT', 504, 'server_error', `Upstream provider '${provider}' sent nothing for ${ms} ms; the stream was cut off.`, {
    retryable: true,
    outcome: 'idle_timeout',
    openaiCode: 'upstream_idle_timeout',
  });
}

export function truncated(provider: string, detail: string): SluiceError {
  return new SluiceError('SLUICE_ERR_TRUNCATED', 502, 'server_error', `Upstream provider '${provider}' ended the stream early: ${detail}.`, {
    retryable: true,
    outcome: 'truncated',
    openaiCode: 'upstream_truncated',
  });
}

/** An error the upstream reported inside a stream (an error event), in OpenAI terms; its texts redacted (see redactSecrets). */
export function upstreamErrorEvent(message: string, type: string, code: string | null, status = 502, retryable = false): SluiceError {
  return new SluiceError('SLUICE_ERR_UPSTREAM_ERROR_EVENT', status, type, redactSecrets(message), {
    openaiCode: code === null ? null : redactSecrets(code),
    outcome: 'upstream_error',
    retryable,
  });
}

/** One upstream SSE event larger than the provider's max_event_mb: the stream ends instead of growing memory. */
export function eventTooLarge(maxBytes: number): SluiceError {
  const mb = Math.round((maxBytes / (1024 * 1024)) * 100) / 100;
  return new SluiceError('SLUICE_ERR_UPSTREAM_INVALID', 502, 'server_error', `The upstream sent an event larger than the ${mb} MB limit (max_event_mb); the stream was ended.`, {
    outcome: 'invalid_upstream',
    openaiCode: 'upstream_event_too_large',
  });
}
