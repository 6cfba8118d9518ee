import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessLines, startGateway, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { fixture } from '../helpers/sse-feed.js';
import { sseHead, startUpstream, type FakeUpstream } from '../helpers/upstream.js';

// Native passthrough: a route whose every target is an Anthropic-type upstream gets the client's
// body (only `model` replaced) and answers with the upstream's bytes, unchanged.

const RECORDED = fixture('anthropic/native-thinking-cache.sse');

/** The whole message the recorded stream builds, as the upstream would answer it without `stream`. */
const WHOLE = JSON.stringify({
  id: 'msg_01NativeCache',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [
    { type: 'thinking', thinking: 'Thinking about it.', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3h' },
    { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' },
    { type: 'text', text: 'Sunny — ☀️', citations: null },
  ],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 21, cache_creation_input_tokens: 0, cache_read_input_tokens: 2048, output_tokens: 188 },
});

/** A request with everything a translation would lose: cache_control at three levels, thinking history, a server tool. */
const REQUEST = {
  model: 'claude-sonnet-4-5',
  max_tokens: 2048,
  thinking: { type: 'enabled', budget_tokens: 1024 },
  system: [{ type: 'text', text: 'You answer with sources.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
  tools: [
    { type: 'web_search_20250305', name: 'web_search', max_uses: 1 },
    { name: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } }, cache_control: { type: 'ephemeral' } },
  ],
  context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
  messages: [
    { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?', cache_control: { type: 'ephemeral' } }] },
    { role: 'assistant', content: [{ type: 'thinking', thinking: 'Earlier thought.', signature: 'EqQBsig' }, { type: 'redacted_thinking', data: 'EmwKred' }, { type: 'text', text: 'Let me look.' }] },
    { role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Paris is in France.' }, citations: { enabled: true } }, { type: 'text', text: 'Go on.' }] },
  ],
};

let upstream: FakeUpstream;
let gateway: RunningGateway;
let cutStream = false;

beforeAll(async () => {
  upstream = await startUpstream((req, res, raw) => {
    if (req.body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_up' });
      res.end(WHOLE);
      return;
    }
    sseHead(res);
    if (cutStream) {
      // Half the recorded stream, then the connection drops: no message_stop.
      res.write(RECORDED.subarray(0, Math.floor(RECORDED.length / 2)));
      setTimeout(() => raw.socket.destroy(), 20);
      return;
    }
    // Written in small pieces, split anywhere (mid-event, mid-UTF-8): the bytes must still come out whole.
    let at = 0;
    const timer = setInterval(() => {
      const next = Math.min(RECORDED.length, at + 97);
      res.write(RECORDED.subarray(at, next));
      at = next;
      if (at >= RECORDED.length) {
        clearInterval(timer);
        res.end();
      }
    }, 1);
  });
  gateway = await startGateway(`
server:
  api_keys: [client-key]
providers:
  - {name: anthropic, type: anthropic, base_url: "${upstream.url}", api_key: sk-ant-upstream, max_retries: 0, models: {claude-sonnet-4-5: claude-sonnet-4-5-20250929}}
`);
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

function post(body: unknown, query = '?beta=true'): Promise<Response> {
  return fetch(`${gateway.url}/v1/messages${query}`, {
    method: 'POST',
    headers: { 'x-api-key': 'client-key', 'anthropic-version': '2023-06-01', 'anthropic-beta': 'interleaved-thinking-2025-05-14,context-management-2025-06-27', 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('native passthrough over an Anthropic-type upstream', () => {
  it('a recorded stream (thinking signatures, redacted thinking, server tool, citations, cache usage) comes out byte for byte', async () => {
    const response = await post({ ...REQUEST, stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.equals(RECORDED)).toBe(true);

    // What the upstream got: the client's body with only the model replaced, the client's
    // Anthropic headers, the provider's key (never the client's), the query string.
    const sent = upstream.requests.at(-1);
    expect(sent?.url).toBe('/v1/messages?beta=true');
    expect(sent?.body).toEqual({ ...REQUEST, stream: true, model: 'claude-sonnet-4-5-20250929' });
    expect(sent?.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent?.headers['anthropic-beta']).toBe('interleaved-thinking-2025-05-14,context-management-2025-06-27');
    expect(sent?.headers['x-api-key']).toBe('sk-ant-upstream');

    // Usage is still read for the access log: input includes the cache reads.
    await waitFor(() => accessLines(gateway).some((l) => l.stream === true && l.outcome === 'ok'));
    const line = accessLines(gateway).find((l) => l.stream === true && l.outcome === 'ok') as Record<string, unknown>;
    expect(line).toMatchObject({ api: '/v1/messages', provider: 'anthropic', prompt_tokens: 21 + 2048, completion_tokens: 188 });
    expect(line.usage_estimated).toBeUndefined();
  });

  it('non-stream: the upstream JSON byte for byte', async () => {
    const response = await post(REQUEST, '');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(WHOLE);
    expect(upstream.requests.at(-1)?.url).toBe('/v1/messages');
  });

  it('the official SDK reads the passed-through stream: signature, redacted thinking, citations intact', async () => {
    const client = new Anthropic({ baseURL: gateway.url, apiKey: 'client-key', maxRetries: 0 });
    const message = await client.messages.stream(REQUEST as unknown as Anthropic.MessageCreateParamsNonStreaming).finalMessage();
    expect(message.id).toBe('msg_01NativeCache');
    expect(message.content.map((b) => b.type)).toEqual(['thinking', 'redacted_thinking', 'server_tool_use', 'web_search_tool_result', 'text']);
    expect(message.content[0]).toMatchObject({ signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+Lzr2GZ5Sm4FvqI4CW1qFwTqTZJYQgxXaWmDVhXvCxXEv/uVqtIKxL2vw==' });
    expect((message.content[4] as Anthropic.TextBlock).citations?.[0]).toMatchObject({ type: 'web_search_result_location', url: 'https://weather.example/paris' });
    expect(message.usage).toMatchObject({ cache_read_input_tokens: 2048, output_tokens: 188, server_tool_use: { web_search_requests: 1 } });
  });

  it('a native stream cut before message_stop ends with an error event the SDK throws on', async () => {
    cutStream = true;
    try {
      const client = new Anthropic({ baseURL: gateway.url, apiKey: 'client-key', maxRetries: 0 });
      const err = (await client.messages
        .stream(REQUEST as unknown as Anthropic.MessageCreateParamsNonStreaming)
        .finalMessage()
        .then(
          () => undefined,
          (e: unknown) => e,
        )) as InstanceType<typeof Anthropic.APIError>;
      expect(err).toBeInstanceOf(Anthropic.APIError);
      expect(err.type).toBe('api_error');
      expect(err.message).toMatch(/ended the stream early/);
    } finally {
      cutStream = false;
    }
  });
});
