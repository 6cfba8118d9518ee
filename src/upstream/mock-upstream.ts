import type { ProviderConfig } from '../config/schema.js';
import type { UpstreamRequest } from '../providers/adapter.js';
import { textOf } from '../providers/content.js';
import type { ChatMessage } from '../core/types.js';
import type { Cancellation } from './cancellation.js';
import type { UpstreamClient, UpstreamResponse } from './client.js';
import { jsonResponse, mockEmbeddings, mockTextCompletion } from './mock-surface.js';

const encoder = new TextEncoder();
const GREETING = 'Hello from the Sluice mock provider.';

/**
 * An in-process OpenAI-compatible upstream for `type: mock`: it answers with the last user message,
 * word by word, as SSE or JSON with usage, so demos and tests run the whole pipeline with no network.
 * Deterministic: the same request gives the same bytes (ids included).
 */
export class MockUpstream implements UpstreamClient {
  constructor(private readonly provider: ProviderConfig) {}

  async send(request: UpstreamRequest, signal: Cancellation): Promise<UpstreamResponse> {
    signal.throwIfAborted();
    if (request.url.endsWith('/embeddings')) return mockEmbeddings(request);
    if (request.url.endsWith('/completions') && !request.url.endsWith('/chat/completions')) return mockTextCompletion(request, signal, this.provider.token_delay_ms);
    let body: { model?: unknown; messages?: unknown; stream?: unknown; n?: unknown };
    try {
      body = JSON.parse(request.body ?? '{}') as typeof body;
    } catch {
      return jsonResponse(400, { error: { message: 'mock: the body is not JSON', type: 'invalid_request_error', param: null, code: null } });
    }
    const messages = Array.isArray(body.messages) ? (body.messages as ChatMessage[]) : [];
    const model = typeof body.model === 'string' ? body.model : 'mock';
    const words = replyWords(messages);
    const usage = {
      prompt_tokens: messages.reduce((sum, m) => sum + countWords(textOf(m.content, ' ')), 0),
      completion_tokens: words.length,
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const id = `chatcmpl-mock-${words.length}`;
    const created = 1_700_000_000;
    if (body.stream !== true) {
      return jsonResponse(200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: words.join(''), refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage,
      });
    }
    const delay = this.provider.token_delay_ms;
    const chunk = (delta: object, finish: string | null): string =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
    async function* events(): AsyncGenerator<Uint8Array> {
      yield encoder.encode(chunk({ role: 'assistant', content: '', refusal: null }, null));
      for (const word of words) {
        if (delay > 0) await signal.sleep(delay);
        yield encoder.encode(chunk({ content: word }, null));
      }
      yield encoder.encode(chunk({}, 'stop'));
      yield encoder.encode(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\ndata: [DONE]\n\n`);
    }
    return { status: 200, headers: { 'content-type': 'text/event-stream' }, body: events(), destroy: () => undefined, release: () => undefined, buffered: () => false, bodyError: (err) => err };
  }

  async close(): Promise<void> {}
}

function countWords(text: string): number {
  return text.split(/\s+/).filter((w) => w !== '').length;
}

/** The last user message split into tokens that concatenate back to it: "a", " b", " c". */
function replyWords(messages: ChatMessage[]): string[] {
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const text = (lastUser ? textOf(lastUser.content, ' ') : '').trim() || GREETING;
  return text.split(/\s+/).map((word, i) => (i === 0 ? word : ` ${word}`));
}
