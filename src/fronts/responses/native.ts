import { tryParseJson } from '../../core/json.js';
import type { ServerResponse } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { RequestContext } from '../../server/state.js';
import { withSseHeaders, writeOrWait } from '../../streaming/sse-writer.js';
import { readText, runTargets, sendRequest, type Attempt } from '../../upstream/attempt.js';
import type { UpstreamResponse } from '../../upstream/client.js';
import type { Usage } from '../../core/types.js';
import { joinUrl } from '../../core/url.js';

/** Whether every target of this request serves the Responses API itself (`responses: native`). */
export function isNative(ctx: RequestContext): boolean {
  return ctx.resolution.targets.every((t) => t.provider.responses === 'native');
}

function open(ctx: RequestContext, body: Record<string, unknown>): Promise<UpstreamResponse> {
  return runTargets(ctx, (a: Attempt) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...a.runtime.config.headers };
    if (a.apiKey !== undefined) headers.authorization = `Bearer ${a.apiKey}`;
    const request = { url: joinUrl(a.runtime.config.base_url ?? '', '/responses'), method: 'POST' as const, headers, body: JSON.stringify({ ...body, model: a.target.upstreamModel }) };
    return sendRequest(ctx, a, request);
  });
}

/** Responses usage (input/output tokens) in the chat terms the logs and metrics use. */
function chatUsage(usage: unknown): Usage | undefined {
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

/** Non-stream: the upstream's JSON exactly as it came; usage read for the logs. */
export async function nativeComplete(ctx: RequestContext, body: Record<string, unknown>): Promise<string> {
  const response = await open(ctx, { ...body, stream: false });
  const text = await readText(response, 64 * 1024 * 1024);
  // Not JSON is still the upstream's answer to pass on; only usage is read here.
  const usage = chatUsage((tryParseJson(text) as { usage?: unknown } | null | undefined)?.usage);
  if (usage !== undefined) ctx.record.usage = usage;
  return text;
}

/** Stream: the upstream's bytes forwarded as they come; the final event's usage is read on the side. */
export async function nativeStream(ctx: RequestContext, res: ServerResponse, headers: () => Record<string, string>, body: Record<string, unknown>): Promise<void> {
  const response = await open(ctx, { ...body, stream: true });
  const contentType = response.headers['content-type'];
  // The upstream's own content type, over the SSE headers every stream response sends.
  const out = withSseHeaders(headers());
  out['content-type'] = typeof contentType === 'string' ? contentType : 'text/event-stream';
  res.writeHead(200, out);
  ctx.record.ttftMs = Date.now() - ctx.startedAt;
  const decoder = new TextDecoder();
  const parser = createParser({
    onEvent(event: EventSourceMessage): void {
      if (!event.data.includes('"usage"')) return;
      // A malformed event is the client's to see; Sluice only reads usage here.
      const usage = chatUsage((tryParseJson(event.data) as { response?: { usage?: unknown } } | null | undefined)?.response?.usage);
      if (usage !== undefined) ctx.record.usage = usage;
    },
  });
  try {
    for await (const bytes of response.body) {
      parser.feed(decoder.decode(bytes, { stream: true }));
      await writeOrWait(res, bytes);
    }
  } catch (err) {
    throw response.bodyError(err);
  } finally {
    if (!res.destroyed) res.end();
  }
}
