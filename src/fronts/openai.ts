import type { IncomingHttpHeaders } from 'node:http';
import type { SluiceError } from '../core/errors.js';
import { bearerKey, headerKey, type ErrorReply } from './front.js';

// What the OpenAI-shaped fronts (chat, Responses) share; also the server's shape for what is no
// front's (GET /v1/models, an unknown endpoint).

/** OpenAI's error body with the error's status and headers: the shape every OpenAI client reads. */
export function openaiErrorReply(error: SluiceError): ErrorReply {
  return { status: error.status, headers: error.headers, body: JSON.stringify(error.toBody()) };
}

/** `Authorization: Bearer <key>`, or `x-api-key` (which some OpenAI-compatible clients send). */
export function openaiClientKey(headers: IncomingHttpHeaders): string | undefined {
  return bearerKey(headers) ?? headerKey(headers, 'x-api-key');
}
