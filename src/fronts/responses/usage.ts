import type { SseEvent } from '../../core/events.js';
import { tryParseJson } from '../../core/json.js';
import type { Usage } from '../../core/types.js';
import type { NativeProtocol, NativeStreamReader } from '../front.js';

/** Responses usage (input/output tokens) in the chat terms the logs and metrics use. */
export function chatUsage(usage: unknown): Usage | undefined {
  if (usage === null || typeof usage !== 'object') return undefined;
  const u = usage as { input_tokens?: number; output_tokens?: number; total_tokens?: number; input_tokens_details?: { cached_tokens?: number }; output_tokens_details?: { reasoning_tokens?: number } };
  const prompt = u.input_tokens ?? 0;
  const completion = u.output_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: u.total_tokens ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: u.input_tokens_details?.cached_tokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: u.output_tokens_details?.reasoning_tokens ?? 0 },
  };
}

/**
 * The final stream event (`response.completed` and the like) carries the response with its usage;
 * an `error` or `response.failed` event is the upstream's failure (its bytes are redacted on the way).
 */
class ResponsesStreamReader implements NativeStreamReader {
  usage: Usage | undefined;
  failed = false;

  event(event: SseEvent): void {
    if (event.event === 'error' || event.event === 'response.failed') this.failed = true;
    if (!event.data.includes('"usage"')) return;
    // A malformed event is the client's to see; Sluice only reads usage here.
    const usage = chatUsage((tryParseJson(event.data) as { response?: { usage?: unknown } } | null | undefined)?.response?.usage);
    if (usage !== undefined) this.usage = usage;
  }

  end(): undefined {
    return undefined;
  }
}

/** `responses: native` providers serve /responses themselves. */
export const responsesNative: NativeProtocol = {
  protocol: 'responses',
  responseUsage: (body) => chatUsage((body as { usage?: unknown } | null | undefined)?.usage),
  streamReader: () => new ResponsesStreamReader(),
};
