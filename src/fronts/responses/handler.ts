import type { FastifyReply, FastifyRequest } from 'fastify';
import { badRequest } from '../../core/errors.js';
import type { Gateway, RequestContext } from '../../server/state.js';
import { completionChars } from '../../observability/usage.js';
import { completeForClient, streamInto } from '../../pipeline.js';
import { parseResponsesRequest, type ParsedResponses } from './request.js';
import { completionToResponse } from './response.js';
import { isNative, nativeComplete, nativeStream } from './native.js';
import { ResponsesSink } from './sink.js';
import type { ChatRequest } from '../../core/types.js';
import { RawJson, runExchange } from '../../server/exchange.js';

/**
 * Before a request runs translated (a chat-type target): what only a native upstream could take is a
 * 400 now; hosted tools are dropped (header + access log) or, with `responses.hosted_tools: reject`,
 * a 400; fields the Responses API does not define are ignored, each logged once.
 */
function translated(ctx: RequestContext, parsed: ParsedResponses): ParsedResponses {
  if (parsed.untranslatable !== undefined) throw parsed.untranslatable;
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
  return parsed;
}

/** POST /v1/responses: the Responses API over the chat pipeline, for every provider type. */
export function handleResponses(gateway: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  let parsed: ParsedResponses | undefined;
  const parsedOf = (): ParsedResponses => parsed as ParsedResponses; // set by parse, which runs first
  return runExchange(gateway, request, reply, {
    parse: (body: unknown): ChatRequest => {
      parsed = parseResponsesRequest(body);
      return parsed.chat;
    },
    // A native upstream gets the client's body untouched (only `model` becomes the upstream's name).
    stream: async (ctx, res, headers) => {
      if (isNative(ctx)) return nativeStream(ctx, res, headers, request.body as Record<string, unknown>);
      const { original, tools } = translated(ctx, parsedOf());
      return streamInto(ctx, new ResponsesSink(res, headers, original, ctx.record, tools));
    },
    complete: async (ctx) => {
      if (isNative(ctx)) return new RawJson(await nativeComplete(ctx, request.body as Record<string, unknown>));
      const { original, tools } = translated(ctx, parsedOf());
      const { completion } = await completeForClient(ctx);
      if (completion.usage) ctx.record.usage = completion.usage;
      else ctx.record.completionChars = completionChars(completion);
      return completionToResponse(original, completion, tools);
    },
  });
}
