import { badRequest, upstreamInvalid } from '../core/errors.js';
import { joinUrl } from '../core/url.js';
import type { ProviderType } from '../config/schema.js';
import type { BuildContext, UpstreamRequest } from './adapter.js';
import { azureHeaders } from './azure.js';
import { geminiHeaders } from './gemini/request.js';
import { openaiHeaders } from './openai.js';

/** POST /v1/embeddings as the client sent it: fields Sluice does not know are kept. */
export interface EmbeddingsRequest {
  model: string;
  /** A string, a list of strings, a list of token ids, or a list of such lists. */
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64' | undefined;
  dimensions?: number | undefined;
  [key: string]: unknown;
}

export interface EmbeddingsUsage {
  prompt_tokens: number;
  total_tokens: number;
}

/** OpenAI's embeddings list. */
export interface EmbeddingsResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage?: EmbeddingsUsage;
}

/** What a provider's embeddings API needs: the request to send, and its answer in OpenAI terms. */
export interface EmbeddingsAdapter {
  buildRequest(request: EmbeddingsRequest, context: BuildContext): UpstreamRequest;
  /**
   * The answer, already parsed: `body` is the OpenAI shape to send (undefined when the upstream's
   * own bytes go out unchanged) and `usage` what it cost, when the upstream said.
   */
  parseResponse(body: unknown, request: EmbeddingsRequest): { body: EmbeddingsResponse | undefined; usage: EmbeddingsUsage | undefined };
}

/** The client's body with the upstream's model name: every other field as sent. */
function passthroughBody(request: EmbeddingsRequest, context: BuildContext): string {
  const body = Object.assign({}, request);
  body.model = context.upstreamModel;
  return JSON.stringify(body);
}

function usageOf(body: unknown): EmbeddingsUsage | undefined {
  const usage = (body as { usage?: { prompt_tokens?: unknown; total_tokens?: unknown } } | null)?.usage;
  if (usage === undefined || usage === null || typeof usage.prompt_tokens !== 'number') return undefined;
  return { prompt_tokens: usage.prompt_tokens, total_tokens: typeof usage.total_tokens === 'number' ? usage.total_tokens : usage.prompt_tokens };
}

function checkList(body: unknown): void {
  if (body === null || typeof body !== 'object' || !Array.isArray((body as { data?: unknown }).data)) throw upstreamInvalid('the embeddings answer has no data list');
}

/** OpenAI-compatible upstreams (and the mock): `{base_url}/embeddings`, body and answer untouched. */
const openaiEmbeddings: EmbeddingsAdapter = {
  buildRequest(request, context) {
    return { url: joinUrl(context.provider.base_url ?? 'http://mock.invalid', '/embeddings'), method: 'POST', headers: openaiHeaders(context.provider, context.apiKey), body: passthroughBody(request, context) };
  },
  parseResponse(body) {
    checkList(body);
    return { body: undefined, usage: usageOf(body) };
  },
};

/** Azure OpenAI: the deployment's `/embeddings`, the key in `api-key`. */
const azureEmbeddings: EmbeddingsAdapter = {
  buildRequest(request, context) {
    const deployment = encodeURIComponent(context.upstreamModel);
    const version = encodeURIComponent(context.provider.api_version ?? '2024-10-21');
    return {
      url: joinUrl(context.provider.base_url ?? '', `/openai/deployments/${deployment}/embeddings?api-version=${version}`),
      method: 'POST',
      headers: azureHeaders(context.provider, context.apiKey),
      body: passthroughBody(request, context),
    };
  },
  parseResponse: openaiEmbeddings.parseResponse,
};

/** Float vectors as OpenAI's `base64` encoding: the float32 little-endian bytes. */
export function float32Base64(values: number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i] as number, i * 4);
  return bytes.toString('base64');
}

function geminiTexts(input: EmbeddingsRequest['input']): string[] {
  if (typeof input === 'string') return [input];
  if (input.every((item): item is string => typeof item === 'string')) return input;
  throw badRequest("A Gemini provider embeds text only: 'input' must be a string or a list of strings, not token ids.", 'input');
}

/** Gemini: `models/{model}:batchEmbedContents`, one request per input text. */
const geminiEmbeddings: EmbeddingsAdapter = {
  buildRequest(request, context) {
    const headers = geminiHeaders(context.provider, context.apiKey);
    const model = `models/${context.upstreamModel}`;
    const requests = geminiTexts(request.input).map((text) => {
      const one: Record<string, unknown> = { model, content: { parts: [{ text }] } };
      if (request.dimensions !== undefined) one.outputDimensionality = request.dimensions;
      return one;
    });
    return { url: joinUrl(context.provider.base_url ?? '', `/models/${encodeURIComponent(context.upstreamModel)}:batchEmbedContents`), method: 'POST', headers, body: JSON.stringify({ requests }) };
  },
  parseResponse(body, request) {
    const embeddings = (body as { embeddings?: unknown } | null)?.embeddings;
    if (!Array.isArray(embeddings)) throw upstreamInvalid('the Gemini answer has no embeddings list');
    const base64 = request.encoding_format === 'base64';
    const data = embeddings.map((e: unknown, index) => {
      const values = (e as { values?: unknown } | null)?.values;
      if (!Array.isArray(values) || !values.every((v) => typeof v === 'number')) throw upstreamInvalid(`Gemini embedding ${index} has no values`);
      return { object: 'embedding' as const, index, embedding: base64 ? float32Base64(values) : values };
    });
    const metadata = (body as { usageMetadata?: { promptTokenCount?: unknown; totalTokenCount?: unknown } }).usageMetadata;
    const usage =
      typeof metadata?.promptTokenCount === 'number'
        ? { prompt_tokens: metadata.promptTokenCount, total_tokens: typeof metadata.totalTokenCount === 'number' ? metadata.totalTokenCount : metadata.promptTokenCount }
        : undefined;
    const out: EmbeddingsResponse = { object: 'list', data, model: request.model };
    if (usage !== undefined) out.usage = usage;
    return { body: out, usage };
  },
};

/** Provider type -> its embeddings API; undefined for a type that has none (Anthropic). */
export function embeddingsAdapterFor(type: ProviderType): EmbeddingsAdapter | undefined {
  switch (type) {
    case 'openai':
    case 'mock':
      return openaiEmbeddings;
    case 'azure':
      return azureEmbeddings;
    case 'gemini':
      return geminiEmbeddings;
    case 'anthropic':
      return undefined;
  }
}
