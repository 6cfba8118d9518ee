import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../gateway.js';
import { completeForClient, streamToClient } from '../pipeline.js';
import type { ChatCompletion } from '../streaming/types.js';
import { completionChars } from '../observability/usage.js';
import { RawJson, runExchange } from './exchange.js';
import { parseChatRequest } from './validate.js';

/** POST /v1/chat/completions. */
export function handleChatCompletion(gateway: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return runExchange(gateway, request, reply, {
    parse: parseChatRequest,
    stream: (ctx, res, headers) => streamToClient(ctx, res, headers),
    complete: async (ctx): Promise<ChatCompletion | RawJson> => {
      const { completion, upstreamText } = await completeForClient(ctx);
      if (completion.usage) ctx.record.usage = completion.usage;
      else ctx.record.completionChars = completionChars(completion);
      // What the adapter did not change goes out as the upstream sent it, not re-serialised.
      return upstreamText === undefined ? completion : new RawJson(upstreamText);
    },
  });
}
