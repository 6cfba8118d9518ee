import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { float32Base64 } from '../../src/providers/embeddings.js';
import { mockVector } from '../../src/upstream/mock-surface.js';
import { closedAfterEach } from '../helpers/cleanup.js';
import { accessLines } from '../helpers/gateway.js';
import type { RecordedRequest } from '../helpers/upstream.js';

const scoped = closedAfterEach();

/** A vector an upstream returns for `text`: its length and first letter, so tests can check order. */
function vectorFor(text: string): number[] {
  return [text.length, text.charCodeAt(0), 0.5];
}

function inputsOf(req: RecordedRequest): string[] {
  const input = req.body.input;
  return typeof input === 'string' ? [input] : (input as string[]);
}

/** An OpenAI-compatible /embeddings upstream, honouring encoding_format like OpenAI does. */
async function openaiEmbeddingsUpstream(): Promise<Awaited<ReturnType<typeof scoped.upstream>>> {
  return scoped.upstream((req, res) => {
    const base64 = req.body.encoding_format === 'base64';
    const data = inputsOf(req).map((text, index) => ({ object: 'embedding', index, embedding: base64 ? float32Base64(vectorFor(text)) : vectorFor(text) }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data, model: `${String(req.body.model)}-v2`, usage: { prompt_tokens: 9, total_tokens: 9 } }));
  });
}

describe('POST /v1/embeddings', () => {
  it('OpenAI-type: float and base64 through the official SDK, the body forwarded with unknown fields kept', async () => {
    const upstream = await openaiEmbeddingsUpstream();
    const gateway = await scoped.gateway(`providers:\n  - {name: oa, type: openai, base_url: "${upstream.url}", api_key: sk-up}\n`);
    const client = gateway.client();

    const floats = await client.embeddings.create({ model: 'oa/text-embedding-3-small', input: ['hello', 'sluice'], encoding_format: 'float', dimensions: 3, user: 'u-1' });
    expect(floats.data.map((d) => d.embedding)).toEqual([vectorFor('hello'), vectorFor('sluice')]);
    expect(floats.model).toBe('text-embedding-3-small-v2');
    expect(floats.usage).toEqual({ prompt_tokens: 9, total_tokens: 9 });
    expect(upstream.requests[0]?.url).toBe('/v1/embeddings');
    expect(upstream.requests[0]?.headers.authorization).toBe('Bearer sk-up');
    expect(upstream.requests[0]?.body).toEqual({ model: 'text-embedding-3-small', input: ['hello', 'sluice'], encoding_format: 'float', dimensions: 3, user: 'u-1' });

    // The SDK asks for base64 by default and decodes it itself.
    const decoded = await client.embeddings.create({ model: 'oa/text-embedding-3-small', input: 'hello' });
    expect(upstream.requests[1]?.body.encoding_format).toBe('base64');
    expect(decoded.data[0]?.embedding).toEqual(vectorFor('hello'));

    const raw = await client.embeddings.create({ model: 'oa/text-embedding-3-small', input: 'hello', encoding_format: 'base64' });
    expect(raw.data[0]?.embedding).toBe(float32Base64(vectorFor('hello')));

    const lines = accessLines(gateway);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ api: '/v1/embeddings', provider: 'oa', status: 200, outcome: 'ok', prompt_tokens: 9, completion_tokens: 0 });
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/sluice_requests_total\{[^}]*api="\/v1\/embeddings"[^}]*\} 3/);
  });

  it('Gemini-type: batchEmbedContents from a string or a list, dimensions -> outputDimensionality, usage when given, base64 encoded by Sluice', async () => {
    const upstream = await scoped.upstream((req, res) => {
      const requests = req.body.requests as Array<{ content: { parts: Array<{ text: string }> } }>;
      const body: Record<string, unknown> = { embeddings: requests.map((r) => ({ values: vectorFor(r.content.parts[0]?.text ?? '') })) };
      if (requests.length > 1) body.usageMetadata = { promptTokenCount: 4, totalTokenCount: 4 };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    const gateway = await scoped.gateway(`providers:\n  - {name: gem, type: gemini, base_url: "${upstream.url}", api_key: g-key}\n`);
    const client = gateway.client();

    const list = await client.embeddings.create({ model: 'gem/gemini-embedding-001', input: ['alpha', 'beta'], dimensions: 3, encoding_format: 'float' });
    expect(upstream.requests[0]?.url).toBe('/v1/models/gemini-embedding-001:batchEmbedContents');
    expect(upstream.requests[0]?.headers['x-goog-api-key']).toBe('g-key');
    expect(upstream.requests[0]?.body).toEqual({
      requests: [
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'alpha' }] }, outputDimensionality: 3 },
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'beta' }] }, outputDimensionality: 3 },
      ],
    });
    expect(list.object).toBe('list');
    expect(list.data).toEqual([
      { object: 'embedding', index: 0, embedding: vectorFor('alpha') },
      { object: 'embedding', index: 1, embedding: vectorFor('beta') },
    ]);
    expect(list.usage).toEqual({ prompt_tokens: 4, total_tokens: 4 });

    // A single string; the SDK's default base64 is encoded by Sluice (Gemini answers floats).
    const one = await client.embeddings.create({ model: 'gem/gemini-embedding-001', input: 'gamma' });
    expect(upstream.requests[1]?.body).toEqual({ requests: [{ model: 'models/gemini-embedding-001', content: { parts: [{ text: 'gamma' }] } }] });
    expect(one.data[0]?.embedding).toEqual(vectorFor('gamma'));
    expect(one.usage).toBeUndefined();
    // No usage from Gemini: the access line estimates it and says so.
    expect(accessLines(gateway)[1]).toMatchObject({ prompt_tokens: 2, usage_estimated: true });

    const tokens = await client.embeddings.create({ model: 'gem/gemini-embedding-001', input: [1, 2, 3] }).catch((e: unknown) => e);
    expect((tokens as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((tokens as InstanceType<typeof OpenAI.APIError>).message).toContain('text only');
    expect(upstream.requests).toHaveLength(2);
  });

  it('the mock returns deterministic vectors (float and base64, with dimensions)', async () => {
    const gateway = await scoped.gateway('providers:\n  - {name: mock, type: mock, models: [echo, "*"]}\n');
    const client = gateway.client();
    const first = await client.embeddings.create({ model: 'echo', input: ['same text', 'other text'], encoding_format: 'float' });
    const again = await client.embeddings.create({ model: 'echo', input: 'same text' });
    expect(first.data).toHaveLength(2);
    expect(first.data[0]?.embedding).toHaveLength(8);
    expect(first.data[0]?.embedding).toEqual(mockVector('same text', 8));
    expect(first.data[1]?.embedding).not.toEqual(first.data[0]?.embedding);
    expect(again.data[0]?.embedding.map((v) => Math.fround(v))).toEqual(mockVector('same text', 8).map((v) => Math.fround(v)));
    const sized = await client.embeddings.create({ model: 'echo', input: 'x', dimensions: 32, encoding_format: 'float' });
    expect(sized.data[0]?.embedding).toHaveLength(32);
    expect(Math.hypot(...(sized.data[0]?.embedding ?? []))).toBeCloseTo(1, 6);
    expect(first.usage).toEqual({ prompt_tokens: 4, total_tokens: 4 });
  });

  it('falls back between two targets (a 503 first), with retries and the attempts recorded', async () => {
    const down = await scoped.upstream((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'busy', type: 'server_error', param: null, code: null } }));
    });
    const up = await openaiEmbeddingsUpstream();
    const gateway = await scoped.gateway(
      [
        'providers:',
        `  - {name: first, type: openai, base_url: "${down.url}", max_retries: 1}`,
        `  - {name: second, type: openai, base_url: "${up.url}"}`,
        '  - {name: claude, type: anthropic, base_url: "http://127.0.0.1:9/v1"}',
        'routes:',
        '  - {name: embed, targets: [{model: first/e1}, {model: claude/c}, {model: second/e2}]}',
        '  - {name: claude-only, targets: [{model: claude/c}]}',
        '',
      ].join('\n'),
    );
    const client = gateway.client();
    const answer = await client.embeddings.create({ model: 'embed', input: 'hello', encoding_format: 'float' });
    expect(answer.data[0]?.embedding).toEqual(vectorFor('hello'));
    expect(down.requests).toHaveLength(2);
    expect(up.requests[0]?.body.model).toBe('e2');
    const line = accessLines(gateway)[0];
    expect(line).toMatchObject({ provider: 'second', status: 200 });
    expect((line?.attempts as Array<{ provider: string; outcome: string }>).map((a) => `${a.provider}:${a.outcome}`)).toEqual(['first:upstream_status', 'first:upstream_status', 'second:ok']);

    // A model no target of which can embed: a clear 400, not a 502.
    const refused = await client.embeddings.create({ model: 'claude-only', input: 'hello' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).message).toContain("provider 'claude' (type anthropic) has no embeddings API");
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_supported');
  });

  it('rejects a bad body with a 400 naming the field, and needs the client key like every endpoint', async () => {
    const gateway = await scoped.gateway('server: {api_keys: [client-key]}\nproviders:\n  - {name: mock, type: mock}\n');
    const bad = await gateway
      .client()
      .embeddings.create({ model: 'mock/m', input: 42 as unknown as string })
      .catch((e: unknown) => e);
    expect((bad as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((bad as InstanceType<typeof OpenAI.APIError>).param).toBe('input');
    const unauthorized = await gateway
      .client({ apiKey: 'wrong' })
      .embeddings.create({ model: 'mock/m', input: 'x' })
      .catch((e: unknown) => e);
    expect((unauthorized as InstanceType<typeof OpenAI.APIError>).status).toBe(401);
  });
});

describe('GET /v1/models/{model}', () => {
  it('answers a listed or routable model like OpenAI, and 404 model_not_found otherwise', async () => {
    const gateway = await scoped.gateway('providers:\n  - {name: oa, type: openai, base_url: "http://127.0.0.1:9/v1", models: [gpt-4o]}\nroutes:\n  - {name: smart, targets: [{model: oa/gpt-4o}]}\n');
    const client = gateway.client();
    expect(await client.models.retrieve('oa/gpt-4o')).toEqual({ id: 'oa/gpt-4o', object: 'model', created: 0, owned_by: 'oa' });
    expect(await client.models.retrieve('smart')).toEqual({ id: 'smart', object: 'model', created: 0, owned_by: 'sluice' });
    expect(await client.models.retrieve('gpt-4o')).toEqual({ id: 'gpt-4o', object: 'model', created: 0, owned_by: 'oa' });
    const missing = await client.models.retrieve('nope').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect((missing as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
  });
});
