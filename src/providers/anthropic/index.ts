import type { Adapter } from '../adapter.js';
import { parseAnthropicError } from './mapping.js';
import { anthropicHeaders, buildAnthropicRequest } from './request.js';
import { parseAnthropicResponse } from './response.js';
import { initAnthropicStream, parseAnthropicEvent, type AnthropicStreamState } from './stream.js';

const NATIVE_PATHS: Record<string, string | undefined> = { messages: '/messages', 'messages/count_tokens': '/messages/count_tokens' };

/** `type: anthropic`: the Messages API (`POST {base_url}/messages`). */
export const anthropicAdapter: Adapter<AnthropicStreamState> = {
  buildRequest: buildAnthropicRequest,
  headers: anthropicHeaders,
  // Messages clients (fronts/messages) reach an Anthropic upstream natively, byte for byte.
  nativePath: (protocol: string) => NATIVE_PATHS[protocol],
  initStream: initAnthropicStream,
  parseEvent: parseAnthropicEvent,
  // A stream without message_stop is truncated; the pipeline reports that.
  endStream: () => [],
  parseResponse: parseAnthropicResponse,
  parseError: parseAnthropicError,
};
