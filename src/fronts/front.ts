import type { IncomingHttpHeaders } from 'node:http';
import type { SluiceError } from '../core/errors.js';
import type { SseEvent } from '../core/events.js';
import type { ChunkSink, UsageTally } from '../core/sink.js';
import type { ChatCompletion, ChatRequest, Usage } from '../core/types.js';
import type { RequestContext } from '../server/state.js';
import type { SseWriter } from '../streaming/sse-writer.js';

/**
 * The Front contract. A front is one inbound API (chat completions, Responses, Anthropic Messages):
 * it owns everything that is that API's own (its routes, request shape, client-key header, error
 * shape, stream events and JSON body) and nothing else. The server serves every front in
 * `fronts/index.ts` the same way (server/exchange.ts):
 *
 *   front.parse(body, headers) -> FrontRequest { chat, ... }        400 in the front's shape if bad
 *   route + attempts + adapter run `chat` (pipeline.ts)               the same for every front
 *   stream:     request.sink(writer, tally) turns canonical events into the front's SSE
 *   non-stream: request.complete(result) turns the chat.completion into the front's JSON
 *   an error:   front.errorReply before the sink commits, front.errorEvent (via sink.fail) after
 *
 * With `native`, a request whose every target speaks the front's protocol itself (an adapter's
 * `nativePath`) skips translation: the client's body goes upstream with `model` and `stream` set,
 * and the upstream's bytes come back untouched (pipeline-native.ts).
 *
 * Adding a front: a folder `fronts/<name>/` exporting a `Front`, plus one line in `fronts/index.ts`.
 */
export interface Front {
  /** A short name for logs: `chat`, `responses`, `messages`. */
  readonly name: string;
  /** The POST route paths it serves, e.g. `/v1/chat/completions`. */
  readonly paths: readonly string[];
  /** Unknown endpoints under this path prefix answer 404 in this front's shape (OpenAI's elsewhere). */
  readonly prefix?: string;
  /**
   * The client key presented in this API's own way (undefined when none was sent); the server
   * checks it against `server.api_keys` before anything else runs.
   */
  clientKey(headers: IncomingHttpHeaders): string | undefined;
  /**
   * Parses and validates one request (fastify has parsed the JSON; `body` is anything; `url` is
   * the path with its query string). Throws a SluiceError (400) naming the field for a bad one.
   */
  parse(body: unknown, headers: IncomingHttpHeaders, url: string): FrontRequest;
  /**
   * An error before the first byte, as this API writes it: status, headers (the error's own,
   * Retry-After say, included) and JSON body. Also used for fastify's own errors on this front's
   * paths (bad JSON, empty body, body too large) and a failed client-key check.
   */
  errorReply(error: SluiceError): ErrorReply;
  /**
   * The in-stream error event (SSE text, the stream's last write) for a failure after the first
   * byte, when the status can no longer change. Its sinks end with it, and so does a native stream.
   */
  errorEvent(error: SluiceError): string;
  /** Native passthrough, for fronts whose protocol some providers serve themselves. */
  readonly native?: NativeProtocol;
}

/** One parsed request: the canonical request to run, and what the front keeps to answer it. */
export interface FrontRequest {
  /** What the pipeline runs, for every provider. `stream` says which of sink/complete is used. */
  readonly chat: ChatRequest;
  /** The sink for a stream client: canonical events -> this API's SSE, written through `writer`. */
  sink(writer: SseWriter, tally: UsageTally): ChunkSink;
  /**
   * The JSON body for a non-stream client. `upstreamText`, when set, is the upstream's own body
   * for `completion` (the adapter took it unchanged): a front that sends the completion as is can
   * send that text and skip a serialisation.
   */
  complete(completion: ChatCompletion, upstreamText: string | undefined): string;
  /**
   * Set when the body is valid for this API but `chat` cannot carry it (a feature only the
   * native protocol has): a route that is not native fails with it before any upstream call.
   */
  readonly untranslatable?: SluiceError;
  /**
   * An answer made here, without an upstream, when the route is not native (count_tokens' estimate):
   * the JSON body and the usage to log. Non-stream only.
   */
  local?(): { body: string; usage: Usage };
  /** What a native passthrough sends (required when the front declares `native`). */
  readonly native?: NativeRequest;
  /**
   * The request's context for the pipeline, when the front needs another view of it: fewer
   * targets, or other adapters (legacy completions run over each provider's /completions adapter).
   */
  route?(ctx: RequestContext): RequestContext;
  /**
   * A non-stream answer the front makes itself through the attempt loop (runTargets), for an API
   * that is not a chat completion at all (embeddings). Resolves to the JSON body.
   */
  answer?(ctx: RequestContext): Promise<string>;
}

/** The client's request as a native upstream gets it. */
export interface NativeRequest {
  /** The body for one attempt: the client's, with the upstream's model name. */
  body(upstreamModel: string): string;
  /** Client headers passed on (`anthropic-beta`, say), over the provider's own (never its key). */
  readonly headers?: Record<string, string>;
  /** The client's query string, with its `?`, or ''. */
  readonly query?: string;
}

export interface ErrorReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A protocol that providers may serve natively (declared per provider by `Adapter.nativePath`).
 * The passthrough forwards bytes; it only reads, on the side, what the access log needs.
 */
export interface NativeProtocol {
  /** The name adapters answer to in `nativePath(protocol, provider)`: `responses`, `messages`. */
  readonly protocol: string;
  /** Usage (in chat terms) from the upstream's whole JSON body, parsed (undefined if not JSON). */
  responseUsage(body: unknown): Usage | undefined;
  /** A reader for one native stream's events (non-stream-only protocols leave it out). */
  streamReader?(): NativeStreamReader;
}

/** Reads one native stream's events on the side, as they pass through untouched. */
export interface NativeStreamReader {
  /** Every upstream event, in order: parse only what is needed (usage, the end, an error). */
  event(event: SseEvent): void;
  /** The usage seen so far, in chat terms. */
  readonly usage: Usage | undefined;
  /** Set when the upstream reported an error in the stream (it reaches the client as sent, with any provider key redacted). */
  readonly failed: boolean;
  /** At the upstream's EOF: why the stream is incomplete, if it is (the client then gets the front's error event). */
  end(provider: string): SluiceError | undefined;
}

/** `Authorization: Bearer <key>`'s key. */
export function bearerKey(headers: IncomingHttpHeaders): string | undefined {
  const value = headers.authorization;
  if (value === undefined) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(value.trim());
  return match?.[1]?.trim();
}

/** A key sent in a header of its own (`x-api-key`): its first value. */
export function headerKey(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
