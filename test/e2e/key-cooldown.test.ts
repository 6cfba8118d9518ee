import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { completion } from '../helpers/upstream.js';

const scoped = closedAfterEach();

describe('a key that got 429', () => {
  it('rests no longer than key_cooldown_max_ms, whatever Retry-After says', async () => {
    let refused = false;
    const u = await scoped.upstream((req, res) => {
      if (req.headers.authorization === 'Bearer k1' && !refused) {
        refused = true;
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1000000000' });
        res.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit_error', param: null, code: null } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(completion('ok')));
    });
    const g = await scoped.gateway(`
providers:
  - name: u
    type: openai
    base_url: ${u.url}
    api_keys: [k1, k2]
    key_cooldown_max_ms: 200
`);
    const ask = (): Promise<Response> => fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'u/m', messages: [{ role: 'user', content: 'x' }] }) });
    expect((await ask()).status).toBe(200); // k1 refused, k2 served
    await new Promise((r) => setTimeout(r, 300));
    expect((await ask()).status).toBe(200);
    expect((await ask()).status).toBe(200);
    expect(u.requests.map((r) => r.headers.authorization)).toEqual(['Bearer k1', 'Bearer k2', 'Bearer k1', 'Bearer k2']);
  });
});
