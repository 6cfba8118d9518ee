import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { accessLines, bodyText, waitFor } from '../helpers/gateway.js';
import { dropPrefix, REDIS_URL, requireRedis, uniquePrefix } from '../helpers/redis.js';
import { chunk, completion, DONE, sseHead, usageChunk, type RecordedRequest } from '../helpers/upstream.js';
import type { ServerResponse } from 'node:http';

const scoped = closedAfterEach();
const prefixes: string[] = [];

beforeAll(async () => {
  await requireRedis();
});
afterAll(async () => {
  for (const prefix of prefixes) await dropPrefix(prefix);
});

function prefix(name: string): string {
  const p = uniquePrefix(name);
  prefixes.push(p);
  return p;
}

/** Answers JSON (usage 5 + 7) or a short stream, after `delayMs`. */
function answer(delayMs = 0) {
  return async (req: RecordedRequest, res: ServerResponse): Promise<void> => {
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (req.body.stream === true) {
      sseHead(res);
      res.end(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'hi' }) + chunk({}, 'stop') + usageChunk(5, 7) + DONE);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...completion('hi'), usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } }));
  };
}

function post(url: string, key: string, body: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'x' }], ...body }),
  });
}

async function config(upstreamUrl: string, keys: string, extra = ''): Promise<string> {
  return `server:
  api_keys:
${keys}
state: {store: redis, url: "${REDIS_URL}", key_prefix: "${prefix('limits')}"}
providers:
  - {name: up, type: openai, base_url: "${upstreamUrl}"}
${extra}`;
}

describe('client key limits (redis store)', () => {
  it('rpm: admits the limit, then 429 rate_limit_exceeded with Retry-After and the x-ratelimit headers', async () => {
    const upstream = await scoped.upstream(answer());
    const gateway = await scoped.gateway(await config(upstream.url, '    - {key: k-rpm, name: team, rpm: 3}\n    - {key: k-free, name: free}'));
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await post(gateway.url, 'k-rpm', { stream: i === 1 });
      expect(res.status).toBe(200);
      await bodyText(res);
      expect(res.headers.get('x-ratelimit-limit-requests')).toBe('3');
      expect(res.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(\.\d+)?s$|^\d+m\d+s$/);
      remaining.push(res.headers.get('x-ratelimit-remaining-requests') as string);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const refused = await post(gateway.url, 'k-rpm');
    expect(refused.status).toBe(429);
    const body = JSON.parse(await bodyText(refused)) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded', param: null });
    expect(body.error.message).toMatch(/API key 'team'.*requests per min \(RPM\): Limit 3, Used 3/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(66);
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(upstream.requests).toHaveLength(3);
    // The OpenAI SDK sees its own RateLimitError.
    const sdk = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'k-rpm', maxRetries: 0 });
    const error = await sdk.chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('rate_limit_exceeded');
    // Another key is not limited, and its responses carry no rate-limit headers.
    const free = await post(gateway.url, 'k-free');
    expect(free.status).toBe(200);
    expect(free.headers.get('x-ratelimit-limit-requests')).toBeNull();
    await bodyText(free);
    const refusedLine = accessLines(gateway).find((l) => l.status === 429);
    expect(refusedLine).toMatchObject({ client: 'team', outcome: 'rate_limited' });
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/sluice_limited_requests_total\{key="team",reason="rpm"\} 2/);
  });

  it('tpm: counts upstream usage when a request ends and refuses the next once the window holds tpm', async () => {
    const upstream = await scoped.upstream(answer());
    const gateway = await scoped.gateway(await config(upstream.url, '    - {key: k-tpm, name: team, tpm: 20}'));
    const first = await post(gateway.url, 'k-tpm');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe('20');
    await bodyText(first);
    await new Promise((r) => setTimeout(r, 50)); // the count lands after the response
    const second = await post(gateway.url, 'k-tpm', { stream: true });
    expect(second.status).toBe(200);
    expect(second.headers.get('x-ratelimit-remaining-tokens')).toBe('8');
    await bodyText(second);
    await new Promise((r) => setTimeout(r, 50));
    const third = await post(gateway.url, 'k-tpm');
    expect(third.status).toBe(429);
    expect(JSON.parse(await bodyText(third))).toMatchObject({ error: { type: 'tokens', code: 'rate_limit_exceeded' } });
    expect(third.headers.get('x-ratelimit-limit-tokens')).toBe('20');
    expect(third.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(third.headers.get('retry-after')).not.toBeNull();
  });

  it('budget: spends usage x price and answers 429 insufficient_quota once the period is spent', async () => {
    const upstream = await scoped.upstream(answer());
    // 12 tokens x $1 per million = $0.000012 a request: the third reaches $0.000036 >= $0.00003.
    const gateway = await scoped.gateway(await config(upstream.url, '    - {key: k-b, name: team, budget: {usd: 0.00003, period: 1d}}', 'pricing:\n  m: {input_per_mtok: 1, output_per_mtok: 1}\n'));
    for (let i = 0; i < 3; i++) {
      const res = await post(gateway.url, 'k-b');
      expect(res.status).toBe(200);
      await bodyText(res);
      await new Promise((r) => setTimeout(r, 50));
    }
    const refused = await post(gateway.url, 'k-b');
    expect(refused.status).toBe(429);
    expect(JSON.parse(await bodyText(refused))).toMatchObject({ error: { type: 'insufficient_quota', code: 'insufficient_quota' } });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/sluice_spend_usd_total\{key="team"\} 0\.0000(36|359)/);
    expect(metrics).toMatch(/sluice_limited_requests_total\{key="team",reason="budget"\} 1/);
  });

  it('max_parallel: a second request while one is in flight gets 429; after it ends the key is free again', async () => {
    const upstream = await scoped.upstream(answer(300));
    const gateway = await scoped.gateway(await config(upstream.url, '    - {key: k-p, name: team, max_parallel: 1}'));
    const slow = post(gateway.url, 'k-p');
    await waitFor(() => upstream.requests.length === 1);
    const second = await post(gateway.url, 'k-p');
    expect(second.status).toBe(429);
    expect(JSON.parse(await bodyText(second)).error.message).toMatch(/max_parallel/);
    expect((await slow).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect((await post(gateway.url, 'k-p')).status).toBe(200);
  });

  it('an unknown price is counted as unpriced and logged once, never as $0', async () => {
    const upstream = await scoped.upstream(answer());
    const gateway = await scoped.gateway(await config(upstream.url, '    - {key: k-u, name: team, budget: {usd: 1}}'));
    for (let i = 0; i < 2; i++) await bodyText(await post(gateway.url, 'k-u'));
    await new Promise((r) => setTimeout(r, 50));
    expect(gateway.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith("no price known for 'up/m'"))).toHaveLength(1);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/sluice_unpriced_requests_total\{key="team"\} 2/);
    expect(metrics).not.toMatch(/sluice_spend_usd_total\{key="team"\}/);
  });

  it('the Responses API refuses in its own error shape with the same headers', async () => {
    const upstream = await scoped.upstream(answer());
    const gateway = await scoped.gateway(await config(upstream.url, '    - {key: k-r, name: team, rpm: 1}'));
    const send = (): Promise<Response> =>
      fetch(`${gateway.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer k-r' }, body: JSON.stringify({ model: 'up/m', input: 'x' }) });
    const ok = await send();
    expect(ok.status).toBe(200);
    await bodyText(ok);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(JSON.parse(await bodyText(refused))).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
  });
});

describe('the Messages front', () => {
  it('refuses a limited key in Anthropic\'s shape: 429 rate_limit_error with Retry-After', async () => {
    const upstream = await scoped.upstream(answer());
    const gateway = await scoped.gateway(await config(upstream.url, '    - {key: k-m, name: team, rpm: 1}'));
    const send = (): Promise<Response> =>
      fetch(`${gateway.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'k-m', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'up/m', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
      });
    const ok = await send();
    expect(ok.status).toBe(200);
    await bodyText(ok);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(JSON.parse(await bodyText(refused))).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(refused.headers.get('retry-after')).not.toBeNull();
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('1');
  });
});

describe('GET /v1/sluice/usage', () => {
  it('reports each key\'s period requests, tokens and spend to admin keys only', async () => {
    const upstream = await scoped.upstream(answer());
    const yaml = (await config(upstream.url, '    - {key: k-a, name: team-a, rpm: 100, budget: {usd: 5, period: 7d}}\n    - {key: k-b, name: team-b}', 'pricing:\n  m: {input_per_mtok: 1000, output_per_mtok: 2000}\n')).replace('server:\n', 'server:\n  admin_keys: [adm]\n');
    const gateway = await scoped.gateway(yaml);
    for (let i = 0; i < 3; i++) await bodyText(await post(gateway.url, 'k-a', { stream: i === 0, stream_options: i === 0 ? { include_usage: true } : undefined }));
    await bodyText(await post(gateway.url, 'k-b'));
    const read = (key: string): Promise<Response> => fetch(`${gateway.url}/v1/sluice/usage`, { headers: { authorization: `Bearer ${key}` } });
    let report: { store: string; data: Array<Record<string, unknown>> } | undefined;
    for (let i = 0; i < 50; i++) {
      report = (await (await read('adm')).json()) as typeof report;
      if (report?.data[0]?.requests === 3 && report.data[1]?.requests === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(report?.store).toBe('redis');
    // 5 prompt x $1000 + 7 completion x $2000 per million = $0.019 a request.
    expect(report?.data[0]).toMatchObject({ key: 'team-a', period: '7d', requests: 3, tokens: 36, unpriced_requests: 0, budget_usd: 5, limits: { rpm: 100, tpm: null, max_parallel: null } });
    expect(report?.data[0]?.spend_usd).toBeCloseTo(0.057, 9);
    expect(Date.parse(report?.data[0]?.period_end as string) - Date.parse(report?.data[0]?.period_start as string)).toBe(7 * 86_400_000);
    expect(report?.data[1]).toMatchObject({ key: 'team-b', period: '30d', requests: 1, tokens: 12, budget_usd: null });
    // A client key is not an admin key.
    const denied = await read('k-a');
    expect(denied.status).toBe(401);
    expect(JSON.parse(await bodyText(denied))).toMatchObject({ error: { code: 'invalid_api_key' } });
  });

  it('is off (403) without server.admin_keys', async () => {
    const upstream = await scoped.upstream(answer());
    const gateway = await scoped.gateway(await config(upstream.url, '    - {key: k-a, name: team-a}'));
    const res = await fetch(`${gateway.url}/v1/sluice/usage`, { headers: { authorization: 'Bearer k-a' } });
    expect(res.status).toBe(403);
    expect(JSON.parse(await bodyText(res))).toMatchObject({ error: { code: 'admin_api_disabled' } });
  });
});

describe('provider limits', () => {
  it('key_rpm moves to the next key, and a provider at its rpm sends the request to the next target, not upstream', async () => {
    const first = await scoped.upstream(answer());
    const second = await scoped.upstream(answer());
    const gateway = await scoped.gateway(`state: {store: redis, url: "${REDIS_URL}", key_prefix: "${prefix('plimits')}"}
providers:
  - {name: a, type: openai, base_url: "${first.url}", api_keys: [key-1, key-2], key_rpm: 1, rpm: 5}
  - {name: b, type: openai, base_url: "${second.url}"}
routes:
  - {name: smart, targets: [{model: a/m}, {model: b/m}]}
`);
    const client = gateway.client();
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'x' }] });
    expect(first.requests.map((r) => r.headers.authorization)).toEqual(['Bearer key-1', 'Bearer key-2']);
    expect(second.requests).toHaveLength(1);
    const line = accessLines(gateway)[2] as { attempts: Array<Record<string, unknown>>; provider: string };
    expect(line.provider).toBe('b');
    expect(line.attempts[0]).toMatchObject({ provider: 'a', outcome: 'rate_limited' });
    // With no other target the client gets the 429 itself.
    const direct = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'a/m', messages: [{ role: 'user', content: 'x' }] }) });
    expect(direct.status).toBe(429);
    expect(direct.headers.get('retry-after')).not.toBeNull();
    expect(JSON.parse(await bodyText(direct))).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
    expect(first.requests).toHaveLength(2);
  });
});
