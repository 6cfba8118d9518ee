import { errorTypeForStatus, isAnthropicErrorType, ANTHROPIC_ERRORS, type AnthropicErrorBody } from '../../core/anthropic-wire.js';
import type { SluiceError } from '../../core/errors.js';

/** How an error leaves the Messages front before the first byte: Anthropic's status, body and headers. */
export interface AnthropicErrorReply {
  status: number;
  body: AnthropicErrorBody;
  headers: Record<string, string>;
}

/**
 * The Anthropic error type for any Sluice error: an Anthropic upstream's own type when it gave one
 * (kept as the error's code), else the type Anthropic uses for the status.
 */
function typeOf(error: SluiceError): string {
  if (isAnthropicErrorType(error.openaiCode)) return error.openaiCode;
  return errorTypeForStatus(error.status);
}

/** Sluice's own messages name OpenAI's header; an Anthropic client sends x-api-key. */
function messageOf(error: SluiceError): string {
  if (error.code === 'SLUICE_ERR_UNAUTHORIZED' && error.message.startsWith('Missing API key')) return 'Missing API key. Send it as "x-api-key: <key>" (or "Authorization: Bearer <key>").';
  return error.message;
}

/** `{"type":"error","error":{"type","message"}}`: the body, and the data of an in-stream `error` event. */
export function errorBody(error: SluiceError): AnthropicErrorBody {
  return { type: 'error', error: { type: typeOf(error), message: messageOf(error) } };
}

/**
 * An error as a Messages client gets it. Statuses are Anthropic's: an overloaded upstream (or any
 * 503) is 529 `overloaded_error`, a timeout 504 `timeout_error`; 429 keeps its Retry-After.
 */
export function anthropicErrorReply(error: SluiceError): AnthropicErrorReply {
  const body = errorBody(error);
  const type = body.error.type;
  const status = type === 'overloaded_error' ? ANTHROPIC_ERRORS.overloaded_error.status : error.status;
  return { status, body, headers: error.headers };
}
