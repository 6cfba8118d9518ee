import type { FastifyReply } from 'fastify';
import { SluiceError } from '../core/errors.js';
import type { ErrorReply } from '../fronts/front.js';

/** An error that is no request's (fastify's own, an unknown endpoint), as the front's ErrorReply says. */
export function sendError(reply: FastifyReply, out: ErrorReply): FastifyReply {
  return reply.code(out.status).headers(out.headers).type('application/json').send(out.body);
}

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message: string;
}

/** fastify's own errors (body too large, bad JSON, bad content type) in OpenAI shape. */
export function fromFastifyError(err: FastifyLikeError, bodyLimitMb: number): SluiceError {
  if (err instanceof SluiceError) return err;
  switch (err.code) {
    case 'SLUICE_JSON_TOO_DEEP':
      return new SluiceError('SLUICE_ERR_BAD_REQUEST', 400, 'invalid_request_error', err.message, { openaiCode: 'json_too_deep' });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SluiceError('SLUICE_ERR_BODY_TOO_LARGE', 413, 'invalid_request_error', `The request body is larger than the ${bodyLimitMb} MB limit (server.body_limit_mb).`, { openaiCode: 'request_too_large' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SluiceError('SLUICE_ERR_BAD_REQUEST', 400, 'invalid_request_error', 'The request body is empty; send a JSON object with "model" and "messages".');
    case 'SLUICE_INVALID_JSON':
      return new SluiceError('SLUICE_ERR_BAD_REQUEST', 400, 'invalid_request_error', `The request body is not valid JSON: ${err.message}`, { openaiCode: 'invalid_json' });
  }
  const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  if (status < 500) return new SluiceError('SLUICE_ERR_BAD_REQUEST', status, 'invalid_request_error', err.message);
  return new SluiceError('SLUICE_ERR_INTERNAL', 500, 'server_error', 'Internal gateway error.', { cause: err });
}

/** A request body nested deeper than server.max_json_depth, as the content parser reports it. */
export function tooDeep(maxDepth: number): Error {
  return Object.assign(new Error(`The request body nests objects and arrays more than ${maxDepth} levels deep (server.max_json_depth).`), { code: 'SLUICE_JSON_TOO_DEEP', statusCode: 400 });
}
