import { describe, expect, it } from 'vitest';
import { badRequest, SluiceError, upstreamTimeout, upstreamUnreachable } from '../../../src/core/errors.js';
import { anthropicErrorReply } from '../../../src/fronts/messages/errors.js';
import { parseAnthropicError } from '../../../src/providers/anthropic/mapping.js';
import { upstreamStatusError } from '../../../src/providers/upstream-error.js';
import { estimateInputTokens, IMAGE_TOKENS } from '../../../src/fronts/messages/count-tokens.js';
import { parseMessagesRequest } from '../../../src/fronts/messages/request.js';

const reply = (error: SluiceError): [number, string, string] => {
  const out = anthropicErrorReply(error);
  expect(out.body.type).toBe('error');
  return [out.status, out.body.error.type, out.body.error.message];
};

describe('Messages errors: Anthropic statuses and types', () => {
  it('Sluice errors by status', () => {
    expect(reply(badRequest('bad'))).toEqual([400, 'invalid_request_error', 'bad']);
    expect(reply(new SluiceError('SLUICE_ERR_UNAUTHORIZED', 401, 'invalid_request_error', 'Missing API key. Send it as "Authorization: Bearer <key>".'))[1]).toBe('authentication_error');
    expect(reply(new SluiceError('SLUICE_ERR_UNAUTHORIZED', 401, 'invalid_request_error', 'Missing API key.'))[2]).toMatch(/x-api-key/);
    expect(reply(new SluiceError('SLUICE_ERR_FORBIDDEN', 403, 'permission_error', 'no'))[1]).toBe('permission_error');
    expect(reply(new SluiceError('SLUICE_ERR_MODEL_NOT_FOUND', 404, 'invalid_request_error', 'no model'))[1]).toBe('not_found_error');
    expect(reply(new SluiceError('SLUICE_ERR_BODY_TOO_LARGE', 413, 'invalid_request_error', 'big'))[1]).toBe('request_too_large');
    expect(reply(upstreamUnreachable('up', new Error('ECONNREFUSED')))).toEqual([502, 'api_error', expect.stringContaining('unreachable')]);
    expect(reply(upstreamTimeout('up', 'first byte', 5))).toEqual([504, 'timeout_error', expect.any(String)]);
    expect(reply(new SluiceError('SLUICE_ERR_INTERNAL', 500, 'server_error', 'Internal gateway error.'))[1]).toBe('api_error');
  });

  it('upstream errors of any provider; 429 keeps Retry-After; 503 and an Anthropic 529 are 529 overloaded_error', () => {
    const limited = upstreamStatusError(429, { message: 'slow down', type: 'rate_limit_error', code: 'rate_limit_exceeded' });
    limited.headers['retry-after'] = '7';
    const out = anthropicErrorReply(limited);
    expect([out.status, out.body.error.type, out.headers['retry-after']]).toEqual([429, 'rate_limit_error', '7']);
    expect(reply(upstreamStatusError(503, { message: 'busy' }))).toEqual([529, 'overloaded_error', 'busy']);
    expect(reply(parseAnthropicError(529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'))).toEqual([529, 'overloaded_error', 'Overloaded']);
    expect(reply(parseAnthropicError(400, '{"type":"error","error":{"type":"invalid_request_error","message":"messages.1: bad"}}'))).toEqual([400, 'invalid_request_error', 'messages.1: bad']);
    // An OpenAI-shaped 404 from an OpenAI-type upstream is translated, never leaked as is.
    expect(reply(upstreamStatusError(404, { message: 'The model does not exist', type: 'invalid_request_error', code: 'model_not_found' }))).toEqual([404, 'not_found_error', 'The model does not exist']);
  });
});

describe('count_tokens estimate', () => {
  it('characters / 4 over system, text, tool use and results, tools; a flat figure per image', () => {
    const { request } = parseMessagesRequest(
      {
        model: 'm',
        system: 'abcd',
        tools: [{ name: 'f', input_schema: { type: 'object' } }],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'abcdefgh' }, { type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] },
          { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: { a: 1 } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'abcd' }] },
        ],
      },
      true,
    );
    const toolsChars = JSON.stringify([{ name: 'f', input_schema: { type: 'object' } }]).length;
    const chars = 4 + 8 + JSON.stringify({ a: 1 }).length + 1 + 4 + toolsChars;
    expect(estimateInputTokens(request)).toBe(Math.ceil(chars / 4) + IMAGE_TOKENS);
  });
});
