import { badRequest } from '../../core/errors.js';
import type { ChatCompletion } from '../../core/types.js';
import { originalTextCompletion, textCompletionAdapterFor, toTextCompletion } from '../../providers/text-completions.js';
import type { GatewayState, RequestContext } from '../../server/state.js';
import type { ProviderRuntime } from '../../upstream/runtime.js';
import { chatErrorEvent } from '../chat/sink.js';
import type { Front, FrontRequest } from '../front.js';
import { openaiClientKey, openaiErrorReply } from '../openai.js';
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
export const completionsFront: Front = {
  name: 'completions',
  paths: ['/v1/completions'],
  clientKey: openaiClientKey,
  parse(body: unknown): FrontRequest {
    const chat = parseTextCompletionRequest(body);
    return {
      chat,
      route: textCompletionContext,
      sink: (writer, tally) => new TextCompletionSseSink(writer, chat.stream_options?.include_usage === true, tally),
      // A whole upstream answer goes back as the upstream wrote it; an aggregated stream is rebuilt.
      complete: (completion: ChatCompletion) => JSON.stringify(originalTextCompletion(completion) ?? toTextCompletion(completion)),
    };
  },
  errorReply: openaiErrorReply,
  errorEvent: chatErrorEvent,
};
