import type { ChatCompletion } from '../../core/types.js';
import type { Front, FrontRequest } from '../front.js';
import { openaiClientKey, openaiErrorReply } from '../openai.js';
import { parseResponsesRequest } from './request.js';
import { completionToResponse } from './response.js';
import { ResponsesSink, responsesErrorEvent } from './sink.js';
import { responsesNative } from './usage.js';

/**
 * POST /v1/responses: the Responses API over the chat pipeline, for every provider type; natively
 * (byte for byte) to providers that serve it themselves (`responses: native`).
 */
export const responsesFront: Front = {
  name: 'responses',
  paths: ['/v1/responses'],
  clientKey: openaiClientKey,
  parse(body: unknown): FrontRequest {
    const { chat, original } = parseResponsesRequest(body);
    return {
      chat,
      sink: (writer, tally) => new ResponsesSink(writer, original, tally),
      complete: (completion: ChatCompletion) => JSON.stringify(completionToResponse(original, completion)),
      // The client's body as sent, with the upstream's model and an explicit `stream`.
      native: { body: (model) => JSON.stringify(Object.assign({}, body, { model, stream: chat.stream === true })) },
    };
  },
  // OpenAI's API: its errors before the first byte are OpenAI's.
  errorReply: openaiErrorReply,
  errorEvent: responsesErrorEvent,
  native: responsesNative,
};
