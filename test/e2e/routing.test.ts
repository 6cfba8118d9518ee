import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { parseConfigText } from '../../src/config/load.js';
import { accessLines, bodyText, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { chunk, completion, sseHead, textStream, type UpstreamHandler } from '../helpers/upstream.js';

const scoped = closedAfterEach();
const upstream = scoped.upstream;
const gatewayFor = scoped.gateway;

const answer = (content: string): UpstreamHandler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(completion(content)));
};

const failWith = (status: number, headers: Record<string, string> = {}): UpstreamHandler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: { message: `failed with ${status}`, type: 'server_error', param: null, code: null } }));
};

function provider(name: string, url: string, extra = ''): string {
  return `  - name: ${name}\n    type: openai\n    base_url: ${url}\n    max_retries: 0\n${extra}`;
}

const ask = (g: RunningGateway, model: string): Promise<Response> =>
  fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }) });

describe('routes and fallback', () => {
  it('falls back from a dead target, says who served in headers, logs every attempt', async () => {
    const b = await upstream(answer('from b'));
    const g = await gatewayFor(`
providers:
${provider('a', 'http://127.0.0.1:9/v1')}
${provider('b', b.url)}
routes:
  - name: smart
    targets: [{model: a/m1}, {model: b/m2}]
`);
    const response = await ask(g, 'smart');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-sluice-provider')).toBe('b');
    expect(response.headers.get('x-sluice-attempts')).toBe('2');
    expect((await response.json()).choices[0].message.content).toBe('from b');
    expect(b.requests[0]?.body.model).toBe('m2');
    await waitFor(() => accessLines(g).length === 1);
    expect(accessLines(g)[0]?.attempts).toEqual([
      expect.objectContaining({ provider: 'a', outcome: 'unreachable' }),
      expect.objectContaining({ provider: 'b', outcome: 'ok' }),
    ]);
  });

  it('falls back from a 503 and from a first-byte timeout, for streams too', async () => {
    const a = await upstream(failWith(503));
    const slow = await upstream(() => undefined);
    const c = await upstream((_req, res) => {
      sseHead(res);
      res.end(textStream(['from c']));
    });
    const g = await gatewayFor(`
providers:
${provider('a', a.url)}
${provider('slow', slow.url, '    timeouts: {first_byte_ms: 200}\n')}
${provider('c', c.url)}
routes:
  - name: chain
    targets: [{model: a/x}, {model: slow/x}, {model: c/x}]
`);
    const stream = await g.client().chat.completions.create({ model: 'chain', messages: [{ role: 'user', content: 'x' }], stream: true });
    let text = '';
    for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
    expect(text).toBe('from c');
    expect(a.requests).toHaveLength(1);
    expect(slow.requests).toHaveLength(1);
  });

  it('does not fall back once a byte was sent: error event + [DONE]', async () => {
    const a = await upstream((_req, res) => {
      sseHead(res);
      res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'started' }));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const b = await upstream(answer('never'));
    const g = await gatewayFor(`
providers:
${provider('a', a.url)}
${provider('b', b.url)}
routes:
  - name: smart
    targets: [{model: a/x}, {model: b/x}]
`);
    const response = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'smart', stream: true, messages: [{ role: 'user', content: 'x' }] }) });
    const text = await bodyText(response);
    expect(text).toContain('started');
    expect(text).toMatch(/data: {"error":.*\n\ndata: \[DONE\]\n\n$/);
    expect(b.requests).toHaveLength(0);
  });

  it('falls back on a status listed in fallback_on, and to on_context_overflow on a context-length 400', async () => {
    const a = await upstream(failWith(404));
    const small = await upstream((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: "This model's maximum context length is 8192 tokens.", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } }));
    });
    const big = await upstream(answer('big window'));
    const b = await upstream(answer('from b'));
    const g = await gatewayFor(`
providers:
${provider('a', a.url)}
${provider('b', b.url)}
${provider('small', small.url)}
${provider('big', big.url)}
routes:
  - name: picky
    fallback_on: [404]
    targets: [{model: a/x}, {model: b/x}]
  - name: long
    on_context_overflow: big/huge
    targets: [{model: small/x}]
`);
    expect((await (await ask(g, 'picky')).json()).choices[0].message.content).toBe('from b');
    const long = await ask(g, 'long');
    expect(long.headers.get('x-sluice-provider')).toBe('big');
    expect((await long.json()).choices[0].message.content).toBe('big window');
    expect(big.requests[0]?.body.model).toBe('huge');
  });

  it('distributes by strategy: round_robin alternates, weighted follows the weights', async () => {
    const a = await upstream(answer('a'));
    const b = await upstream(answer('b'));
    const g = await gatewayFor(`
providers:
${provider('a', a.url)}
${provider('b', b.url)}
routes:
  - name: rr
    strategy: round_robin
    targets: [{model: a/x}, {model: b/x}]
  - name: heavy
    strategy: weighted
    targets: [{model: a/x, weight: 1}, {model: b/x, weight: 3}]
`);
    const rr: string[] = [];
    for (let i = 0; i < 6; i++) rr.push((await (await ask(g, 'rr')).json()).choices[0].message.content);
    expect(rr).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    const counts = { a: 0, b: 0 };
    const n = 400;
    await Promise.all(
      Array.from({ length: n }, async () => {
        const served = (await ask(g, 'heavy')).headers.get('x-sluice-provider') as 'a' | 'b';
        counts[served]++;
      }),
    );
    // Expected 100 / 300; the tolerance is over five standard deviations (sd ~ 8.7).
    expect(counts.b / n).toBeGreaterThan(0.64);
    expect(counts.b / n).toBeLessThan(0.86);
  });

  it('least_busy sends new requests to the provider with fewer in flight', async () => {
    const release: Array<() => void> = [];
    const a = await upstream((_req, res) => {
      release.push(() => answer('a')(_req, res, undefined as never));
    });
    const b = await upstream(answer('b'));
    const g = await gatewayFor(`
providers:
${provider('a', a.url)}
${provider('b', b.url)}
routes:
  - name: lb
    strategy: least_busy
    targets: [{model: a/x}, {model: b/x}]
`);
    const first = ask(g, 'lb'); // a is idle: goes to a and stays busy
    await waitFor(() => a.requests.length === 1);
    const second = await ask(g, 'lb');
    expect(second.headers.get('x-sluice-provider')).toBe('b');
    release.forEach((r) => r());
    expect((await first).headers.get('x-sluice-provider')).toBe('a');
  });
});

describe('keys and cooldowns', () => {
  it('rotates provider keys and rests a key that got 429', async () => {
    const u = await upstream((req, res) => {
      if (req.headers.authorization === 'Bearer k1') return failWith(429, { 'retry-after': '60' })(req, res, undefined as never);
      answer(String(req.headers.authorization))(req, res, undefined as never);
    });
    const g = await gatewayFor(`
providers:
${provider('u', u.url, '    api_keys: [k1, k2, k3]\n')}
`);
    const served: string[] = [];
    for (let i = 0; i < 4; i++) served.push((await (await ask(g, 'u/x')).json()).choices[0].message.content);
    const keys = u.requests.map((r) => r.headers.authorization);
    // k1 is tried once, rests for its Retry-After, and is not used again.
    expect(keys.filter((k) => k === 'Bearer k1')).toHaveLength(1);
    expect(served).toEqual(['Bearer k2', 'Bearer k3', 'Bearer k2', 'Bearer k3']);
  });

  it('opens the circuit after repeated failures and recovers through a half-open probe', async () => {
    let healthy = false;
    const a = await upstream((req, res) => (healthy ? answer('a back') : failWith(500))(req, res, undefined as never));
    const b = await upstream(answer('b'));
    const g = await gatewayFor(`
providers:
${provider('a', a.url, '    circuit_breaker: {failure_threshold: 2, cooldown_ms: 300}\n')}
${provider('b', b.url)}
routes:
  - name: smart
    targets: [{model: a/x}, {model: b/x}]
`);
    await ask(g, 'smart');
    await ask(g, 'smart');
    expect(a.requests).toHaveLength(2);
    const skipped = await ask(g, 'smart'); // circuit open: a is not tried
    expect(skipped.headers.get('x-sluice-provider')).toBe('b');
    expect(a.requests).toHaveLength(2);
    healthy = true;
    await new Promise((r) => setTimeout(r, 350));
    const probe = await ask(g, 'smart');
    expect(probe.headers.get('x-sluice-provider')).toBe('a');
    expect((await ask(g, 'smart')).headers.get('x-sluice-provider')).toBe('a');
  });
});

describe('client keys', () => {
  it('names the client in logs and answers 403 for a model outside its list', async () => {
    const u = await upstream(answer('ok'));
    const g = await gatewayFor(
      `
server:
  api_keys:
    - {key: \${TEAM_A_KEY}, name: team-a, models: [smart, u/*]}
    - \${ADMIN_KEY}
providers:
${provider('u', u.url)}
${provider('v', u.url)}
routes:
  - name: smart
    targets: [{model: u/x}]
`,
      { TEAM_A_KEY: 'ka', ADMIN_KEY: 'kadmin' },
    );
    const teamA = g.client({ apiKey: 'ka' });
    await teamA.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'x' }] });
    await teamA.chat.completions.create({ model: 'u/anything', messages: [{ role: 'user', content: 'x' }] });
    const denied = teamA.chat.completions.create({ model: 'v/x', messages: [{ role: 'user', content: 'x' }] });
    await expect(denied).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    await expect(denied).rejects.toMatchObject({ status: 403, code: 'model_not_allowed' });
    await g.client({ apiKey: 'kadmin' }).chat.completions.create({ model: 'v/x', messages: [{ role: 'user', content: 'x' }] });
    await waitFor(() => accessLines(g).length === 4);
    expect(accessLines(g).map((l) => l.client)).toEqual(['team-a', 'team-a', 'team-a', 'key-2']);
    expect(g.rawLogs.join('')).not.toContain('kadmin');
  });
});

describe('models and config checks', () => {
  it('lists routes, configured models and an upstream /models', async () => {
    const u = await upstream((req, res) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'up-1', object: 'model' }, { id: 'up-2', object: 'model' }] }));
        return;
      }
      answer('x')(req, res, undefined as never);
    });
    const g = await gatewayFor(`
providers:
${provider('u', u.url, '    list_models: upstream\n    models: [listed]\n')}
routes:
  - name: smart
    targets: [{model: u/listed}]
`);
    const models = await g.client().models.list();
    expect(models.data.map((m) => m.id)).toEqual(['smart', 'u/listed', 'u/up-1', 'u/up-2']);
    await g.client().models.list();
    expect(u.requests.filter((r) => r.method === 'GET')).toHaveLength(1); // cached
  });

  it('rejects routes whose targets nothing serves, with their paths', () => {
    expect(() =>
      parseConfigText(
        `
providers:
  - {name: u, type: mock, models: [a]}
routes:
  - name: r
    targets: [{model: u/a}, {model: nothing-serves-this}]
`,
        {},
      ),
    ).toThrow(/routes\[0\]\.targets\[1\]\.model: no provider serves 'nothing-serves-this'/);
  });
});
