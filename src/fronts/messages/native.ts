import { openaiUsage, type AnthropicUsage } from '../../core/anthropic-wire.js';
import { truncated, type SluiceError } from '../../core/errors.js';
import type { SseEvent } from '../../core/events.js';
import { isJsonObject, tryParseJson } from '../../core/json.js';
import type { Usage } from '../../core/types.js';
import type { NativeProtocol, NativeStreamReader } from '../front.js';

/** Reads usage off Anthropic usage objects (cumulative: each overwrites what it names). */
class UsageReader {
  private anthropic: AnthropicUsage | undefined;

  add(value: unknown): void {
    if (!isJsonObject(value)) return;
    const next: AnthropicUsage = { ...this.anthropic };
    for (const key of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const) {
      if (typeof value[key] === 'number') next[key] = value[key];
    }
    this.anthropic = next;
  }

  get usage(): Usage | undefined {
    return this.anthropic === undefined ? undefined : openaiUsage(this.anthropic);
  }
}

/**
 * A native Messages stream, read on the side: usage from message_start and message_delta; an
 * upstream `error` event passes through as sent; a stream cut before `message_stop` gets Sluice's
 * own `error` event, as the SDK would otherwise take it as complete.
 */
class MessagesStreamReader implements NativeStreamReader {
  private readonly reader = new UsageReader();
  private ended = false;
  failed = false;

  get usage(): Usage | undefined {
    return this.reader.usage;
  }

  event(event: SseEvent): void {
    const type = event.event;
    if (type === 'message_stop') this.ended = true;
    else if (type === 'error') {
      this.ended = true;
      this.failed = true;
    } else if (type === 'message_start' || type === 'message_delta') {
      const data = tryParseJson(event.data) as { message?: { usage?: unknown }; usage?: unknown } | undefined;
      this.reader.add(type === 'message_start' ? data?.message?.usage : data?.usage);
    }
  }

  end(provider: string): SluiceError | undefined {
    return this.ended ? undefined : truncated(provider || 'upstream', 'the stream ended before message_stop');
  }
}

/** POST /v1/messages to an Anthropic-type upstream: cache_control, thinking signatures, server tools, betas all go as sent. */
export const messagesNative: NativeProtocol = {
  protocol: 'messages',
  responseUsage(body: unknown): Usage | undefined {
    const reader = new UsageReader();
    reader.add((body as { usage?: unknown } | null | undefined)?.usage);
    return reader.usage;
  },
  streamReader: () => new MessagesStreamReader(),
};

/** Counting generates nothing: no tokens to account for, estimated or not. */
export const NO_USAGE: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

/** POST /v1/messages/count_tokens to an Anthropic-type upstream: the exact count. */
export const countTokensNative: NativeProtocol = {
  protocol: 'messages/count_tokens',
  responseUsage: () => NO_USAGE,
};
