import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bodyText, waitFor } from '../helpers/gateway.js';
import { startSluice, type SluiceProcess } from '../helpers/process.js';
import { dropPrefix, REDIS_URL, requireRedis, startOwnRedis, uniquePrefix, type OwnRedis } from '../helpers/redis.js';
import { completion, startUpstream, type FakeUpstream } from '../helpers/upstream.js';

// Two (or more) real Sluice processes sharing one Redis, as in production.

const processes: SluiceProcess[] = [];
const upstreams: FakeUpstream[] = [];
const redises: OwnRedis[] = [];
const prefixes: string[] = [];

beforeAll(async () => {
  await requireRedis();
});
afterEach(async () => {
  for (const p of processes.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const u of upstreams.splice(0)) await u.close();
  for (const r of redises.splice(0)) await r.kill();
});
afterAll(async () => {
  for (const prefix of prefixes) await dropPrefix(prefix);
});

async function sluice(yaml: string, readyText?: string): Promise<SluiceProcess> {
  const p = await startSluice(yaml, {}, { readyText });
  processes.push(p);
  return p;
}

/** An upstream answering every request with a JSON completion of usage 5 + 7 (12 tokens). */
async function upstream(status = 200): Promise<FakeUpstream> {
  const u = await startUpstream((req, res) => {
    if (status !== 200) {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `status ${status}`, type: 'server_error', param: null, code: null } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...completion('hi'), usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } }));
  });
  upstreams.push(u);
  return u;
}

function prefix(name: string): string {
  const p = uniquePrefix(name);
  prefixes.push(p);
  return p;
}

interface Answer {
  status: number;
  headers: Headers;
  body: string;
  ms: number;
}

async function ask(url: string, key: string, model = 'up/m'): Promise<Answer> {
  const started = Date.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }),
  });
  const body = await bodyText(res);
  return { status: res.status, headers: res.headers, body, ms: Date.now() - started };
}

/** `total` requests spread over the URLs in turn, `concurrency` at a time. */
async function hammer(urls: string[], key: string, total: number, concurrency: number): Promise<Answer[]> {
  const answers: Answer[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        answers.push(await ask(urls[i % urls.length] as string, key));
      }
    }),
  );
  return answers;
}

/** The key's requests this period, as GET /v1/sluice/usage reports them (admin key `adm`). */
async function counted(url: string, name: string): Promise<number> {
  const res = await fetch(`${url}/v1/sluice/usage`, { headers: { authorization: 'Bearer adm' } });
  if (res.status === 503) return Number.POSITIVE_INFINITY; // the store is down: nothing to wait for
  const report = (await res.json()) as { data: Array<{ key: string; requests: number }> };
  return report.data.find((k) => k.key === name)?.requests ?? -1;
}

/**
 * Requests one after another over the URLs in turn. A request is counted just after its response,
 * so each admitted one is awaited in the usage report before the next starts.
 */
async function inTurn(urls: string[], key: string, total: number, name = 'team'): Promise<Answer[]> {
  const answers: Answer[] = [];
  let admitted = 0;
  for (let i = 0; i < total; i++) {
    const url = urls[i % urls.length] as string;
    const answer = await ask(url, key);
    answers.push(answer);
    if (answer.status !== 200) continue;
    admitted++;
    const until = Date.now() + 3000;
    while ((await counted(url, name)) < admitted && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }
  return answers;
}

/** A generous timeout: these tests are about counting on a busy shared machine, not about timeouts. */
function redisState(p: string): string {
  return `state: {store: redis, url: "${REDIS_URL}", key_prefix: "${p}", timeout_ms: 2000, on_error: deny}`;
}

describe('two Sluice processes on one Redis', () => {
  it('rpm 30 holds across both: 30 admitted of 80, the rest 429 with the OpenAI headers', async () => {
    const u = await upstream();
    const yaml = `server:\n  api_keys: [{key: k1, name: team, rpm: 30}]\n${redisState(prefix('rpm'))}\nproviders:\n  - {name: up, type: openai, base_url: "${u.url}"}\n`;
    const [a, b] = await Promise.all([sluice(yaml), sluice(yaml)]);
    const answers = await hammer([a.url, b.url], 'k1', 80, 12);
    const admitted = answers.filter((x) => x.status === 200);
    const refused = answers.filter((x) => x.status === 429);
    expect(admitted).toHaveLength(30);
    expect(refused).toHaveLength(50);
    expect(u.requests).toHaveLength(30);
    for (const r of refused) {
      expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'rate_limit_exceeded', type: 'requests' } });
      expect(r.headers.get('x-ratelimit-limit-requests')).toBe('30');
      expect(r.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(r.headers.get('x-ratelimit-reset-requests')).toMatch(/s$/);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    for (const x of admitted) expect(Number(x.headers.get('x-ratelimit-remaining-requests'))).toBeLessThan(30);
    // Both processes admitted some and refused some.
    expect(a.stdout()).toMatch(/"status":200/);
    expect(b.stdout()).toMatch(/"status":200/);
    expect(a.stdout()).toMatch(/"status":429/);
    expect(b.stdout()).toMatch(/"status":429/);
  });

  it('rpm 640 holds across both while they admit from allowances: never more than 640, at most a few lapsed', async () => {
    const u = await upstream();
    const yaml = `server:\n  admin_keys: [adm]\n  api_keys: [{key: k1, name: team, rpm: 640}]\n${redisState(prefix('allowance'))}\nproviders:\n  - {name: up, type: openai, base_url: "${u.url}"}\n`;
    const [a, b] = await Promise.all([sluice(yaml), sluice(yaml)]);
    const answers = await hammer([a.url, b.url], 'k1', 800, 16);
    const admitted = answers.filter((x) => x.status === 200);
    // Far from the limit each process counts several requests per store call and admits the rest
    // itself; near it, one each. The store counted each before it was admitted, so never over.
    expect(admitted.length).toBeLessThanOrEqual(640);
    expect(u.requests).toHaveLength(admitted.length);
    // What an allowance left unused lapses at its bucket's end: a few, never a take's worth per request.
    expect(admitted.length).toBeGreaterThan(600);
    expect(answers.filter((x) => x.status === 429)).toHaveLength(800 - admitted.length);
    const remaining = admitted.map((x) => Number(x.headers.get('x-ratelimit-remaining-requests')));
    expect(Math.min(...remaining)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...remaining)).toBeLessThan(640);
    // Settlements of a key far from its limits are held and summed (up to 50 ms): none is lost, also
    // of a process stopped right after its last request.
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    const until = Date.now() + 3000;
    while ((await counted(b.url, 'team')) < admitted.length && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(await counted(b.url, 'team')).toBe(admitted.length);
  });

  it('tpm 60 holds across both: five 12-token requests, then 429 on tokens', async () => {
    const u = await upstream();
    const yaml = `server:\n  admin_keys: [adm]\n  api_keys: [{key: k1, name: team, tpm: 60}]\n${redisState(prefix('tpm'))}\nproviders:\n  - {name: up, type: openai, base_url: "${u.url}"}\n`;
    const [a, b] = await Promise.all([sluice(yaml), sluice(yaml)]);
    const answers = await inTurn([a.url, b.url], 'k1', 8);
    expect(answers.map((x) => x.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(answers.map((x) => x.headers.get('x-ratelimit-remaining-tokens'))).toEqual(['60', '48', '36', '24', '12', '0', '0', '0']);
    expect(JSON.parse(answers[5]?.body as string)).toMatchObject({ error: { code: 'rate_limit_exceeded', type: 'tokens' } });
  });

  it('a budget holds across both: 429 insufficient_quota once the spend reaches it', async () => {
    const u = await upstream();
    // 12 tokens x $1 per million: $0.000012 a request; the budget is spent after the third.
    const yaml = `server:\n  admin_keys: [adm]\n  api_keys: [{key: k1, name: team, budget: {usd: 0.00003, period: 30d}}]\n${redisState(prefix('budget'))}\npricing:\n  m: {input_per_mtok: 1, output_per_mtok: 1}\nproviders:\n  - {name: up, type: openai, base_url: "${u.url}"}\n`;
    const [a, b] = await Promise.all([sluice(yaml), sluice(yaml)]);
    const answers = await inTurn([a.url, b.url], 'k1', 6);
    expect(answers.map((x) => x.status)).toEqual([200, 200, 200, 429, 429, 429]);
    expect(JSON.parse(answers[3]?.body as string)).toMatchObject({ error: { code: 'insufficient_quota', type: 'insufficient_quota' } });
  });

  it('with the memory store each process counts on its own: rpm 5 admits 5 per process (the README says so)', async () => {
    const u = await upstream();
    const yaml = `server:\n  api_keys: [{key: k1, name: team, rpm: 5}]\nproviders:\n  - {name: up, type: openai, base_url: "${u.url}"}\n`;
    const [a, b] = await Promise.all([sluice(yaml), sluice(yaml)]);
    const answers = await hammer([a.url, b.url], 'k1', 30, 6);
    expect(answers.filter((x) => x.status === 200)).toHaveLength(10);
  });

  it('a provider key that got a 429 through A rests on B too; a circuit opened on A is open on B', async () => {
    // key-1 is refused by the upstream (429), key-2 works.
    const keyed = await startUpstream((req, res) => {
      if (req.headers.authorization === 'Bearer key-1') {
        res.writeHead(429, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(completion('hi')));
    });
    upstreams.push(keyed);
    const failing = await upstream(500);
    const yaml = `${redisState(prefix('health'))}
providers:
  - {name: keyed, type: openai, base_url: "${keyed.url}", api_keys: [key-1, key-2], key_cooldown_ms: 60000}
  - {name: flaky, type: openai, base_url: "${failing.url}", max_retries: 0, circuit_breaker: {failure_threshold: 2, cooldown_ms: 60000}}
`;
    const [a, b] = await Promise.all([sluice(yaml), sluice(yaml)]);
    expect((await ask(a.url, '', 'keyed/m')).status).toBe(200);
    expect(keyed.requests.map((r) => r.headers.authorization)).toEqual(['Bearer key-1', 'Bearer key-2']);
    await new Promise((r) => setTimeout(r, 100)); // the published cooldown reaches B
    for (let i = 0; i < 4; i++) expect((await ask(b.url, '', 'keyed/m')).status).toBe(200);
    expect(keyed.requests.slice(2).map((r) => r.headers.authorization)).toEqual(['Bearer key-2', 'Bearer key-2', 'Bearer key-2', 'Bearer key-2']);

    expect((await ask(a.url, '', 'flaky/m')).status).toBe(500);
    expect((await ask(a.url, '', 'flaky/m')).status).toBe(500);
    expect(failing.requests).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 100));
    const onB = await ask(b.url, '', 'flaky/m');
    expect(onB.status).toBe(503);
    expect(JSON.parse(onB.body)).toMatchObject({ error: { code: 'provider_unavailable' } });
    expect(failing.requests).toHaveLength(2);
    // A process that starts now reads the open circuit and the resting key from Redis.
    const c = await sluice(yaml);
    expect((await ask(c.url, '', 'flaky/m')).status).toBe(503);
    expect((await ask(c.url, '', 'keyed/m')).status).toBe(200);
    expect(failing.requests).toHaveLength(2);
    expect(keyed.requests.at(-1)?.headers.authorization).toBe('Bearer key-2');
  });
  it('a half-open circuit lets one probe through across both processes, not one per process', async () => {
    // Fails until told otherwise; then answers after 300 ms, so both processes ask while the probe runs.
    let healthy = false;
    const flaky = await startUpstream(async (_req, res) => {
      if (healthy) await new Promise((r) => setTimeout(r, 300));
      res.writeHead(healthy ? 200 : 500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(healthy ? completion('back') : { error: { message: 'down', type: 'server_error', param: null, code: null } }));
    });
    upstreams.push(flaky);
    const yaml = `${redisState(prefix('probe'))}
providers:
  - {name: flaky, type: openai, base_url: "${flaky.url}", max_retries: 0, circuit_breaker: {failure_threshold: 1, cooldown_ms: 1000}}
`;
    const [a, b] = await Promise.all([sluice(yaml), sluice(yaml)]);
    expect((await ask(a.url, '', 'flaky/m')).status).toBe(500);
    await new Promise((r) => setTimeout(r, 100)); // the opened circuit reaches B
    expect((await ask(b.url, '', 'flaky/m')).status).toBe(503);
    expect(flaky.requests).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1100)); // both half-open
    healthy = true;
    const answers = await Promise.all([ask(a.url, '', 'flaky/m'), ask(b.url, '', 'flaky/m'), ask(a.url, '', 'flaky/m'), ask(b.url, '', 'flaky/m')]);
    expect(answers.map((x) => x.status).sort()).toEqual([200, 503, 503, 503]);
    expect(flaky.requests).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 100)); // the probe's success closes the circuit on both
    expect((await ask(a.url, '', 'flaky/m')).status).toBe(200);
    expect((await ask(b.url, '', 'flaky/m')).status).toBe(200);
  });
});

describe('Redis going away', () => {
  async function outage(onError: 'allow' | 'deny', rpm: number, timeoutMs: number): Promise<{ redis: OwnRedis; s: SluiceProcess; u: FakeUpstream }> {
    const redis = await startOwnRedis();
    redises.push(redis);
    const u = await upstream();
    const yaml = `server:\n  admin_keys: [adm]\n  api_keys: [{key: k1, name: team, rpm: ${rpm}}]\nstate: {store: redis, url: "${redis.url}", key_prefix: "${prefix('outage')}", timeout_ms: ${timeoutMs}, on_error: ${onError}}\nproviders:\n  - {name: up, type: openai, base_url: "${u.url}"}\n`;
    const s = await sluice(yaml);
    return { redis, s, u };
  }

  const outageLines = (s: SluiceProcess): number => s.stdout().split('\n').filter((l) => l.includes('state store unreachable')).length;

  it('allow: requests flow with one error logged; when Redis returns the limits apply again without a restart', async () => {
    // A dead Redis fails every call at once; the generous timeout keeps a busy machine from failing calls before.
    const { redis, s } = await outage('allow', 3, 1000);
    expect((await inTurn([s.url], 'k1', 4)).map((x) => x.status)).toEqual([200, 200, 200, 429]);
    await redis.kill();
    const during = await inTurn([s.url], 'k1', 8);
    expect(during.map((x) => x.status)).toEqual(Array(8).fill(200));
    for (const x of during) expect(x.ms).toBeLessThan(1000); // hang guard; the bench has the real figures
    await waitFor(() => outageLines(s) === 1);
    expect(outageLines(s)).toBe(1);
    const back = await redis.restart();
    redises.push(back);
    // The client reconnects by itself (within a second); the fresh Redis counts from zero.
    let limited: Answer | undefined;
    const until = Date.now() + 8000;
    while (limited === undefined && Date.now() < until) {
      const x = await ask(s.url, 'k1');
      if (x.status === 429) limited = x;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(limited?.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(s.stdout()).toContain('state store answers again');
    expect(outageLines(s)).toBe(1);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(/sluice_state_errors_total\{op="admit"\} [1-9]/);
  });

  it('deny: a key that admits from an allowance gets the 503 too once Redis is gone', async () => {
    const { redis, s, u } = await outage('deny', 1_000_000, 200);
    // Far from its limit: the first admission counts an allowance, the next ones use it.
    expect((await inTurn([s.url], 'k1', 3)).map((x) => x.status)).toEqual([200, 200, 200]);
    await redis.kill();
    await waitFor(() => outageLines(s) === 1);
    const down = await ask(s.url, 'k1');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toMatchObject({ error: { code: 'rate_limit_store_unavailable' } });
    expect(u.requests).toHaveLength(3);
  });

  it('deny: a clear 503 while Redis is down, and no hang while it does not answer at all', async () => {
    const { redis, s, u } = await outage('deny', 50, 200);
    expect((await ask(s.url, 'k1')).status).toBe(200);
    // A Redis that holds the connection but never answers: every call gives up after timeout_ms.
    redis.process.kill('SIGSTOP');
    const stalled = await inTurn([s.url], 'k1', 3);
    for (const x of stalled) {
      expect(x.status).toBe(503);
      expect(x.ms).toBeLessThan(1000);
      expect(JSON.parse(x.body)).toMatchObject({ error: { type: 'server_error', code: 'rate_limit_store_unavailable' } });
      expect(x.headers.get('retry-after')).toBe('1');
    }
    // Redis runs the calls it was sent meanwhile once it resumes: they may count (never too few).
    redis.process.kill('SIGCONT');
    let ok: Answer | undefined;
    const until = Date.now() + 5000;
    while (ok === undefined && Date.now() < until) {
      const x = await ask(s.url, 'k1');
      if (x.status === 200) ok = x;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(ok?.headers.get('x-ratelimit-limit-requests')).toBe('50');
    await redis.kill();
    const down = await ask(s.url, 'k1');
    expect(down.status).toBe(503);
    expect(down.ms).toBeLessThan(1000);
    expect(u.requests).toHaveLength(2);
  });
});

describe('server.workers: 2', () => {
  it('both workers serve on one port, limits hold across them with redis, and SIGTERM drains both', async () => {
    const slow = await startUpstream(async (req, res) => {
      await new Promise((r) => setTimeout(r, req.body.messages !== undefined && JSON.stringify(req.body).includes('slow') ? 600 : 0));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(completion('hi')));
    });
    upstreams.push(slow);
    const yaml = `server:\n  workers: 2\n  shutdown_grace_ms: 5000\n  api_keys: [{key: k1, name: team, rpm: 20}, {key: k2, name: other}]\n${redisState(prefix('workers'))}\nproviders:\n  - {name: up, type: openai, base_url: "${slow.url}"}\n`;
    const s = await sluice(yaml, 'all workers are serving');
    const pids = (): Set<number> => new Set(s.stdout().split('\n').filter((l) => l.includes('"msg":"request completed"')).map((l) => (JSON.parse(l) as { pid: number }).pid));
    // Fresh connections each time, so the primary hands them to both workers in turn.
    const answers = await hammer([s.url], 'k1', 40, 4);
    expect(answers.filter((x) => x.status === 200)).toHaveLength(20);
    expect(answers.filter((x) => x.status === 429)).toHaveLength(20);
    await waitFor(() => pids().size === 2, 5000);
    expect(pids().has(s.child.pid as number)).toBe(false);
    // /metrics answers for both workers, whichever takes the connection.
    for (let i = 0; i < 4; i++) {
      const text = await (await fetch(`${s.url}/metrics`, { headers: { connection: 'close' } })).text();
      expect(text).toMatch(/^sluice_limited_requests_total\{key="team",reason="rpm"\} 20$/m);
      const served = [...text.matchAll(/^sluice_requests_total\{[^}]*status="(\d+)"[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[2]), 0);
      expect(served).toBe(40);
    }
    // SIGTERM while a request runs on each worker: both finish, then everything exits 0.
    const inFlight = Array.from({ length: 4 }, () =>
      fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k2', connection: 'close' },
        body: JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'slow' }] }),
      }),
    );
    await waitFor(() => slow.requests.filter((r) => JSON.stringify(r.body).includes('slow')).length === 4, 5000);
    s.child.kill('SIGTERM');
    const statuses = await Promise.all(inFlight.map(async (p) => (await p).status));
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(await s.exited).toBe(0);
    const drained = s.stdout().split('\n').filter((l) => l.includes('"msg":"shutting down"'));
    expect(new Set(drained.map((l) => (JSON.parse(l) as { pid: number }).pid)).size).toBe(2);
  });

  it('warns that the memory store counts per worker', async () => {
    const u = await upstream();
    const s = await sluice(`server: {workers: 2}\nproviders:\n  - {name: up, type: openai, base_url: "${u.url}"}\n`, 'all workers are serving');
    expect(s.stdout()).toMatch(/server.workers is 2 with the memory state store: each worker counts limits/);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });
});
