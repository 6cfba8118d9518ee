import type { FastifyReply, FastifyRequest } from 'fastify';
import { badRequest } from '../../core/errors.js';
import { completeForClient, streamInto } from '../../pipeline.js';
import { originalTextCompletion, textCompletionAdapterFor, toTextCompletion, type TextCompletion } from '../../providers/text-completions.js';
import { runExchange } from '../../server/exchange.js';
import type { Gateway, GatewayState, RequestContext } from '../../server/state.js';
import { SseWriter } from '../../streaming/sse-writer.js';
import type { ProviderRuntime } from '../../upstream/runtime.js';
import { parseTextCompletionRequest } from './request.js';
import { TextCompletionSseSink } from './sink.js';

/**
 * Each provider's runtime with the legacy completions adapter in place of its chat one; the pool,
 * keys, breaker and in-flight count are the provider's own (shared with chat requests).
 */
function withAdapter(runtime: ProviderRuntime, adapter: ProviderRuntime['adapter']): ProviderRuntime {
  return {
    config: runtime.config,
    adapter,
    client: runtime.client,
    keys: runtime.keys,
    breaker: runtime.breaker,
    get active(): number {
      return runtime.active;
    },
    set active(n: number) {
      runtime.active = n;
    },
  };
}

/** One view per gateway state (a reload makes a new state, and so a new view). */
const views = new WeakMap<GatewayState, GatewayState>();

function textCompletionState(state: GatewayState): GatewayState {
  let view = views.get(state);
  if (view === undefined) {
    const providers = new Map<string, ProviderRuntime>();
    for (const [name, runtime] of state.providers) {
      const adapter = textCompletionAdapterFor(runtime.config.type);
      if (adapter !== undefined) providers.set(name, withAdapter(runtime, adapter));
    }
    view = { ...state, providers };
    views.set(state, view);
  }
  return view;
}

/**
 * The request's context for the pipeline, over the legacy completions adapters and the targets
 * that have them. A model served only by providers without that API is a 400.
 */
function textCompletionContext(ctx: RequestContext): RequestContext {
  const { targets } = ctx.resolution;
  const able = targets.filter((t) => textCompletionAdapterFor(t.provider.type) !== undefined);
  if (able.length === 0) {
    const names = targets.map((t) => `'${t.provider.name}' (type ${t.provider.type})`).join(', ');
    throw badRequest(`The model '${ctx.request.model}' cannot serve legacy completions: provider ${names} has no /completions API; use /v1/chat/completions.`, 'model', 'model_not_supported');
  }
  return { ...ctx, state: textCompletionState(ctx.state), resolution: able.length === targets.length ? ctx.resolution : { ...ctx.resolution, targets: able } };
}

/** POST /v1/completions (legacy text completions), streamed or whole, on OpenAI-type providers. */
export function handleTextCompletion(gateway: Gateway, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return runExchange(gateway, request, reply, {
    parse: parseTextCompletionRequest,
    stream: (ctx, res, headers) => streamInto(textCompletionContext(ctx), new TextCompletionSseSink(new SseWriter(res, headers), ctx.request.stream_options?.include_usage === true, ctx.record)),
    complete: async (ctx): Promise<TextCompletion> => {
      const { completion } = await completeForClient(textCompletionContext(ctx));
      if (completion.usage) ctx.record.usage = completion.usage;
      else ctx.record.completionChars = completion.choices.reduce((n, c) => n + (c.message.content?.length ?? 0), 0);
      if (ctx.trace !== undefined) {
        ctx.record.responseModel = completion.model;
        ctx.record.finishReasons = completion.choices.flatMap((c) => (c.finish_reason ? [c.finish_reason] : []));
        ctx.trace.output(completion.choices.map((c) => c.message.content));
      }
      // A whole upstream answer goes back as the upstream wrote it; an aggregated stream is rebuilt.
      return originalTextCompletion(completion) ?? toTextCompletion(completion);
    },
  });
}
