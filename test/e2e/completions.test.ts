import OpenAI from 'openai';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { accessLines, bodyText, waitFor } from '../helpers/gateway.js';
import { DONE, sseHead } from '../helpers/upstream.js';

const scoped = closedAfterEach();

function textChunk(text: string, finish: string | null = null, extra: Record<string, unknown> = {}): string {
  return `data: ${JSON.stringify({ id: 'cmpl-1', object: 'text_completion', created: 1700000000, model: 'instruct-up', choices: [{ text, index: 0, logprobs: null, finish_reason: finish }], ...extra })}\n\n`;
}

function usageFrame(): string {
  return `data: ${JSON.stringify({ id: 'cmpl-1', object: 'text_completion', created: 1700000000, model: 'instruct-up', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })}\n\n`;
}

const WHOLE = {
  id: 'cmpl-whole',
  object: 'text_completion',
  created: 1700000000,
  model: 'instruct-up',
  system_fingerprint: 'fp_1',
  choices: [{ text: ' Hello there', index: 0, logprobs: { tokens: [' Hello', ' there'], token_logprobs: [-0.1, -0.2], top_logprobs: null, text_offset: [0, 6] }, finish_reason: 'length' }],
  usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 },
};

function streamAnswer(res: ServerResponse): void {
  sseHead(res);
  res.end([textChunk(' Hello'), textChunk(' there'), textChunk('', 'stop'), usageFrame(), DONE].join(''));
}

/** A legacy /completions upstream: JSON or SSE as asked. */
async function instructUpstream(): Promise<Awaited<ReturnType<typeof scoped.upstream>>> {
  return scoped.upstream((req, res) => {
    if (req.body.stream === true) streamAnswer(res);
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(WHOLE));
  });
}

describe('POST /v1/completions (legacy)', () => {
  it('non-stream: the upstream text_completion comes back as written; the body goes up with unknown fields', async () => {
    const upstream = await instructUpstream();
    const gateway = await scoped.gateway(`providers:\n  - {name: oa, type: openai, base_url: "${upstream.url}", api_key: sk-up}\n`);
    const answer = await gateway.client().completions.create({ model: 'oa/gpt-3.5-turbo-instruct', prompt: 'Say', max_tokens: 2, logprobs: 1, echo: false, suffix: '!' });
    expect(answer).toEqual(WHOLE);
    expect(upstream.requests[0]?.url).toBe('/v1/completions');
    expect(upstream.requests[0]?.headers.authorization).toBe('Bearer sk-up');
    expect(upstream.requests[0]?.body).toEqual({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say', max_tokens: 2, logprobs: 1, echo: false, suffix: '!', stream: false });
    expect(accessLines(gateway)[0]).toMatchObject({ api: '/v1/completions', provider: 'oa', status: 200, prompt_tokens: 2, completion_tokens: 2 });
  });

  it('streamed: text_completion chunks, usage only when asked (Sluice always asks upstream)', async () => {
    const upstream = await instructUpstream();
    const gateway = await scoped.gateway(`providers:\n  - {name: oa, type: openai, base_url: "${upstream.url}"}\n`);
    const client = gateway.client();
    const chunks: OpenAI.Completion[] = [];
    for await (const c of await client.completions.create({ model: 'oa/instruct', prompt: 'Say', stream: true })) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.text).join('')).toBe(' Hello there');
    expect(chunks.every((c) => c.object === 'text_completion' && c.id === 'cmpl-1')).toBe(true);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(upstream.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });

    const withUsage: OpenAI.Completion[] = [];
    for await (const c of await client.completions.create({ model: 'oa/instruct', prompt: 'Say', stream: true, stream_options: { include_usage: true } })) withUsage.push(c);
    expect(withUsage.at(-1)?.usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    expect(withUsage.at(-1)?.choices).toEqual([]);
    expect(accessLines(gateway)[0]).toMatchObject({ stream: true, status: 200, outcome: 'ok', prompt_tokens: 3, completion_tokens: 4 });

    const raw = await fetch(`${gateway.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'oa/instruct', prompt: 'Say', stream: true }) });
    expect(raw.headers.get('content-type')).toContain('text/event-stream');
    const text = await bodyText(raw);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('commit late: a target that fails before its first text falls back invisibly', async () => {
    const dies = await scoped.upstream((_req, res) => {
      sseHead(res);
      res.write(textChunk(''));
      setTimeout(() => res.destroy(), 10);
    });
    const upstream = await instructUpstream();
    const gateway = await scoped.gateway(
      `providers:\n  - {name: a, type: openai, base_url: "${dies.url}", max_retries: 0}\n  - {name: b, type: openai, base_url: "${upstream.url}"}\nroutes:\n  - {name: instruct, targets: [{model: a/m}, {model: b/m}]}\n`,
    );
    let text = '';
    for await (const c of await gateway.client().completions.create({ model: 'instruct', prompt: 'Say', stream: true })) text += c.choices[0]?.text ?? '';
    expect(text).toBe(' Hello there');
    expect(dies.requests).toHaveLength(1);
    expect(accessLines(gateway)[0]).toMatchObject({ provider: 'b', status: 200 });
  });

  it('a mid-stream failure ends with an error event and [DONE]; the SDK throws', async () => {
    const upstream = await scoped.upstream((_req, res) => {
      sseHead(res);
      res.write(textChunk(' Hello'));
      setTimeout(() => res.destroy(), 20);
    });
    const gateway = await scoped.gateway(`providers:\n  - {name: oa, type: openai, base_url: "${upstream.url}", max_retries: 0}\n`);
    const seen: string[] = [];
    const error = await (async () => {
      for await (const c of await gateway.client().completions.create({ model: 'oa/m', prompt: 'Say', stream: true })) seen.push(c.choices[0]?.text ?? '');
    })().catch((e: unknown) => e);
    expect(seen).toEqual([' Hello']);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toContain('ended the stream early');

    const raw = await bodyText(await fetch(`${gateway.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'oa/m', prompt: 'Say', stream: true }) }));
    const frames = raw.split('\n\n').filter((f) => f !== '');
    expect(JSON.parse((frames.at(-2) as string).slice('data: '.length))).toMatchObject({ error: { type: 'server_error', code: 'upstream_truncated' } });
    expect(frames.at(-1)).toBe('data: [DONE]');
    await waitFor(() => accessLines(gateway).length === 2);
    expect(accessLines(gateway)[0]).toMatchObject({ status: 200, outcome: 'truncated' });
  });

  it('force_upstream_stream: a non-stream client gets one text_completion aggregated from the stream', async () => {
    const upstream = await instructUpstream();
    const gateway = await scoped.gateway(`providers:\n  - {name: local, type: openai, base_url: "${upstream.url}", force_upstream_stream: true}\n`);
    const answer = await gateway.client().completions.create({ model: 'local/qwen', prompt: 'Say' });
    expect(upstream.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(answer).toEqual({
      id: 'cmpl-1',
      object: 'text_completion',
      created: 1700000000,
      model: 'instruct-up',
      choices: [{ text: ' Hello there', index: 0, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    });
    expect(accessLines(gateway)[0]).toMatchObject({ aggregated: 'forced', status: 200 });
  });

  it('a client that disconnects mid-stream aborts the upstream request', async () => {
    const upstream = await scoped.upstream((_req, res) => {
      sseHead(res);
      res.write(textChunk(' Hello'));
      // ...and never ends on its own.
    });
    const gateway = await scoped.gateway(`providers:\n  - {name: oa, type: openai, base_url: "${upstream.url}"}\n`);
    const controller = new AbortController();
    const response = await fetch(`${gateway.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'oa/m', prompt: 'Say', stream: true }), signal: controller.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('"text":" Hello"');
    controller.abort();
    await upstream.socketClosed(0);
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]).toMatchObject({ status: 499, outcome: 'client_abort' });
  });

  it('a provider without a /completions API is a 400, and the mock answers', async () => {
    const gateway = await scoped.gateway('providers:\n  - {name: claude, type: anthropic, base_url: "http://127.0.0.1:9/v1"}\n  - {name: mock, type: mock}\n');
    const refused = await gateway
      .client()
      .completions.create({ model: 'claude/sonnet', prompt: 'Say' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as Error).message).toContain("provider 'claude' (type anthropic) has no /completions API");
    const streamRefused = await gateway
      .client()
      .completions.create({ model: 'claude/sonnet', prompt: 'Say', stream: true })
      .catch((e: unknown) => e);
    expect((streamRefused as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    const echoed = await gateway.client().completions.create({ model: 'mock/echo', prompt: 'one two three' });
    expect(echoed.choices[0]?.text).toBe('one two three');
    let streamed = '';
    for await (const c of await gateway.client().completions.create({ model: 'mock/echo', prompt: 'one two three', stream: true })) streamed += c.choices[0]?.text ?? '';
    expect(streamed).toBe('one two three');
  });
});
