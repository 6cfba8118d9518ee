import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { accessLines, bodyText, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { chunk, sseHead, type FakeUpstream, type UpstreamHandler } from '../helpers/upstream.js';

const scoped = closedAfterEach();
const KEY = 'sk-proj-Q7vXk2LmN9pR4sT6uW8yZa1Bc3De5Fg';
const OTHER_KEY = 'sk-proj-Other0000111122223333444455556666';
const messages = [{ role: 'user' as const, content: 'hi' }];

async function setup(handler: UpstreamHandler, providerExtra = ''): Promise<{ upstream: FakeUpstream; gateway: RunningGateway }> {
  const upstream = await scoped.upstream(handler);
  const gateway = await scoped.gateway(`
providers:
  - name: up
    type: openai
    base_url: ${upstream.url}
    api_key: \${UPSTREAM_KEY}
    max_retries: 0
${providerExtra}
  - name: other
    type: openai
    base_url: ${upstream.url}
    api_keys: [\${OTHER_KEY}]
`, { UPSTREAM_KEY: KEY, OTHER_KEY });
  return { upstream, gateway };
}

function post(g: RunningGateway, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const head = 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"';

describe('an event larger than max_event_mb', () => {
  // The upstream writes 2 MB of one event and then holds the connection: without a cap, Sluice
  // would keep buffering (and, before the linear framing, spend seconds of CPU per read).
  const hugeEvent = async (res: Parameters<UpstreamHandler>[1]): Promise<void> => {
    res.write(head);
    for (let i = 0; i < 32; i++) res.write('x'.repeat(64 * 1024));
    await new Promise((r) => setTimeout(r, 20_000));
    res.end();
  };
  const huge: UpstreamHandler = async (_req, res) => {
    sseHead(res);
    await hugeEvent(res);
  };

  it('gives a 502 in OpenAI shape before the first byte', async () => {
    const { gateway } = await setup(huge, '    max_event_mb: 1');
    const response = await post(gateway, { model: 'up/m', messages, stream: true });
    expect(response.status).toBe(502);
    const body = JSON.parse(await bodyText(response));
    expect(body.error.code).toBe('upstream_event_too_large');
    expect(body.error.message).toMatch(/max_event_mb/);
  }, 15_000);

  it('ends a started stream with the error event and [DONE]', async () => {
    const { gateway } = await setup(async (_req, res) => {
      sseHead(res);
      res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'first' }));
      await new Promise((r) => setTimeout(r, 50));
      await hugeEvent(res);
    }, '    max_event_mb: 1');
    const response = await post(gateway, { model: 'up/m', messages, stream: true });
    expect(response.status).toBe(200);
    const text = await bodyText(response);
    expect(text).toContain(`"content":"first"`);
    expect(text).toMatch(/data: \{"error":\{[^\n]*"code":"upstream_event_too_large"[^\n]*\}\}\n\ndata: \[DONE\]\n\n$/);
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]?.outcome).toBe('invalid_upstream');
  }, 15_000);
});
