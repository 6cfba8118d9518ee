// The load client: undici keep-alive pool, SSE parsed with eventsource-parser, every stream checked
// for [DONE] and the expected chunk count.
import { createParser } from 'eventsource-parser';
import { Pool } from 'undici';

export function createClient(origin, connections = 256) {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 120_000, bodyTimeout: 120_000 });
}

/** One request; for streams, TTFT is the first event with non-empty delta.content. */
export async function runOne(pool, path, body, headers = {}) {
  const started = performance.now();
  const response = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    return { ok: false, error: `HTTP ${response.statusCode}: ${text.slice(0, 200)}`, ttft: NaN, total: performance.now() - started, chunks: 0 };
  }
  if (body.stream !== true) {
    const json = await response.body.json();
    const content = json.choices?.[0]?.message?.content;
    const ok = typeof content === 'string' && content.length > 0;
    const total = performance.now() - started;
    return { ok, error: ok ? undefined : 'no content', ttft: total, total, chunks: 0 };
  }
  let ttft = NaN;
  let chunks = 0;
  let done = false;
  let error;
  const parser = createParser({
    onEvent(event) {
      if (event.data === '[DONE]') {
        done = true;
        return;
      }
      const data = JSON.parse(event.data);
      if (data.error) error = data.error.message;
      const content = data.choices?.[0]?.delta?.content;
      if (typeof content === 'string' && content !== '') {
        chunks++;
        if (Number.isNaN(ttft)) ttft = performance.now() - started;
      }
    },
  });
  const decoder = new TextDecoder();
  for await (const bytes of response.body) parser.feed(decoder.decode(bytes, { stream: true }));
  const expected = body.bench_chunks ?? 200;
  if (!done) error ??= 'stream ended without [DONE]';
  else if (chunks !== expected) error ??= `expected ${expected} content chunks, got ${chunks}`;
  return { ok: error === undefined, error, ttft, total: performance.now() - started, chunks };
}

/** `requests` requests at `concurrency`; results in completion order plus the wall time. */
export async function runLoad(pool, { path = '/v1/chat/completions', body, requests, concurrency, headers }) {
  const results = [];
  let next = 0;
  const started = performance.now();
  async function worker() {
    while (next < requests) {
      next++;
      results.push(await runOne(pool, path, body, headers));
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, worker));
  return { results, wallMs: performance.now() - started };
}

export function percentile(values, p) {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(values) {
  return percentile(values, 50);
}
