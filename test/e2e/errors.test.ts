import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { accessLines, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { completion, sseHead, textStream, type FakeUpstream, type UpstreamHandler } from '../helpers/upstream.js';

const scoped = closedAfterEach();

async function setup(handler: UpstreamHandler, options: { retries?: number; server?: string } = {}): Promise<{ upstream: FakeUpstream; gateway: RunningGateway }> {
  const upstream = await scoped.upstream(handler);
  const gateway = await scoped.gateway(
    `
server:
  api_keys: [\${CLIENT_KEY}]
  body_limit_mb: 1
${options.server ?? ''}
providers:
  - name: up
    type: openai
    base_url: ${upstream.url}
    api_key: \${UPSTREAM_KEY}
    headers: {X-Extra: extra-value}
    models: [m]
    max_retries: ${options.retries ?? 1}
`,
    { CLIENT_KEY: 'client-key', UPSTREAM_KEY: 'sk-upstream-secret' },
  );
  return { upstream, gateway };
}

function post(g: RunningGateway, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer client-key', ...headers }, body });
}

function expectOpenAIError(body: unknown): void {
  expect(body).toEqual({ error: { message: expect.any(String), type: expect.any(String), param: expect.toBeOneOf([null, expect.any(String)]), code: expect.toBeOneOf([null, expect.any(String)]) } });
}

const ok: UpstreamHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(completion('fine')));
};

describe('errors and bad input', () => {
  it('rejects malformed JSON with 400 invalid_request_error', async () => {
    const { gateway } = await setup(ok);
    const response = await post(gateway, '{"model": "up/m", "messages": [');
    expect(response.status).toBe(400);
    const body = await response.json();
    expectOpenAIError(body);
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/not valid JSON/);
  });

  it.each([
    ['{"model":"up/m"}', 'messages'],
    ['{"messages":[{"role":"user","content":"x"}]}', 'model'],
    ['{"model":"up/m","messages":[{"role":"user","content":"x"}],"stream":"yes"}', 'stream'],
    ['{"model":"up/m","messages":[]}', 'messages'],
  ])('names the bad field in param: %s', async (body, param) => {
    const { gateway } = await setup(ok);
    const response = await post(gateway, body);
    expect(response.status).toBe(400);
    const json = await response.json();
    expectOpenAIError(json);
    expect(json.error.param).toBe(param);
  });

  it('answers 401 for a missing or wrong client key, in OpenAI shape, without echoing the key', async () => {
    const { gateway } = await setup(ok);
    const missing = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
    expect(missing.status).toBe(401);
    expectOpenAIError(await missing.json());
    const wrong = await post(gateway, '{}', { authorization: 'Bearer nope-wrong-key' });
    expect(wrong.status).toBe(401);
    const text = await wrong.text();
    expect(text).toContain('invalid_api_key');
    expect(text).not.toContain('nope-wrong-key');
    await expect(gateway.client({ apiKey: 'bad' }).chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('answers 404 model_not_found for an unknown model', async () => {
    const { gateway } = await setup(ok);
    const response = await post(gateway, JSON.stringify({ model: 'nowhere/x', messages: [{ role: 'user', content: 'x' }] }));
    expect(response.status).toBe(404);
    const body = await response.json();
    expect(body.error).toMatchObject({ code: 'model_not_found', param: 'model' });
    await expect(gateway.client().chat.completions.create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('answers 413 for a body over the limit and keeps serving', async () => {
    const { gateway } = await setup(ok);
    const big = JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'x'.repeat(2 * 1024 * 1024) }] });
    const response = await post(gateway, big);
    expect(response.status).toBe(413);
    expectOpenAIError(await response.json());
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
  });

  it('passes a 429 through with its body and Retry-After / x-ratelimit headers', async () => {
    const { upstream, gateway } = await setup((_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30', 'x-ratelimit-remaining-requests': '0', 'x-other': 'no' });
      res.end(JSON.stringify({ error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } }));
    });
    const response = await post(gateway, JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] }));
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('30');
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(response.headers.get('x-other')).toBeNull();
    expect(await response.json()).toEqual({ error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } });
    // Retry-After beyond the retry cap: no retry burned upstream.
    expect(upstream.requests).toHaveLength(1);
    await expect(gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });

  it('heals a 500 with a retry', async () => {
    let calls = 0;
    const { upstream, gateway } = await setup((_req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"boom","type":"server_error","param":null,"code":null}}');
        return;
      }
      ok(_req, res, undefined as never);
    });
    const result = await gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] });
    expect(result.choices[0]?.message.content).toBe('fine');
    expect(upstream.requests).toHaveLength(2);
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]).toMatchObject({ outcome: 'ok', attempts: [{ provider: 'up', status: 500, outcome: 'upstream_status' }, { provider: 'up', outcome: 'ok' }] });
  });

  it('heals a 503 on a stream request with a retry before any byte is sent', async () => {
    let calls = 0;
    const { gateway } = await setup((_req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('upstream busy');
        return;
      }
      sseHead(res);
      res.end(textStream(['retried']));
    });
    let text = '';
    for await (const c of await gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x' }], stream: true })) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('retried');
  });

  it.each([
    ['vLLM integer code', 400, 'application/json', '{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}', 400, 'max_tokens is too large'],
    ['a flat message', 400, 'application/json', '{"message":"bad things"}', 400, 'bad things'],
    ['FastAPI detail', 422, 'application/json', '{"detail":"field required"}', 422, 'field required'],
    ['plain text', 502, 'text/plain', 'upstream connect error', 502, 'upstream connect error'],
    ['an HTML page', 502, 'text/html', '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>', 502, 'HTML page: 502 Bad Gateway'],
  ])('normalises %s to the OpenAI error shape', async (_name, status, type, body, expected, message) => {
    const { gateway } = await setup(
      (_req, res) => {
        res.writeHead(status, { 'content-type': type });
        res.end(body);
      },
      { retries: 0 },
    );
    const response = await post(gateway, JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] }));
    expect(response.status).toBe(expected);
    const json = await response.json();
    expectOpenAIError(json);
    expect(json.error.message).toContain(message);
  });

  it('answers 502 when the upstream is unreachable, naming the provider', async () => {
    const gateway = await scoped.gateway(`
providers:
  - name: dead
    type: openai
    base_url: http://127.0.0.1:9/v1
    max_retries: 0
`);
    const response = await post(gateway, JSON.stringify({ model: 'dead/m', messages: [{ role: 'user', content: 'x' }] }));
    expect(response.status).toBe(502);
    const body = await response.json();
    expectOpenAIError(body);
    expect(body.error.message).toMatch(/'dead' is unreachable/);
  });

  it('answers 502 for an unparseable upstream body', async () => {
    const { gateway } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"choices": [');
    });
    const response = await post(gateway, JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] }));
    expect(response.status).toBe(502);
    expectOpenAIError(await response.json());
  });

  it('forwards unknown fields unchanged and authenticates upstream with the provider key only', async () => {
    const { upstream, gateway } = await setup(ok);
    await gateway.client().chat.completions.create({
      model: 'up/meta-llama/Llama-3',
      messages: [{ role: 'user', content: 'x' }],
      // @ts-expect-error: extensions the SDK does not know
      top_k: 40,
      chat_template_kwargs: { enable_thinking: false },
      metadata: { team: 'a' },
    });
    const seen = upstream.requests[0]!;
    expect(seen.body).toMatchObject({ model: 'meta-llama/Llama-3', top_k: 40, chat_template_kwargs: { enable_thinking: false }, metadata: { team: 'a' }, stream: false });
    expect(seen.headers.authorization).toBe('Bearer sk-upstream-secret');
    expect(seen.headers['x-extra']).toBe('extra-value');
    expect(JSON.stringify(seen.headers)).not.toContain('client-key');
    const logs = gateway.rawLogs.join('');
    expect(logs).not.toContain('sk-upstream-secret');
    expect(logs).not.toContain('client-key');
  });

  it('keeps /healthz answering after a 30 MB body, a malformed body and an upstream reset', async () => {
    const { gateway } = await setup((_req, res) => void res.socket?.destroy(), { retries: 0 });
    const huge = await post(gateway, JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'y'.repeat(30 * 1024 * 1024) }] }));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'request_too_large' } });
    expect((await post(gateway, '{{{')).status).toBe(400);
    expect((await post(gateway, JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] }))).status).toBe(502);
    const health = await fetch(`${gateway.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
  });

  it('answers unknown endpoints with an OpenAI-shaped 404', async () => {
    const { gateway } = await setup(ok);
    const response = await fetch(`${gateway.url}/v1/nothing`, { headers: { authorization: 'Bearer client-key' } });
    expect(response.status).toBe(404);
    expectOpenAIError(await response.json());
  });
});
