import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { type RunningGateway } from '../helpers/gateway.js';
import { completion, type UpstreamHandler } from '../helpers/upstream.js';

const scoped = closedAfterEach();

/** The upstream's answer for the next request, set by the test. */
type Mode = 'fail' | 'ok' | 'bad_request' | 'rate_limited' | 'hang';

function upstreamWith(mode: () => Mode): UpstreamHandler {
  return (_req, res) => {
    const m = mode();
    if (m === 'hang') return; // answers nothing: the client gives up first
    const status = { fail: 500, ok: 200, bad_request: 400, rate_limited: 429 }[m];
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(status === 200 ? completion('from a') : { error: { message: `status ${status}`, type: 'x', param: null, code: null } }));
  };
}

function ask(g: RunningGateway, signal?: AbortSignal): Promise<Response> {
  return fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'a/m', messages: [{ role: 'user', content: 'x' }] }), signal });
}

/** A gateway whose one provider opens its circuit after one failure and half-opens after 1 s; the circuit is opened. */
async function openCircuit(mode: { current: Mode }): Promise<{ g: RunningGateway; requests: () => number }> {
  const a = await scoped.upstream(upstreamWith(() => mode.current));
  const g = await scoped.gateway(`
providers:
  - name: a
    type: openai
    base_url: ${a.url}
    max_retries: 0
    circuit_breaker: {failure_threshold: 1, cooldown_ms: 1000}
`);
  mode.current = 'fail';
  expect((await ask(g)).status).toBe(500);
  const shut = await ask(g);
  expect(shut.status).toBe(503);
  expect((await shut.json()).error.code).toBe('provider_unavailable');
  await new Promise((r) => setTimeout(r, 1100));
  return { g, requests: () => a.requests.length };
}

describe('every half-open probe outcome settles the circuit', () => {
  it('a 4xx probe: the provider answered, so the circuit closes', async () => {
    const mode = { current: 'ok' as Mode };
    const { g, requests } = await openCircuit(mode);
    mode.current = 'bad_request';
    expect((await ask(g)).status).toBe(400);
    mode.current = 'ok';
    const after = await ask(g);
    expect(after.status).toBe(200);
    expect(requests()).toBe(3);
  });

  it('a 429 probe: the circuit re-opens, and probes again after its cooldown', async () => {
    const mode = { current: 'ok' as Mode };
    const { g, requests } = await openCircuit(mode);
    mode.current = 'rate_limited';
    expect((await ask(g)).status).toBe(429);
    mode.current = 'ok';
    expect((await ask(g)).status).toBe(503); // re-opened: not tried
    expect(requests()).toBe(2);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await ask(g)).status).toBe(200);
  });

  it('a probe the client abandons: the next request probes', async () => {
    const mode = { current: 'ok' as Mode };
    const { g, requests } = await openCircuit(mode);
    mode.current = 'hang';
    const gone = new AbortController();
    const probe = ask(g, gone.signal).catch((err: unknown) => err);
    while (requests() < 2) await new Promise((r) => setTimeout(r, 5));
    gone.abort();
    expect(await probe).toBeInstanceOf(Error);
    await new Promise((r) => setTimeout(r, 50));
    mode.current = 'ok';
    expect((await ask(g)).status).toBe(200);
    expect(requests()).toBe(3);
  });
});
