import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../../server/state.js';
import type { ServerResponse } from 'node:http';
import { completeForClient, streamInto } from '../../pipeline.js';
import { SseWriter } from '../../streaming/sse-writer.js';
import type { RequestContext } from '../../server/state.js';
import { ChatSseSink } from './sink.js';
import type { ChatCompletion } from '../../core/types.js';
import { completionChars } from '../../observability/usage.js';
import { RawJson, runExchange } from '../../server/exchange.js';
import { parseChatRequest } from './request.js';

/** A chat completions stream client: the chat SSE sink over the SSE writer. */
function streamToClient(ctx: RequestContext, res: ServerResponse, headers: () => Record<string, string>): Promise<void> {
  return streamInto(ctx, new ChatSseSink(new SseWriter(res, headers), ctx.request.stream_options?.include_usage === true, ctx.record));
}

/** What a span says of a whole completion (only computed when tracing is on). */
function traceCompletion(ctx: RequestContext, completion: ChatCompletion): void {
  ctx.record.responseModel = completion.model;
  ctx.record.finishReasons = completion.choices.flatMap((c) => (c.finish_reason ? [c.finish_reason] : []));
  ctx.trace?.output(completion.choices.map((c) => c.message));
}

/** POST /v1/chat/completions. */
export function handleChatCompletion(gateway: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return runExchange(gateway, request, reply, {
    parse: parseChatRequest,
    stream: (ctx, res, headers) => streamToClient(ctx, res, headers),
    complete: async (ctx): Promise<ChatCompletion | RawJson> => {
      const { completion, upstreamText } = await completeForClient(ctx);
      if (completion.usage) ctx.record.usage = completion.usage;
      else ctx.record.completionChars = completionChars(completion);
      if (ctx.trace !== undefined) traceCompletion(ctx, completion);
      // What the adapter did not change goes out as the upstream sent it, not re-serialised.
      return upstreamText === undefined ? completion : new RawJson(upstreamText);
    },
  });
}
