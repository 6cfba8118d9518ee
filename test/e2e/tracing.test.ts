import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { waitFor } from '../helpers/gateway.js';
import { chunk, completion, sseHead, textStream } from '../helpers/upstream.js';

/** One exported span, with its attributes decoded from OTLP/JSON's typed values. */
interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status?: { code?: number; message?: string };
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
}

function decode(value: OtlpValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(decode);
  return undefined;
}

function attributesOf(list: Array<{ key: string; value: OtlpValue }> | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, decode(a.value)]));
}

interface Receiver {
  url: string;
  spans: ExportedSpan[];
  /** Every export body as received (decoded JSON text), to search for text that must not be there. */
  bodies: string[];
  contentTypes: string[];
  close(): Promise<void>;
}

/** A loopback OTLP/HTTP collector: POST /v1/traces with the JSON encoding. */
async function startReceiver(): Promise<Receiver> {
  const spans: ExportedSpan[] = [];
  const bodies: string[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const raw = Buffer.concat(parts);
      const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
      bodies.push(text);
      contentTypes.push(String(req.headers['content-type']));
      const body = JSON.parse(text) as {
        resourceSpans: Array<{
          resource?: { attributes?: Array<{ key: string; value: OtlpValue }> };
          scopeSpans: Array<{ spans: Array<Omit<ExportedSpan, 'attributes' | 'resource'> & { attributes?: Array<{ key: string; value: OtlpValue }> }> }>;
        }>;
      };
      for (const rs of body.resourceSpans) {
        for (const ss of rs.scopeSpans) {
          for (const span of ss.spans) spans.push({ ...span, attributes: attributesOf(span.attributes), resource: attributesOf(rs.resource?.attributes) });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, spans, bodies, contentTypes, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;
const INCOMING_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING_PARENT = '00f067aa0ba902b7';

const scoped = closedAfterEach();

async function tracedGateway(extra = ''): Promise<{ receiver: Receiver; good: Awaited<ReturnType<typeof scoped.upstream>>; bad: Awaited<ReturnType<typeof scoped.upstream>>; gateway: Awaited<ReturnType<typeof scoped.gateway>> }> {
  const receiver = await startReceiver();
  scoped.defer(() => receiver.close());
  const bad = await scoped.upstream((_req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'overloaded', type: 'server_error', param: null, code: null } }));
  });
  const good = await scoped.upstream((req, res) => {
    if (req.body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion('Paris, of course.')));
      return;
    }
    sseHead(res);
    res.end(textStream(['The answer ', 'is Paris.']));
  });
  const gateway = await scoped.gateway(
    [
      `tracing: {endpoint: "${receiver.url}", export_delay_ms: 20${extra}}`,
      'providers:',
      `  - {name: first, type: openai, base_url: "${bad.url}", api_key: sk-first-secret-key, max_retries: 0}`,
      `  - {name: second, type: openai, base_url: "${good.url}", api_key: sk-second-secret-key}`,
      'routes:',
      '  - {name: smart, targets: [{model: first/gpt-a}, {model: second/gpt-b}]}',
      '',
    ].join('\n'),
  );
  return { receiver, good, bad, gateway };
}

describe('OpenTelemetry traces', () => {
  it('a streamed chat request with a fallback: one server span under the incoming traceparent, two attempt spans, GenAI attributes, no text or keys', async () => {
    const { receiver, good, gateway } = await tracedGateway();
    const stream = await gateway
      .client()
      .chat.completions.create(
        { model: 'smart', stream: true, stream_options: { include_usage: true }, max_tokens: 50, temperature: 0.2, messages: [{ role: 'user', content: 'What is the capital of France?' }] },
        { headers: { traceparent: `00-${INCOMING_TRACE}-${INCOMING_PARENT}-01` } },
      );
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('The answer is Paris.');

    await waitFor(() => receiver.spans.length >= 3, 5000);
    expect(receiver.contentTypes[0]).toBe('application/json');
    const servers = receiver.spans.filter((s) => s.kind === SPAN_KIND_SERVER);
    const clients = receiver.spans.filter((s) => s.kind === SPAN_KIND_CLIENT);
    expect(servers).toHaveLength(1);
    expect(clients).toHaveLength(2);
    const server = servers[0] as ExportedSpan;

    // The incoming traceparent is the parent; the attempts are children of the server span.
    expect(server.traceId).toBe(INCOMING_TRACE);
    expect(server.parentSpanId).toBe(INCOMING_PARENT);
    for (const c of clients) {
      expect(c.traceId).toBe(INCOMING_TRACE);
      expect(c.parentSpanId).toBe(server.spanId);
    }
    expect(server.resource['service.name']).toBe('sluice');

    expect(server.name).toBe('chat smart');
    expect(server.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'smart',
      'gen_ai.request.max_tokens': 50,
      'gen_ai.request.temperature': 0.2,
      'gen_ai.provider.name': 'openai',
      'gen_ai.response.model': 'up-model',
      'gen_ai.usage.input_tokens': 5,
      'gen_ai.usage.output_tokens': 7,
      'gen_ai.response.finish_reasons': ['stop'],
      'http.response.status_code': 200,
      'sluice.outcome': 'ok',
      'sluice.attempts': 2,
      'sluice.provider': 'second',
      'sluice.route': 'smart',
      'sluice.stream': true,
    });
    expect(server.attributes['sluice.time_to_first_token_ms']).toEqual(expect.any(Number));
    expect(server.status?.code ?? 0).not.toBe(STATUS_ERROR);

    const failed = clients.find((c) => c.attributes['sluice.provider'] === 'first') as ExportedSpan;
    const served = clients.find((c) => c.attributes['sluice.provider'] === 'second') as ExportedSpan;
    expect(failed.name).toBe('chat gpt-a');
    expect(failed.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': 'gpt-a', 'http.response.status_code': 500, 'sluice.attempt.outcome': 'upstream_status', 'server.address': '127.0.0.1' });
    expect(failed.status?.code).toBe(STATUS_ERROR);
    expect(served.name).toBe('chat gpt-b');
    expect(served.attributes).toMatchObject({
      'gen_ai.request.model': 'gpt-b',
      'gen_ai.response.model': 'up-model',
      'gen_ai.usage.input_tokens': 5,
      'gen_ai.usage.output_tokens': 7,
      'gen_ai.response.finish_reasons': ['stop'],
      'http.response.status_code': 200,
      'sluice.attempt.outcome': 'ok',
    });

    // The upstream call carries the attempt span's context, not the client's header.
    expect(good.requests[0]?.headers.traceparent).toBe(`00-${INCOMING_TRACE}-${served.spanId}-01`);

    const exported = receiver.bodies.join('\n');
    for (const secret of ['capital of France', 'Paris', 'sk-first-secret-key', 'sk-second-secret-key', 'authorization']) expect(exported).not.toContain(secret);
  });

  it('capture_content: true puts the prompt and a non-stream answer in the server span', async () => {
    const { receiver, gateway } = await tracedGateway(', capture_content: true');
    const answer = await gateway.client().chat.completions.create({ model: 'second/gpt-b', messages: [{ role: 'user', content: 'What is the capital of France?' }] });
    expect(answer.choices[0]?.message.content).toBe('Paris, of course.');
    await waitFor(() => receiver.spans.some((s) => s.kind === SPAN_KIND_SERVER), 5000);
    const server = receiver.spans.find((s) => s.kind === SPAN_KIND_SERVER) as ExportedSpan;
    expect(server.parentSpanId ?? '').toBe('');
    expect(JSON.parse(server.attributes['gen_ai.input.messages'] as string)).toEqual([{ role: 'user', content: 'What is the capital of France?' }]);
    expect(JSON.parse(server.attributes['gen_ai.output.messages'] as string)).toEqual([{ role: 'assistant', content: 'Paris, of course.', refusal: null }]);
    expect(server.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
  });

  it('a stream that breaks after its first token marks the server and attempt spans as errors', async () => {
    const receiver = await startReceiver();
    scoped.defer(() => receiver.close());
    const upstream = await scoped.upstream((_req, res) => {
      sseHead(res);
      res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'Hello' }));
      setTimeout(() => res.destroy(), 20);
    });
    const gateway = await scoped.gateway(`tracing: {endpoint: "${receiver.url}", export_delay_ms: 20}\nproviders:\n  - {name: up, type: openai, base_url: "${upstream.url}", max_retries: 0}\n`);
    const stream = await gateway.client().chat.completions.create({ model: 'up/m', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const error = await (async () => {
      for await (const _c of stream) {
        /* read until the error event */
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    await waitFor(() => receiver.spans.length >= 2, 5000);
    const server = receiver.spans.find((s) => s.kind === SPAN_KIND_SERVER) as ExportedSpan;
    const attempt = receiver.spans.find((s) => s.kind === SPAN_KIND_CLIENT) as ExportedSpan;
    expect(server.attributes['sluice.outcome']).toBe('truncated');
    expect(server.status?.code).toBe(STATUS_ERROR);
    expect(attempt.status?.code).toBe(STATUS_ERROR);
    expect(attempt.attributes['sluice.attempt.outcome']).toBe('truncated');
  });

  it('a collector that is down costs the request nothing and is logged as a warning', async () => {
    const receiver = await startReceiver();
    const deadUrl = receiver.url;
    await receiver.close();
    const gateway = await scoped.gateway(`tracing: {endpoint: "${deadUrl}", export_delay_ms: 20}\nproviders:\n  - {name: mock, type: mock}\n`);
    const answer = await gateway.client().chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'still served' }] });
    expect(answer.choices[0]?.message.content).toBe('still served');
    await waitFor(() => gateway.logs.some((l) => l.msg === 'could not export trace spans'), 15_000);
    expect(gateway.logs.find((l) => l.msg === 'could not export trace spans')).toMatchObject({ level: 40, url: `${deadUrl}/v1/traces` });
  });
});
