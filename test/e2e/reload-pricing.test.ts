import type { AddressInfo } from 'node:net';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { buildApp } from '../../src/server/app.js';
import { closedAfterEach } from '../helpers/cleanup.js';
import { bodyText } from '../helpers/gateway.js';
import { completion } from '../helpers/upstream.js';

const scoped = closedAfterEach();

// The price data is loaded only for a config with client keys. This file's module registry is its
// own, so a gateway started without keys has not loaded it: a reload that adds keys must.
describe('price data and reload', () => {
  it('a reload that adds client keys prices their requests from the price data', async () => {
    const upstream = await scoped.upstream(async (_req, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...completion('hi'), model: 'gpt-4o-mini', usage: { prompt_tokens: 1000, completion_tokens: 1000, total_tokens: 2000 } }));
    });
    const providers = `providers:\n  - {name: up, type: openai, base_url: "${upstream.url}", max_retries: 0}\n`;
    const sluice = await buildApp(parseConfigText(providers, {}), { logStream: { write: () => undefined } });
    await sluice.app.listen({ host: '127.0.0.1', port: 0 });
    scoped.defer(() => sluice.app.close());
    const url = `http://127.0.0.1:${(sluice.app.server.address() as AddressInfo).port}`;

    await sluice.reload(parseConfigText(`server:\n  api_keys:\n    - {key: k-team, name: team}\n${providers}`, {}));
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k-team' },
      body: JSON.stringify({ model: 'up/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(200);
    await bodyText(res);

    // Settled after the response: gpt-4o-mini at $0.15 and $0.60 per million tokens.
    let metrics = '';
    for (let i = 0; i < 100 && !/sluice_spend_usd_total\{key="team"\}/.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 20));
      metrics = await (await fetch(`${url}/metrics`)).text();
    }
    const spent = Number(/sluice_spend_usd_total\{key="team"\} ([\d.e-]+)/.exec(metrics)?.[1]);
    expect(spent).toBeCloseTo(0.00075, 9);
    expect(metrics).not.toMatch(/sluice_unpriced_requests_total\{key="team"\}/);
  });
});
