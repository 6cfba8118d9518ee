import { badRequest, upstreamInvalid } from '../../core/errors.js';
import type { ChatRequest } from '../../core/types.js';
import { embeddingsAdapterFor, type EmbeddingsRequest } from '../../providers/embeddings.js';
import type { RequestContext } from '../../server/state.js';
import { readText, runTargets, sendRequest } from '../../upstream/attempt.js';
import { chatErrorEvent } from '../chat/sink.js';
import type { Front, FrontRequest } from '../front.js';
import { openaiClientKey, openaiErrorReply } from '../openai.js';
import { inputText, parseEmbeddingsRequest } from './request.js';

const MAX_BODY_BYTES = 256 * 1024 * 1024;

/**
 * The embeddings request in the exchange's terms: `messages` carries the input text for the usage
 * estimate only. It is not enumerable, so it never reaches an upstream body (those are built from
 * the embeddings request itself).
 */
function asExchangeRequest(request: EmbeddingsRequest): ChatRequest {
  const out = { model: request.model } as ChatRequest;
  if (request.dimensions !== undefined) out.dimensions = request.dimensions;
  Object.defineProperty(out, 'messages', { value: [{ role: 'user', content: inputText(request.input) }], enumerable: false });
  return out;
}

/**
 * The routed targets that can embed. A model served only by providers without an embeddings API
 * (Anthropic) is the client's mistake, a 400, not an upstream failure.
 */
function embeddingTargets(ctx: RequestContext): RequestContext {
  const { targets } = ctx.resolution;
  const able = targets.filter((t) => embeddingsAdapterFor(t.provider.type) !== undefined);
  if (able.length === 0) {
    const names = targets.map((t) => `'${t.provider.name}' (type ${t.provider.type})`).join(', ');
    throw badRequest(`The model '${ctx.request.model}' cannot create embeddings: provider ${names} has no embeddings API.`, 'model', 'model_not_supported');
  }
  return able.length === targets.length ? ctx : { ...ctx, resolution: { ...ctx.resolution, targets: able } };
}

/** The embeddings answer, through the same attempts (routing, retries, fallback) as chat. */
function embed(ctx: RequestContext, body: EmbeddingsRequest): Promise<string> {
  const routed = embeddingTargets(ctx);
  return runTargets(routed, async (a) => {
    const adapter = embeddingsAdapterFor(a.runtime.config.type);
    if (adapter === undefined) throw badRequest(`Provider '${a.runtime.config.name}' has no embeddings API.`, 'model', 'model_not_supported');
    const response = await sendRequest(routed, a, adapter.buildRequest(body, { provider: a.runtime.config, upstreamModel: a.target.upstreamModel, stream: false, apiKey: a.apiKey }));
    const text = await readText(response, MAX_BODY_BYTES);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw upstreamInvalid('the embeddings answer is not JSON');
    }
    const answer = adapter.parseResponse(parsed, body);
    if (answer.usage !== undefined) ctx.record.usage = { prompt_tokens: answer.usage.prompt_tokens, completion_tokens: 0, total_tokens: answer.usage.total_tokens };
    if (ctx.trace !== undefined) ctx.record.responseModel = answer.body?.model ?? (parsed as { model?: string }).model;
    // An OpenAI-compatible answer goes out as the upstream wrote it (base64 vectors included).
    return answer.body === undefined ? text : JSON.stringify(answer.body);
  });
}

function neverStreams(): never {
  throw new Error('embeddings never stream');
}

/** POST /v1/embeddings: routed, retried and failed over like chat; never streamed. */
export const embeddingsFront: Front = {
  name: 'embeddings',
  paths: ['/v1/embeddings'],
  clientKey: openaiClientKey,
  parse(body: unknown): FrontRequest {
    const embeddings = parseEmbeddingsRequest(body);
    return {
      chat: asExchangeRequest(embeddings),
      answer: (ctx) => embed(ctx, embeddings),
      sink: neverStreams,
      complete: neverStreams,
    };
  },
  errorReply: openaiErrorReply,
  errorEvent: chatErrorEvent,
};
