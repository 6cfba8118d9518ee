import { badRequest } from '../../core/errors.js';
import type { ChatCompletion } from '../../core/types.js';
import { servesNatively } from '../../pipeline-native.js';
import type { RequestContext } from '../../server/state.js';
import type { Front, FrontRequest } from '../front.js';
import { openaiClientKey, openaiErrorReply } from '../openai.js';
import { parseResponsesRequest, type ParsedResponses } from './request.js';
import { completionToResponse } from './response.js';
import { ResponsesSink, responsesErrorEvent } from './sink.js';
import { responsesNative } from './usage.js';

/**
 * Before a request runs translated (a chat-type target): hosted tools are dropped (named in the
 * `x-sluice-dropped-tools` header and the access line) or, with `responses.hosted_tools: reject`,
 * a 400; fields the Responses API does not define are ignored, each logged once. A native route
 * gets the client's body untouched and none of this.
 */
function translated(ctx: RequestContext, parsed: ParsedResponses): RequestContext {
  if (servesNatively(ctx, responsesNative.protocol)) return ctx;
  if (parsed.untranslatable !== undefined) return ctx; // the server fails with it before any upstream call
  if (parsed.dropped.length > 0) {
    if (ctx.state.config.responses.hosted_tools === 'reject') {
      throw badRequest(`Tool type '${parsed.dropped[0] as string}' runs on OpenAI's side; this model's provider cannot run it.`, 'tools', 'unsupported_tool');
    }
    ctx.record.droppedTools = parsed.dropped;
  }
  for (const field of parsed.unknown) {
    if (ctx.gateway.responsesFieldsIgnored.has(field)) continue;
    ctx.gateway.responsesFieldsIgnored.add(field);
    ctx.log.warn({ field }, `/v1/responses: '${field}' is not a Responses API field Sluice knows; ignored for chat-type providers (logged once)`);
  }
  return ctx;
}

/**
 * POST /v1/responses: the Responses API over the chat pipeline, for every provider type; natively
 * (byte for byte) to providers that serve it themselves (`responses: native`).
 */
export const responsesFront: Front = {
  name: 'responses',
  paths: ['/v1/responses'],
  clientKey: openaiClientKey,
  parse(body: unknown): FrontRequest {
    const parsed = parseResponsesRequest(body);
    const { chat, original, tools } = parsed;
    return {
      chat,
      untranslatable: parsed.untranslatable,
      route: (ctx) => translated(ctx, parsed),
      sink: (writer, tally) => new ResponsesSink(writer, original, tally, tools),
      complete: (completion: ChatCompletion) => JSON.stringify(completionToResponse(original, completion, tools)),
      // The client's body as sent, with the upstream's model and an explicit `stream`.
      native: { body: (model) => JSON.stringify(Object.assign({}, body, { model, stream: chat.stream === true })) },
    };
  },
  // OpenAI's API: its errors before the first byte are OpenAI's.
  errorReply: openaiErrorReply,
  errorEvent: responsesErrorEvent,
  native: responsesNative,
};
