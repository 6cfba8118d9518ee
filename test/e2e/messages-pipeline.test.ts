import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessLines, startGateway, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { chunk, DONE, sseHead, startUpstream, textStream, type FakeUpstream } from '../helpers/upstream.js';

// The Messages front runs on the shared pipeline: retries, fallback, commit-late, keep-alive pings,
// client-disconnect abort and the body limit behave as on the chat front.

let gateway: RunningGateway;
let flaky: FakeUpstream;
let steady: FakeUpstream;
let slow: FakeUpstream;
let silent: FakeUpstream;
let flakyCalls = 0;

beforeAll(async () => {
  // Opens a stream, sends the role chunk, then dies: nothing substantive reached the client yet.
  flaky = await startUpstream((_req, res, raw) => {
    flakyCalls++;
    sseHead(res);
    res.write(chunk({ role: 'assistant', content: '' }));
    setTimeout(() => raw.socket.destroy(), 10);
  });
  steady = await startUpstream((_req, res) => {
    sseHead(res);
    res.end(textStream(['Steady', ' answer']));
  });
  // Waits before its first token (pings go out meanwhile), then streams until the client leaves.
  slow = await startUpstream((_req, res) => {
    sseHead(res);
    let n = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      n++;
      if (n >= 8) res.write(chunk({ content: 'tick ' }));
      if (n > 400) {
        clearInterval(timer);
        res.end(chunk({}, 'stop') + DONE);
      }
    }, 25);
  });
  // Never answers: the first-byte timeout fires.
  silent = await startUpstream(() => undefined);
  gateway = await startGateway(`
server:
  keepalive_ms: 50
  body_limit_mb: 0.01
providers:
  - {name: flaky, type: openai, base_url: "${flaky.url}", max_retries: 1, models: [m]}
  - {name: steady, type: openai, base_url: "${steady.url}", models: [m]}
  - {name: slow, type: openai, base_url: "${slow.url}", models: [slow-model]}
  - {name: silent, type: openai, base_url: "${silent.url}", models: [silent-model], max_retries: 0, timeouts: {first_byte_ms: 300}}
routes:
  - {name: claude-haiku-4-5, targets: [{model: flaky/m}, {model: steady/m}]}
`);
});

afterAll(async () => {
  await gateway.close();
  for (const u of [flaky, steady, slow, silent]) await u.close();
});

const client = (): Anthropic => new Anthropic({ baseURL: gateway.url, apiKey: 'unused', maxRetries: 0, timeout: 10_000 });

describe('Messages front on the shared pipeline', () => {
  it('commit late: a target that fails after opening is retried, then falls back, invisibly to a stream client', async () => {
    flakyCalls = 0;
    const message = await client().messages.stream({ model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
    expect(message.content).toEqual([{ type: 'text', text: 'Steady answer' }]);
    expect(flakyCalls).toBe(2); // the first try and its one retry
    await waitFor(() => accessLines(gateway).some((l) => l.api === '/v1/messages' && l.provider === 'steady'));
    const line = accessLines(gateway).find((l) => l.api === '/v1/messages' && l.provider === 'steady') as Record<string, unknown>;
    expect((line.attempts as Array<{ provider: string; outcome: string }>).map((a) => [a.provider, a.outcome])).toEqual([
      ['flaky', 'truncated'],
      ['flaky', 'truncated'],
      ['steady', 'ok'],
    ]);
  });

  it('pings while waiting for the first token: message_start, then ping events, then the content', async () => {
    const controller = new AbortController();
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow/slow-model', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('content_block_delta')) text += new TextDecoder().decode((await reader.read()).value);
    const names = text
      .split('\n')
      .filter((l) => l.startsWith('event: '))
      .map((l) => l.slice(7));
    expect(names[0]).toBe('message_start');
    expect(names[1]).toBe('ping');
    expect(names.indexOf('content_block_start')).toBeGreaterThan(1);
    expect(text).toContain('event: ping\ndata: {"type":"ping"}\n\n');

    // The client leaves mid-stream: the upstream request is aborted, the log says client_abort.
    const upstreamRequests = slow.requests.length;
    controller.abort();
    await slow.socketClosed(upstreamRequests - 1);
    await waitFor(() => accessLines(gateway).some((l) => l.api === '/v1/messages' && l.outcome === 'client_abort'));
    const line = accessLines(gateway).find((l) => l.api === '/v1/messages' && l.outcome === 'client_abort') as Record<string, unknown>;
    expect(line.status).toBe(499);
  });

  it('a body over server.body_limit_mb: 413 request_too_large in Anthropic shape', async () => {
    const big = 'x'.repeat(20_000);
    const err = (await client()
      .messages.create({ model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: big }] })
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as InstanceType<typeof Anthropic.APIError>;
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.status).toBe(413);
    expect(err.error).toEqual({ type: 'error', error: { type: 'request_too_large', message: expect.stringContaining('body_limit_mb') } });
  });

  it('an upstream timeout: 504 timeout_error; on a stream whose pings already sent the status, the error event', async () => {
    const c = client();
    const params = { model: 'silent-model', max_tokens: 10, messages: [{ role: 'user' as const, content: 'hi' }] };
    const failure = (promise: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> =>
      promise.then(
        () => {
          throw new Error('expected a failure');
        },
        (e: unknown) => e as InstanceType<typeof Anthropic.APIError>,
      );
    const whole = await failure(c.messages.create(params));
    expect(whole).toBeInstanceOf(Anthropic.APIError);
    expect([whole.status, whole.type]).toEqual([504, 'timeout_error']);
    const streamed = await failure(c.messages.stream(params).finalMessage());
    expect(streamed).toBeInstanceOf(Anthropic.APIError);
    expect(streamed.type).toBe('timeout_error');
    expect(streamed.message).toMatch(/timed out/);
  });
});
