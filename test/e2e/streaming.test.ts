import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { accessLines, bodyText, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { chunk, DONE, sseHead, textStream, usageChunk, type FakeUpstream, type UpstreamHandler } from '../helpers/upstream.js';

const scoped = closedAfterEach();

async function setup(handler: UpstreamHandler, providerExtra = '', serverExtra = ''): Promise<{ upstream: FakeUpstream; gateway: RunningGateway }> {
  const upstream = await scoped.upstream(handler);
  const gateway = await scoped.gateway(`
server:
${serverExtra || '  keepalive_ms: 15000'}
providers:
  - name: up
    type: openai
    base_url: ${upstream.url}
    api_key: sk-upstream-secret
    max_retries: 1
${providerExtra}
`);
  return { upstream, gateway };
}

async function post(g: RunningGateway, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${g.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

const messages = [{ role: 'user', content: 'hi' }];

describe('streaming, exactly', () => {
  it('forwards content byte-exact through a byte-fragmented CRLF stream split inside UTF-8 characters', async () => {
    const pieces = ['Grüße, ', '世界', ' — ', '🙂 ok'];
    const wire = Buffer.from(textStream(pieces).replaceAll('\n', '\r\n'), 'utf8');
    const { gateway } = await setup(async (_req, res) => {
      sseHead(res);
      for (let i = 0; i < wire.length; i += 3) {
        res.write(wire.subarray(i, i + 3));
        if (i % 60 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      res.end();
    });
    const stream = await gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe(pieces.join(''));
  });

  it('sends an OpenAI upstream\'s non-stream body as received: formatting, escapes and key order kept', async () => {
    const body = '{\n  "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",\n  "choices": [{"index": 0, "message": {"role": "assistant", "content": "caf\\u00e9 \\ud83d\\ude00"}, "finish_reason": "stop"}],\n  "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, "x_vendor": 1.50\n}';
    const { gateway } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    const response = await post(gateway, { model: 'up/m', messages });
    expect(response.status).toBe(200);
    expect(await bodyText(response)).toBe(body);
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]).toMatchObject({ prompt_tokens: 3, completion_tokens: 2 });
  });

  it('writes data: events, ends with [DONE] and closes even if the upstream keeps its socket open', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.write(textStream(['a', 'b']));
      // never res.end(): the gateway must close the client response after [DONE] anyway
    });
    const response = await post(gateway, { model: 'up/m', messages, stream: true });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('content-encoding')).toBeNull();
    const text = await bodyText(response);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const events = text.split('\n\n').filter(Boolean);
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    expect(events.map((e) => e.slice(6)).slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta.content ?? '')).toEqual(['', 'a', 'b', '']);
  });

  it('closes the connection after a stream when the client asked for Connection: close, and keeps it otherwise', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end(textStream(['a']));
    });
    const { port } = new URL(gateway.url);
    const body = JSON.stringify({ model: 'up/m', messages, stream: true });
    const exchange = async (close: boolean): Promise<{ head: string; ended: boolean }> => {
      const socket = connect(Number(port), '127.0.0.1');
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString();
      });
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${close ? 'Connection: close\r\n' : ''}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      // A hang guard: a kept-alive socket is still open after the whole stream has arrived.
      const ended = await new Promise<boolean>((resolve) => {
        socket.on('end', () => resolve(true));
        const check = setInterval(() => {
          if (text.includes('data: [DONE]')) {
            clearInterval(check);
            setTimeout(() => resolve(false), 300);
          }
        }, 10);
      });
      socket.destroy();
      return { head: text.split('\r\n\r\n')[0]?.toLowerCase() ?? '', ended };
    };
    const closing = await exchange(true);
    expect(closing.head).toContain('connection: close');
    expect(closing.ended).toBe(true);
    const kept = await exchange(false);
    expect(kept.head).toContain('connection: keep-alive');
    expect(kept.ended).toBe(false);
  });

  it('adds [DONE] when the upstream finished every choice but forgot it', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end([chunk({ role: 'assistant', content: '' }), chunk({ content: 'x' }), chunk({}, 'stop')].join(''));
    });
    const text = await bodyText(await post(gateway, { model: 'up/m', messages, stream: true }));
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text).not.toContain('"error"');
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]).toMatchObject({ outcome: 'ok', status: 200 });
  });

  it('turns EOF before any finish_reason into an error event + [DONE]; the SDK throws instead of hanging', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end([chunk({ role: 'assistant', content: '' }), chunk({ content: 'partial' })].join(''));
    });
    const text = await bodyText(await post(gateway, { model: 'up/m', messages, stream: true }));
    expect(text).toMatch(/data: {"error":{"message":"[^"]*ended the stream early[^"]*","type":"server_error","param":null,"code":"upstream_truncated"}}\n\ndata: \[DONE\]\n\n$/);
    const stream = await gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const c of stream) seen.push(c.choices[0]?.delta.content ?? '');
      })(),
    ).rejects.toThrow(/ended the stream early/);
    expect(seen).toContain('partial');
    await waitFor(() => accessLines(gateway).length === 2);
    expect(accessLines(gateway)[0]).toMatchObject({ outcome: 'truncated' });
  });

  it('passes a mid-stream upstream error event on as the nested error shape; the SDK throws', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end([chunk({ role: 'assistant', content: '' }), chunk({ content: 'so far' }), 'data: {"error":{"message":"model crashed","type":"server_error","code":500}}\n\n', DONE].join(''));
    });
    const stream = await gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'hi' }], stream: true });
    await expect(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    ).rejects.toThrow(/model crashed/);
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]).toMatchObject({ outcome: 'upstream_error' });
  });

  it('sends an error event when the upstream resets the connection mid-stream', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'half' }));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const text = await bodyText(await post(gateway, { model: 'up/m', messages, stream: true }));
    expect(text).toContain('"content":"half"');
    expect(text).toMatch(/data: {"error":.*\n\ndata: \[DONE\]\n\n$/);
    const health = await fetch(`${gateway.url}/healthz`);
    expect(health.status).toBe(200);
  });

  it('turns a silent upstream after the first byte into an idle_timeout error event', async () => {
    const { gateway } = await setup(
      (_req, res) => {
        sseHead(res);
        res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'then silence' }));
      },
      '    timeouts: {idle_ms: 300}',
    );
    const text = await bodyText(await post(gateway, { model: 'up/m', messages, stream: true }));
    expect(text).toContain('then silence');
    expect(text).toContain('"code":"upstream_idle_timeout"');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]).toMatchObject({ outcome: 'idle_timeout' });
  });

  it('answers 504 when no response headers come within first_byte_ms', async () => {
    const { gateway } = await setup(() => undefined, '    timeouts: {first_byte_ms: 300}');
    const response = await post(gateway, { model: 'up/m', messages, stream: true });
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ error: { type: 'server_error', code: 'upstream_timeout' } });
  });

  it('ignores non-JSON data lines (keep-alives) that would break clients', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end(['data: keep-alive\n\n', ': comment\n\n', textStream(['ok'])].join(''));
    });
    const text = await bodyText(await post(gateway, { model: 'up/m', messages, stream: true }));
    expect(text).not.toContain('keep-alive');
    expect(text).toContain('"content":"ok"');
  });

  it('sends `: ping` comments while waiting for the first token, then the stream', async () => {
    const { gateway } = await setup(
      async (_req, res) => {
        sseHead(res);
        res.write(chunk({ role: 'assistant', content: '' }));
        await new Promise((r) => setTimeout(r, 400));
        res.end(textStream(['late']));
      },
      '',
      '  keepalive_ms: 100',
    );
    const text = await bodyText(await post(gateway, { model: 'up/m', messages, stream: true }));
    expect(text.startsWith(': ping\n\n')).toBe(true);
    expect(text).toContain('"content":"late"');
    expect(text.split('\n').filter((l) => l.startsWith('data:') && !l.includes('[DONE]')).every((l) => JSON.parse(l.slice(5)).id)).toBe(true);
  });

  it('holds the role chunk back so an upstream that fails right after opening is retried invisibly', async () => {
    let calls = 0;
    const { gateway } = await setup((_req, res) => {
      calls++;
      sseHead(res);
      if (calls === 1) {
        res.write(chunk({ role: 'assistant', content: '' }));
        setTimeout(() => res.socket?.destroy(), 10);
        return;
      }
      res.end(textStream(['second']));
    });
    const text = await bodyText(await post(gateway, { model: 'up/m', messages, stream: true }));
    expect(calls).toBe(2);
    expect(text.match(/"role":"assistant"/g)).toHaveLength(1);
    expect(text).toContain('"content":"second"');
    expect(text).not.toContain('"error"');
  });

  it('delivers the usage chunk only to a client that asked for it, and always asks upstream', async () => {
    const { upstream, gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end(textStream(['u']));
    });
    const client = gateway.client();
    const without: unknown[] = [];
    for await (const c of await client.chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'hi' }], stream: true })) without.push(c);
    const withUsage: Array<{ usage?: unknown; choices: unknown[] }> = [];
    for await (const c of await client.chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } })) withUsage.push(c);
    expect(without.some((c) => (c as { usage?: unknown }).usage)).toBe(false);
    const last = withUsage.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
    expect(upstream.requests.every((r) => (r.body.stream_options as { include_usage?: boolean }).include_usage === true)).toBe(true);
    await waitFor(() => accessLines(gateway).length === 2);
    expect(accessLines(gateway)[0]).toMatchObject({ prompt_tokens: 5, completion_tokens: 7 });
  });

  it('strips usage from a content chunk that carries it when the client did not ask', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end(chunk({ role: 'assistant', content: 'x' }) + chunk({}, 'stop', { usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }) + DONE);
    });
    const text = await bodyText(await post(gateway, { model: 'up/m', messages, stream: true }));
    expect(text).not.toContain('"usage"');
    expect(text).toContain('"finish_reason":"stop"');
  });

  it('aborts the upstream within 1 s when a stream client disconnects before the first token', async () => {
    const { upstream, gateway } = await setup((_req, res) => {
      sseHead(res);
      res.write(': waiting\n\n'); // nothing substantive, ever
    });
    const ac = new AbortController();
    const pending = fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'up/m', messages, stream: true }), signal: ac.signal }).catch(() => undefined);
    await waitFor(() => upstream.requests.length === 1);
    const start = Date.now();
    ac.abort();
    await upstream.socketClosed(0);
    expect(Date.now() - start).toBeLessThan(1000);
    await pending;
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]).toMatchObject({ outcome: 'client_abort', status: 499 });
  });

  it('aborts the upstream within 1 s when a streaming client disconnects mid-stream', async () => {
    const { upstream, gateway } = await setup(async (_req, res) => {
      sseHead(res);
      res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'tick' }));
    });
    const ac = new AbortController();
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'up/m', messages, stream: true }), signal: ac.signal });
    const reader = response.body!.getReader();
    await reader.read();
    const start = Date.now();
    ac.abort();
    await upstream.socketClosed(0);
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it('aborts the upstream within 1 s when a non-stream client disconnects', async () => {
    const { upstream, gateway } = await setup(() => undefined);
    const ac = new AbortController();
    const pending = fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'up/m', messages }), signal: ac.signal }).catch(() => undefined);
    await waitFor(() => upstream.requests.length === 1);
    const start = Date.now();
    ac.abort();
    await upstream.socketClosed(0);
    expect(Date.now() - start).toBeLessThan(1000);
    await pending;
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]).toMatchObject({ outcome: 'client_abort', status: 499 });
  });

  it('applies backpressure: a client that does not read holds the upstream back', async () => {
    let written = 0;
    let blocked = false;
    const big = 'x'.repeat(16 * 1024);
    const { gateway } = await setup(async (_req, res) => {
      sseHead(res);
      res.write(chunk({ role: 'assistant', content: '' }));
      for (let i = 0; i < 4000 && !res.destroyed; i++) {
        written++;
        if (!res.write(chunk({ content: big }))) {
          await Promise.race([new Promise((r) => res.once('drain', r)), new Promise((r) => setTimeout(r, 1000))]).then(() => undefined);
          if (res.writableNeedDrain) {
            blocked = true;
            break;
          }
        }
      }
      res.end(chunk({}, 'stop') + usageChunk() + DONE);
    });
    const ac = new AbortController();
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'up/m', messages, stream: true }), signal: ac.signal });
    await response.body!.getReader().read(); // read once, then stall
    await waitFor(() => blocked, 8000);
    // 4000 chunks of 16 KB is 64 MB; a buffering proxy would have taken them all.
    expect(written).toBeLessThan(1000);
    ac.abort();
  });
});
