import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../gateway.js';
import { completeForClient, streamToClient } from '../pipeline.js';
import type { ChatCompletion } from '../streaming/types.js';
import { completionChars } from '../observability/usage.js';
import { runExchange } from './exchange.js';
import { parseChatRequest } from './validate.js';

/** POST /v1/chat/completions. */
export function handleChatCompletion(gateway: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return runExchange(gateway, request, reply, {
    parse: parseChatRequest,
    stream: (ctx, res, headers) => streamToClient(ctx, res, headers),
    complete: async (ctx): Promise<ChatCompletion> => {
      const completion = await completeForClient(ctx);
      if (completion.usage) ctx.record.usage = completion.usage;
      else ctx.record.completionChars = completionChars(completion);
      return completion;
    },
  });
}
