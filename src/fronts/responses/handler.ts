import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../../server/state.js';
import { completionChars } from '../../observability/usage.js';
import { completeForClient, streamInto } from '../../pipeline.js';
import { parseResponsesRequest, type ResponsesRequest } from './request.js';
import { completionToResponse } from './response.js';
import { isNative, nativeComplete, nativeStream } from './native.js';
import { ResponsesSink } from './sink.js';
import type { ChatRequest } from '../../core/types.js';
import { RawJson, runExchange } from '../../server/exchange.js';

/** POST /v1/responses: the Responses API over the chat pipeline, for every provider type. */
export function handleResponses(gateway: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  let original: ResponsesRequest | undefined;
  const requestOf = (): ResponsesRequest => original as ResponsesRequest; // set by parse, which runs first
  return runExchange(gateway, request, reply, {
    parse: (body: unknown): ChatRequest => {
      const parsed = parseResponsesRequest(body);
      original = parsed.original;
      return parsed.chat;
    },
    stream: (ctx, res, headers) => (isNative(ctx) ? nativeStream(ctx, res, headers, request.body as Record<string, unknown>) : streamInto(ctx, new ResponsesSink(res, headers, requestOf(), ctx.record))),
    complete: async (ctx) => {
      if (isNative(ctx)) return new RawJson(await nativeComplete(ctx, request.body as Record<string, unknown>));
      const { completion } = await completeForClient(ctx);
      if (completion.usage) ctx.record.usage = completion.usage;
      else ctx.record.completionChars = completionChars(completion);
      return completionToResponse(requestOf(), completion);
    },
  });
}
