import type { Adapter } from '../adapter.js';
import { parseAnthropicError } from './mapping.js';
import { anthropicHeaders, buildAnthropicRequest } from './request.js';
import { parseAnthropicResponse } from './response.js';
import { initAnthropicStream, parseAnthropicEvent, type AnthropicStreamState } from './stream.js';

/** `type: anthropic`: the Messages API (`POST {base_url}/messages`). */
export const anthropicAdapter: Adapter<AnthropicStreamState> = {
  buildRequest: buildAnthropicRequest,
  headers: anthropicHeaders,
  initStream: initAnthropicStream,
  parseEvent: parseAnthropicEvent,
  // A stream without message_stop is truncated; the pipeline reports that.
  endStream: () => [],
  parseResponse: parseAnthropicResponse,
  parseError: parseAnthropicError,
};
