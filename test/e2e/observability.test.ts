import { connect, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { buildApp } from '../../src/server/app.js';
import { closedAfterEach } from '../helpers/cleanup.js';
import { accessLines, bodyText, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { chunk, completion, DONE, sseHead, textStream, type FakeUpstream } from '../helpers/upstream.js';

const scoped = closedAfterEach();

/** An upstream whose behaviour is chosen by the last user message. */
async function scriptedUpstream(): Promise<FakeUpstream> {
  return scoped.upstream((req, res) => {
    const messages = req.body.messages as Array<{ content: string }>;
    const say = messages.at(-1)?.content ?? '';
    if (say === 'fail') {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"boom","type":"server_error","param":null,"code":null}}');
    } else if (say === 'hang') {
      sseHead(res);
      res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'partial' }));
    } else if (say === 'no usage') {
      sseHead(res);
      res.end(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'twelve chars' }) + chunk({}, 'stop') + DONE);
    } else if (req.body.stream === true) {
      sseHead(res);
      res.end(textStream(['a', 'b']));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(completion('json', { usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7, completion_tokens_details: { reasoning_tokens: 2 }, prompt_tokens_details: { cached_tokens: 1 } } })));
    }
  });
}

function gateway(url: string): Promise<RunningGateway> {
  return scoped.gateway(`
providers:
  - name: up
    type: openai
    base_url: ${url}
    max_retries: 0
    models: [m]
`);
}

function send(g: RunningGateway, content: string, stream: boolean, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'up/m', stream, messages: [{ role: 'user', content }] }), signal });
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('counts a mix of stream, non-stream, failing and aborted requests exactly', async () => {
    const u = await scriptedUpstream();
    const g = await gateway(u.url);
    await bodyText(await send(g, 'hi', true));
    await (await send(g, 'hi', false)).json();
    expect((await send(g, 'fail', false)).status).toBe(500);
    const ac = new AbortController();
    const aborted = await send(g, 'hang', true, {}, ac.signal);
    await aborted.body!.getReader().read();
    ac.abort();
    await waitFor(() => accessLines(g).length === 4);
    const text = await (await fetch(`${g.url}/metrics`)).text();
    expect(metricValue(text, 'sluice_requests_total{route="up",provider="up",status="200",stream="true",api="/v1/chat/completions"}')).toBe(1);
    expect(metricValue(text, 'sluice_requests_total{route="up",provider="up",status="200",stream="false",api="/v1/chat/completions"}')).toBe(1);
    expect(metricValue(text, 'sluice_requests_total{route="up",provider="up",status="500",stream="false",api="/v1/chat/completions"}')).toBe(1);
    expect(metricValue(text, 'sluice_requests_total{route="up",provider="up",status="499",stream="true",api="/v1/chat/completions"}')).toBe(1);
    expect(metricValue(text, 'sluice_upstream_attempts_total{provider="up",outcome="ok"}')).toBe(3);
    expect(metricValue(text, 'sluice_upstream_attempts_total{provider="up",outcome="status_5xx"}')).toBe(1);
    expect(metricValue(text, 'sluice_client_disconnects_total{provider="up"}')).toBe(1);
    expect(metricValue(text, 'sluice_tokens_total{route="up",provider="up",type="prompt"}')).toBe(5 + 3);
    expect(metricValue(text, 'sluice_tokens_total{route="up",provider="up",type="completion"}')).toBe(7 + 4);
    expect(metricValue(text, 'sluice_tokens_total{route="up",provider="up",type="reasoning"}')).toBe(2);
    expect(metricValue(text, 'sluice_tokens_total{route="up",provider="up",type="cached"}')).toBe(1);
    expect(metricValue(text, 'sluice_request_duration_seconds_count{route="up",provider="up"}')).toBe(4);
    expect(metricValue(text, 'sluice_time_to_first_token_seconds_count{route="up",provider="up"}')).toBe(2);
    expect(metricValue(text, 'sluice_active_streams{provider="up"}')).toBe(0);
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('keeps label cardinality bounded after 1,000 distinct bogus model names', async () => {
    const u = await scriptedUpstream();
    const g = await gateway(u.url);
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          fetch(`${g.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: `bogus-${i + j}`, messages: [{ role: 'user', content: 'x' }] }) }).then((r) => r.arrayBuffer()),
        ),
      );
    }
    const text = await (await fetch(`${g.url}/metrics`)).text();
    expect(text).not.toContain('bogus');
    expect(metricValue(text, 'sluice_requests_total{route="none",provider="none",status="404",stream="false",api="/v1/chat/completions"}')).toBe(1000);
    expect(text.split('\n').filter((l) => l.startsWith('sluice_')).length).toBeLessThan(100);
  });

  it('counts aggregated responses and serves metrics on their own port when asked', async () => {
    const u = await scriptedUpstream();
    const config = parseConfigText(`server: {metrics_port: 0}\nproviders:\n  - {name: up, type: openai, base_url: "${u.url}", force_upstream_stream: true, max_retries: 0}\n`, {});
    const sluice = await buildApp(config, { logStream: { write: () => undefined } });
    await sluice.app.listen({ host: '127.0.0.1', port: 0 });
    scoped.defer(() => sluice.app.close());
    const metricsServer = await sluice.listenMetrics('127.0.0.1', 0);
    const base = `http://127.0.0.1:${(sluice.app.server.address() as AddressInfo).port}`;
    const metricsUrl = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}/metrics`;
    await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'hi' }] }) }).then((r) => r.json());
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    const text = await (await fetch(metricsUrl)).text();
    expect(metricValue(text, 'sluice_aggregated_responses_total{provider="up",reason="forced"}')).toBe(1);
    // A connection to the metrics port that never sends a request does not hold the close.
    const silent = connect((metricsServer.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => silent.once('connect', resolve));
    const closed = await Promise.race([sluice.app.close().then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('still open after 5 s'), 5000))]);
    silent.destroy();
    expect(closed).toBe('closed');
  });
});

describe('usage accounting and tracing', () => {
  it('estimates usage as characters/4 when the upstream gives none, and says so', async () => {
    const u = await scriptedUpstream();
    const g = await gateway(u.url);
    await bodyText(await send(g, 'no usage', true));
    await waitFor(() => accessLines(g).length === 1);
    // prompt "no usage" = 8 chars -> 2; completion "twelve chars" = 12 chars -> 3
    expect(accessLines(g)[0]).toMatchObject({ usage_estimated: true, prompt_tokens: 2, completion_tokens: 3 });
  });

  it('passes x-request-id and traceparent upstream and returns the request id', async () => {
    const u = await scriptedUpstream();
    const g = await gateway(u.url);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const given = await send(g, 'hi', false, { 'x-request-id': 'req-abc.123', traceparent });
    expect(given.headers.get('x-request-id')).toBe('req-abc.123');
    expect(u.requests[0]?.headers['x-request-id']).toBe('req-abc.123');
    expect(u.requests[0]?.headers.traceparent).toBe(traceparent);
    const generated = await send(g, 'hi', true);
    const id = generated.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await bodyText(generated);
    expect(u.requests[1]?.headers['x-request-id']).toBe(id);
    expect(u.requests[1]?.headers.traceparent).toBeUndefined();
    await waitFor(() => accessLines(g).length === 2);
    expect(accessLines(g).map((l) => l.reqId)).toEqual(['req-abc.123', id]);
  });
});
