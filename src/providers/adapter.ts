import type { ProviderConfig } from '../config/schema.js';
import type { SluiceError } from '../core/errors.js';
import type { SseEvent, StreamEvent } from '../core/events.js';
import type { ChatCompletion, ChatRequest } from '../core/types.js';

/** What an adapter asks the upstream client to send. Adapters never do I/O themselves. */
export interface UpstreamRequest {
  url: string;
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: string;
}

export interface BuildContext {
  provider: ProviderConfig;
  /** The model name to send upstream (after routing and any name mapping). */
  upstreamModel: string;
  /** Whether to ask the upstream for SSE. */
  stream: boolean;
  /** The provider key to authenticate with, if any. Never the client's key. */
  apiKey: string | undefined;
}


/**
 * Translation between one provider's wire format and the OpenAI shapes. Pure: no fastify, undici or
 * pino, no clocks beyond `Date.now()` for `created`. Memory that spans events lives in `S`.
 */
export interface Adapter<S = unknown> {
  buildRequest(request: ChatRequest, context: BuildContext): UpstreamRequest;
  /**
   * The headers every request to this provider carries (content type, configured headers, the key
   * in its scheme), with a native passthrough's client headers (`passed`) under the configured
   * ones; a fresh object.
   */
  headers(provider: ProviderConfig, apiKey: string | undefined, passed?: Record<string, string>): Record<string, string>;
  /**
   * Native passthrough (fronts/front.ts, NativeProtocol): the path after `base_url` where this
   * provider serves the front protocol `protocol` itself, or undefined when it does not.
   */
  nativePath?(protocol: string, provider: ProviderConfig): string | undefined;
  initStream(): S;
  /** Zero or more canonical events for one upstream SSE event. */
  parseEvent(event: SseEvent, state: S): StreamEvent[];
  /** Events to emit at upstream EOF (for protocols without a terminator such as `[DONE]`). */
  endStream(state: S): StreamEvent[];
  /** A whole non-stream JSON response body, already parsed. Throws SluiceError when unusable. */
  parseResponse(body: unknown): ChatCompletion;
  /**
   * For upstreams whose events are OpenAI chunks: a single-line `data:` frame's JSON bytes (`buf`
   * from `from` to `to`, `view` a DataView over the same bytes) -> its content's byte length if
   * the frame may go to a chat client as received without being parsed (parseEvent would have
   * made it a plain chunk event with that text), else -1.
   */
  frameContentBytes?(state: S, buf: Buffer, view: DataView, from: number, to: number): number;
  /** An upstream error response (status >= 400) in OpenAI terms. */
  parseError(status: number, bodyText: string): SluiceError;
}
