import { ChunkScanner } from '../core/chunk-scan.js';
import { isJsonObject, tryParseJson } from '../core/json.js';
import { upstreamErrorEvent, upstreamInvalid } from '../core/errors.js';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest } from '../core/types.js';
import type { Adapter, BuildContext, UpstreamRequest } from './adapter.js';
import { errorFieldsFromBody, upstreamStatusError } from './upstream-error.js';
import type { SseEvent, StreamEvent } from '../core/events.js';
import { joinUrl } from '../core/url.js';
import type { ProviderConfig } from '../config/schema.js';
import { requestHeaders } from './headers.js';

const DONE: StreamEvent = { type: 'done' };
const OPEN_BRACE = 123;

/**
 * The body an OpenAI-compatible upstream receives: the client's request with every unknown field
 * kept, the upstream model name, and usage always requested on streams (Sluice logs tokens).
 */
export function openaiRequestBody(request: ChatRequest, context: BuildContext): string {
  // Object.assign and assignments rather than spreads and `delete`: half the time (bench/PROFILE.md, "request body").
  const body: ChatRequest = Object.assign({}, request);
  body.model = context.upstreamModel;
  body.stream = context.stream;
  if (context.stream) body.stream_options = Object.assign({}, request.stream_options, { include_usage: true });
  else body.stream_options = undefined; // OpenAI rejects stream_options without stream: true
  return JSON.stringify(body);
}

/** An `{"error": ...}` payload inside a stream, as an error event; retryable unless it is the request's fault. */
export function streamErrorEvent(payload: unknown): StreamEvent {
  const fields = errorFieldsFromBody(502, typeof payload === 'string' ? payload : JSON.stringify(payload));
  const type = fields.type ?? 'server_error';
  const retryable = type !== 'invalid_request_error' && fields.code !== 'context_length_exceeded';
  return { type: 'error', error: upstreamErrorEvent(fields.message, type, fields.code ?? null, 502, retryable) };
}

export function openaiHeaders(provider: ProviderConfig, apiKey: string | undefined, passed?: Record<string, string>): Record<string, string> {
  return requestHeaders(provider, apiKey, 'authorization', 'Bearer ', undefined, passed);
}

/**
 * Any OpenAI-compatible upstream. Streams pass through: each event's JSON text is forwarded as
 * received. The stream's scanner (core/chunk-scan.ts) vouches for most chunks without a parse;
 * every other event is parsed, so an error payload or a broken chunk never reaches a client as is.
 */
export const openaiAdapter: Adapter<ChunkScanner> = {
  buildRequest(request: ChatRequest, context: BuildContext): UpstreamRequest {
    return {
      url: joinUrl(context.provider.base_url ?? 'http://mock.invalid', '/chat/completions'),
      method: 'POST',
      headers: openaiHeaders(context.provider, context.apiKey),
      body: openaiRequestBody(request, context),
    };
  },

  headers: openaiHeaders,

  // `responses: native`: /v1/responses goes byte for byte to the upstream's own /responses.
  nativePath(protocol: string, provider: ProviderConfig): string | undefined {
    return protocol === 'responses' && provider.responses === 'native' ? '/responses' : undefined;
  },

  initStream(): ChunkScanner {
    return new ChunkScanner();
  },

  parseEvent(event: SseEvent, scanner: ChunkScanner): StreamEvent[] {
    const data = event.data;
    if (data === '[DONE]') return [DONE];
    if (event.event === 'error') return [streamErrorEvent(tryParseJson(data) ?? data)];
    // Non-JSON data (`data: keep-alive`) would break every OpenAI client: treat it as a comment.
    if (data.charCodeAt(0) !== OPEN_BRACE && data.trimStart().charCodeAt(0) !== OPEN_BRACE) return [];
    const content = scanner.content(data);
    if (content !== undefined) return [{ type: 'chunk', text: data, content, index: scanner.index }];
    const parsed = tryParseJson(data);
    if (!isJsonObject(parsed)) return [{ type: 'error', error: upstreamInvalid('a stream event is not valid JSON') }];
    if (parsed.error) return [streamErrorEvent(parsed)];
    if (!Array.isArray(parsed.choices)) return [{ type: 'error', error: upstreamInvalid('a stream event is not a chat.completion.chunk') }];
    const chunk = parsed as ChatCompletionChunk;
    scanner.learn(chunk, data);
    return [{ type: 'chunk', chunk, text: data }];
  },

  endStream(): StreamEvent[] {
    return [];
  },

  frameContentBytes(scanner: ChunkScanner, buf: Buffer, view: DataView, from: number, to: number): number {
    return scanner.contentBytes(buf, view, from, to);
  },

  parseResponse(body: unknown): ChatCompletion {
    if (body === null || typeof body !== 'object') throw upstreamInvalid('the body is not a JSON object');
    const record = body as Record<string, unknown>;
    if (record.error) {
      const error = streamErrorEvent(record);
      throw error.type === 'error' ? error.error : upstreamInvalid('an unreadable error body');
    }
    if (!Array.isArray(record.choices)) throw upstreamInvalid('the completion has no choices array');
    return body as ChatCompletion;
  },

  parseError(status: number, bodyText: string) {
    return upstreamStatusError(status, errorFieldsFromBody(status, bodyText));
  },
};
