import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway, RequestContext } from '../../server/state.js';
import { estimateUsage, completionChars } from '../../observability/usage.js';
import { completeForClient, streamInto } from '../../pipeline.js';
import { estimateInputTokens } from './count-tokens.js';
import { anthropicErrorReply } from './errors.js';
import { completionToMessage, type AnswerOptions } from './message.js';
import { isNative, nativeComplete, nativeStream, type NativeForward } from './native.js';
import { parseMessagesRequest, type ParsedMessages } from './request.js';
import { MessagesSink } from './stream.js';
import type { ChatRequest } from '../../core/types.js';
import { RawJson, runExchange } from '../../server/exchange.js';

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** What a native passthrough forwards besides the body: Anthropic's headers and the query string. */
function forwardOf(request: FastifyRequest): NativeForward {
  const at = request.url.indexOf('?');
  return { version: header(request, 'anthropic-version'), beta: header(request, 'anthropic-beta'), query: at < 0 ? '' : request.url.slice(at) };
}

function answerOptions(ctx: RequestContext, parsed: ParsedMessages): AnswerOptions {
  return {
    model: parsed.request.model,
    showThinking: parsed.showThinking,
    stopSequences: parsed.request.stop_sequences ?? [],
    estimate: (chars) => estimateUsage(ctx.request, chars),
  };
}

/** A validated body, set by parse (which runs first). */
function holder(): { set(p: ParsedMessages): ChatRequest; get(): ParsedMessages } {
  let parsed: ParsedMessages | undefined;
  return {
    set: (p) => {
      parsed = p;
      return p.chat;
    },
    get: () => parsed as ParsedMessages,
  };
}

/**
 * POST /v1/messages: the Anthropic Messages API. Routes whose every target is an Anthropic-type
 * upstream are passed through natively (byte for byte); any other is translated to the canonical
 * chat request and its answer back into Anthropic's message and event shapes.
 */
export function handleMessages(gateway: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const parsed = holder();
  const forward = forwardOf(request);
  return runExchange(gateway, request, reply, {
    parse: (body) => parsed.set(parseMessagesRequest(body)),
    stream: (ctx, res, headers) => {
      const p = parsed.get();
      if (isNative(ctx)) return nativeStream(ctx, res, headers, p.body, forward);
      if (p.translationError) throw p.translationError;
      return streamInto(ctx, new MessagesSink(res, headers, answerOptions(ctx, p), ctx.record));
    },
    complete: async (ctx) => {
      const p = parsed.get();
      if (isNative(ctx)) return new RawJson(await nativeComplete(ctx, '/messages', p.body, forward));
      if (p.translationError) throw p.translationError;
      const { completion } = await completeForClient(ctx);
      if (completion.usage) ctx.record.usage = completion.usage;
      else ctx.record.completionChars = completionChars(completion);
      return completionToMessage(completion, answerOptions(ctx, p));
    },
    errorReply: anthropicErrorReply,
  });
}

/**
 * POST /v1/messages/count_tokens: exact from an Anthropic-type upstream's own endpoint when the
 * route goes only there, else an estimate (see estimateInputTokens) in the same shape.
 */
export function handleCountTokens(gateway: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const parsed = holder();
  const forward = forwardOf(request);
  return runExchange(gateway, request, reply, {
    parse: (body) => {
      const chat = parsed.set(parseMessagesRequest(body, true));
      chat.stream = false;
      return chat;
    },
    stream: () => Promise.resolve(),
    complete: async (ctx) => {
      // Counting generates nothing: no tokens to account for, estimated or not.
      ctx.record.usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
      if (isNative(ctx)) return new RawJson(await nativeComplete(ctx, '/messages/count_tokens', parsed.get().body, forward));
      return { input_tokens: estimateInputTokens(parsed.get().request) };
    },
    errorReply: anthropicErrorReply,
  });
}
