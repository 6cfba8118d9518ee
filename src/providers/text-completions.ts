import { upstreamInvalid } from '../core/errors.js';
import type { SseEvent, StreamEvent } from '../core/events.js';
import { tryParseJson } from '../core/json.js';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, ChunkChoice, CompletionChoice, Logprobs, Usage } from '../core/types.js';
import { joinUrl } from '../core/url.js';
import type { ProviderType } from '../config/schema.js';
import type { Adapter, BuildContext, UpstreamRequest } from './adapter.js';
import { azureHeaders } from './azure.js';
import { openaiAdapter, openaiHeaders, openaiRequestBody, streamErrorEvent } from './openai.js';

/**
 * Legacy text completions (POST /v1/completions) on OpenAI-compatible upstreams. The pipeline is
 * written for chat chunks, so this adapter carries each `text_completion` chunk as a chat chunk
 * (`text` as `delta.content`, every other field kept) and the completions front turns them back:
 * commit late, truncation checks, usage accounting and aggregation then work unchanged.
 */

export interface TextCompletionChoice {
  text: string;
  index: number;
  logprobs: unknown;
  finish_reason: string | null;
  [key: string]: unknown;
}

/** OpenAI's `text_completion` object, whole or as one streamed chunk. */
export interface TextCompletion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: TextCompletionChoice[];
  usage?: Usage | null;
  [key: string]: unknown;
}

const DONE: StreamEvent = { type: 'done' };

/** Upstream answers taken whole: their own object, to send back unchanged rather than rebuilt. */
const originals = new WeakMap<ChatCompletion, TextCompletion>();

/** The upstream's own text_completion behind a completion this adapter parsed, if any. */
export function originalTextCompletion(completion: ChatCompletion): TextCompletion | undefined {
  return originals.get(completion);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A `text_completion` chunk as the chat chunk the pipeline reads. */
export function toChatChunk(chunk: TextCompletion): ChatCompletionChunk {
  const choices: ChunkChoice[] = (Array.isArray(chunk.choices) ? chunk.choices : []).map((c) => {
    const { text, logprobs, ...rest } = c;
    return { ...rest, index: typeof c.index === 'number' ? c.index : 0, delta: typeof text === 'string' && text !== '' ? { content: text } : {}, logprobs: isObject(logprobs) ? (logprobs as Logprobs) : null, finish_reason: c.finish_reason ?? null };
  });
  return { ...chunk, object: 'chat.completion.chunk', choices };
}

/** A chat chunk carried by this adapter back as the `text_completion` chunk a client reads. */
export function toTextChunk(chunk: ChatCompletionChunk): TextCompletion {
  const choices = chunk.choices.map((c): TextCompletionChoice => {
    const { delta, logprobs, index, finish_reason, ...rest } = c;
    return { text: typeof delta?.content === 'string' ? delta.content : '', index, logprobs: logprobs ?? null, finish_reason, ...rest };
  });
  return { ...chunk, object: 'text_completion', choices };
}

/** A whole chat completion (one aggregated from chunks) as a `text_completion`. */
export function toTextCompletion(completion: ChatCompletion): TextCompletion {
  const choices = completion.choices.map((c: CompletionChoice): TextCompletionChoice => {
    const { message, logprobs: _chatShaped, index, finish_reason, ...rest } = c;
    // Aggregated logprobs are in chat's shape, not the legacy one: none rather than a wrong one.
    return { text: message.content ?? '', index, logprobs: null, finish_reason, ...rest };
  });
  return { ...completion, object: 'text_completion', choices };
}

function fromTextCompletion(body: Record<string, unknown>): ChatCompletion {
  const choices: CompletionChoice[] = (body.choices as unknown[]).map((raw, i) => {
    const c = isObject(raw) ? raw : {};
    return { index: typeof c.index === 'number' ? c.index : i, message: { role: 'assistant', content: typeof c.text === 'string' ? c.text : '', refusal: null }, logprobs: null, finish_reason: typeof c.finish_reason === 'string' ? c.finish_reason : null };
  });
  const completion: ChatCompletion = { id: String(body.id ?? ''), object: 'chat.completion', created: Number(body.created ?? 0), model: String(body.model ?? ''), choices };
  if (isObject(body.usage)) completion.usage = body.usage as unknown as Usage;
  return completion;
}

function textCompletionAdapter(url: (context: BuildContext) => string, azure: boolean): Adapter<null> {
  return {
    buildRequest(request: ChatRequest, context: BuildContext): UpstreamRequest {
      // The same body rules as chat: unknown fields kept, the upstream's model, usage asked on streams.
      return { url: url(context), method: 'POST', headers: (azure ? azureHeaders : openaiHeaders)(context.provider, context.apiKey), body: openaiRequestBody(request, context) };
    },
    headers: azure ? azureHeaders : openaiHeaders,
    initStream: () => null,
    parseEvent(event: SseEvent): StreamEvent[] {
      const data = event.data;
      if (data === '[DONE]') return [DONE];
      const parsed = tryParseJson(data);
      if (event.event === 'error') return [streamErrorEvent(parsed ?? data)];
      // Non-JSON data (`data: keep-alive`) is a comment; a broken JSON object ends the stream.
      if (!isObject(parsed)) return data.trimStart().startsWith('{') ? [{ type: 'error', error: upstreamInvalid('a stream event is not valid JSON') }] : [];
      if (parsed.error) return [streamErrorEvent(parsed)];
      return [{ type: 'chunk', chunk: toChatChunk(parsed as TextCompletion) }];
    },
    endStream: () => [],
    parseResponse(body: unknown): ChatCompletion {
      if (!isObject(body)) throw upstreamInvalid('the body is not a JSON object');
      if (body.error) {
        const error = streamErrorEvent(body);
        throw error.type === 'error' ? error.error : upstreamInvalid('an unreadable error body');
      }
      if (!Array.isArray(body.choices)) throw upstreamInvalid('the completion has no choices array');
      const completion = fromTextCompletion(body);
      originals.set(completion, body as TextCompletion);
      return completion;
    },
    parseError: openaiAdapter.parseError,
  };
}

const openaiTextCompletions = textCompletionAdapter((c) => joinUrl(c.provider.base_url ?? 'http://mock.invalid', '/completions'), false);
const azureTextCompletions = textCompletionAdapter(
  (c) => joinUrl(c.provider.base_url ?? '', `/openai/deployments/${encodeURIComponent(c.upstreamModel)}/completions?api-version=${encodeURIComponent(c.provider.api_version ?? '2024-10-21')}`),
  true,
);

/** Provider type -> its legacy completions adapter; undefined for types without that API. */
export function textCompletionAdapterFor(type: ProviderType): Adapter<null> | undefined {
  switch (type) {
    case 'openai':
    case 'mock':
      return openaiTextCompletions;
    case 'azure':
      return azureTextCompletions;
    case 'anthropic':
    case 'gemini':
      return undefined;
  }
}
