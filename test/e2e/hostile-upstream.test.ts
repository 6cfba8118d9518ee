import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { accessLines, bodyText, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { chunk, completion, DONE, sseHead, textStream, type FakeUpstream, type UpstreamHandler } from '../helpers/upstream.js';

const scoped = closedAfterEach();
const KEY = 'sk-proj-Q7vXk2LmN9pR4sT6uW8yZa1Bc3De5Fg';
const OTHER_KEY = 'sk-proj-Other0000111122223333444455556666';
const messages = [{ role: 'user' as const, content: 'hi' }];

async function setup(handler: UpstreamHandler, providerExtra = ''): Promise<{ upstream: FakeUpstream; gateway: RunningGateway }> {
  const upstream = await scoped.upstream(handler);
  const gateway = await scoped.gateway(`
providers:
  - name: up
    type: openai
    base_url: ${upstream.url}
    api_key: \${UPSTREAM_KEY}
    max_retries: 0
${providerExtra}
  - name: other
    type: openai
    base_url: ${upstream.url}
    api_keys: [\${OTHER_KEY}]
`, { UPSTREAM_KEY: KEY, OTHER_KEY });
  return { upstream, gateway };
}

function post(g: RunningGateway, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** No 8-character run of either key, anywhere in `text`. */
function expectNoKey(text: string): void {
  for (const key of [KEY, OTHER_KEY]) for (let i = 0; i + 8 <= key.length; i++) expect(text).not.toContain(key.slice(i, i + 8));
}

const head = 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"';

describe('an event larger than max_event_mb', () => {
  // The upstream writes 2 MB of one event and then holds the connection: without a cap, Sluice
  // would keep buffering (and, before the linear framing, spend seconds of CPU per read).
  const hugeEvent = async (res: Parameters<UpstreamHandler>[1]): Promise<void> => {
    res.write(head);
    for (let i = 0; i < 32; i++) res.write('x'.repeat(64 * 1024));
    await new Promise((r) => setTimeout(r, 20_000));
    res.end();
  };
  const huge: UpstreamHandler = async (_req, res) => {
    sseHead(res);
    await hugeEvent(res);
  };

  it('gives a 502 in OpenAI shape before the first byte', async () => {
    const { gateway } = await setup(huge, '    max_event_mb: 1');
    const response = await post(gateway, { model: 'up/m', messages, stream: true });
    expect(response.status).toBe(502);
    const body = JSON.parse(await bodyText(response));
    expect(body.error.code).toBe('upstream_event_too_large');
    expect(body.error.message).toMatch(/max_event_mb/);
  }, 15_000);

  it('ends a started stream with the error event and [DONE]', async () => {
    const { gateway } = await setup(async (_req, res) => {
      sseHead(res);
      res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'first' }));
      await new Promise((r) => setTimeout(r, 50));
      await hugeEvent(res);
    }, '    max_event_mb: 1');
    const response = await post(gateway, { model: 'up/m', messages, stream: true });
    expect(response.status).toBe(200);
    const text = await bodyText(response);
    expect(text).toContain(`"content":"first"`);
    expect(text).toMatch(/data: \{"error":\{[^\n]*"code":"upstream_event_too_large"[^\n]*\}\}\n\ndata: \[DONE\]\n\n$/);
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]?.outcome).toBe('invalid_upstream');
  }, 15_000);
});

describe('provider keys never reach a client', () => {
  it('in an upstream SSE error event after the first byte', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'partial' }) + `data: ${JSON.stringify({ error: { message: `Invalid header Authorization: Bearer ${KEY} (also tried ${OTHER_KEY})`, type: 'server_error' } })}\n\n` + DONE);
    });
    const stream = await gateway.client().chat.completions.create({ model: 'up/m', messages, stream: true });
    const error = await (async () => {
      try {
        for await (const _ of stream);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expectNoKey(String((error as Error).message));
    expect((error as Error).message).toContain('[redacted]');
    expectNoKey(gateway.rawLogs.join(''));
  });

  it('in an upstream SSE error event before the first byte (a 502 body)', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end(`data: ${JSON.stringify({ error: { message: `key ${KEY} is revoked`, type: 'invalid_request_error' } })}\n\n`);
    });
    const response = await post(gateway, { model: 'up/m', messages, stream: true });
    const text = await bodyText(response);
    expect(response.status).toBe(502);
    expectNoKey(text);
    expect(text).toContain('key [redacted] is revoked');
  });

  it('in a 200 JSON body that carries an error', async () => {
    const { gateway } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `upstream rejected api key ${KEY}`, type: 'server_error', code: null } }));
    });
    const response = await post(gateway, { model: 'up/m', messages });
    const text = await bodyText(response);
    expect(response.status).toBe(502);
    expectNoKey(text);
    expect(JSON.parse(text).error.message).toBe('upstream rejected api key [redacted]');
  });

  it('in a plain-text error body where the key straddles the 500-character cut', async () => {
    for (const at of [480, 490, 495, 499]) {
      const { gateway } = await setup((_req, res) => {
        res.writeHead(401, { 'content-type': 'text/plain' });
        res.end(`${'e'.repeat(at)}${KEY} was refused`);
      });
      const response = await post(gateway, { model: 'up/m', messages });
      expect(response.status).toBe(401);
      expectNoKey(await bodyText(response));
    }
  });

  it('in an error status with an HTML page, a query key and the key of another provider', async () => {
    const { gateway } = await setup((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ detail: `GET https://gw.example/v1/x?key=AIzaSyD-not-configured-anywhere failed; ${OTHER_KEY}` }));
    });
    const response = await post(gateway, { model: 'up/m', messages });
    const text = await bodyText(response);
    expect(response.status).toBe(400);
    expectNoKey(text);
    expect(text).not.toContain('AIzaSyD');
  });
});

describe('provider keys never reach a client through a native passthrough', () => {
  const leak = `Incorrect API key provided: ${KEY}`;
  async function nativeGateway(handler: UpstreamHandler): Promise<RunningGateway> {
    const upstream = await scoped.upstream(handler);
    return scoped.gateway(`
providers:
  - {name: nat, type: openai, base_url: "${upstream.url}", responses: native, api_key: \${UPSTREAM_KEY}, max_retries: 0}
  - {name: ant, type: anthropic, base_url: "${upstream.url}", api_key: \${OTHER_KEY}, max_retries: 0}
`, { UPSTREAM_KEY: KEY, OTHER_KEY });
  }

  it('in a Responses stream\'s error and response.failed events, the rest byte for byte', async () => {
    const created = `event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"r"}}\n\n`;
    const failed = `event: response.failed\ndata: ${JSON.stringify({ type: 'response.failed', sequence_number: 2, response: { id: 'r', status: 'failed', error: { code: 'server_error', message: leak } } })}\n\n`;
    const error = `event: error\ndata: ${JSON.stringify({ type: 'error', sequence_number: 1, code: 'invalid_api_key', message: leak })}\n\n`;
    const gateway = await nativeGateway((_req, res) => {
      sseHead(res);
      res.end(created + error + failed);
    });
    const response = await fetch(`${gateway.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ model: 'nat/m', input: 'x', stream: true }) });
    const text = await bodyText(response);
    expect(text.startsWith(created)).toBe(true);
    expect(text).toContain('event: response.failed');
    expect(text).toContain('Incorrect API key provided: [redacted]');
    expectNoKey(text);
  });

  it('in a Responses non-stream body that carries an error', async () => {
    const gateway = await nativeGateway((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'r', status: 'failed', error: { code: 'server_error', message: leak } }));
    });
    const response = await fetch(`${gateway.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ model: 'nat/m', input: 'x' }) });
    const text = await bodyText(response);
    expect(JSON.parse(text).error.message).toBe('Incorrect API key provided: [redacted]');
    expectNoKey(text);
  });

  it('in an Anthropic Messages stream\'s error event', async () => {
    const gateway = await nativeGateway((_req, res) => {
      sseHead(res);
      res.end(`event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"c","usage":{"input_tokens":1,"output_tokens":0}}}\n\nevent: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: `bad key ${OTHER_KEY}` } })}\n\n`);
    });
    const response = await fetch(`${gateway.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'ant/c', max_tokens: 10, messages, stream: true }) });
    const text = await bodyText(response);
    expect(text).toContain('event: error');
    expect(text).toContain('bad key [redacted]');
    expectNoKey(text);
  });
});

describe('compressed upstream bodies', () => {
  const encoders = { gzip: gzipSync, br: brotliCompressSync, deflate: deflateSync };
  const sse = textStream(['Hel', 'lo ', 'there']);
  const json = JSON.stringify(completion('Hello there'));

  for (const [coding, encode] of Object.entries(encoders)) {
    for (const upstreamSse of [true, false]) {
      for (const clientStream of [true, false]) {
        it(`decodes ${coding} ${upstreamSse ? 'SSE' : 'JSON'} for a ${clientStream ? 'stream' : 'non-stream'} client`, async () => {
          const { gateway, upstream } = await setup(async (_req, res) => {
            res.writeHead(200, { 'content-type': upstreamSse ? 'text/event-stream' : 'application/json', 'content-encoding': coding });
            const bytes = encode(Buffer.from(upstreamSse ? sse : json));
            // In two writes, cut inside the compressed stream.
            res.write(bytes.subarray(0, bytes.length >> 1));
            await new Promise((r) => setTimeout(r, 5));
            res.end(bytes.subarray(bytes.length >> 1));
          });
          const client = gateway.client();
          let text = '';
          if (clientStream) {
            const stream = await client.chat.completions.create({ model: 'up/m', messages, stream: true });
            for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
          } else {
            const done = await client.chat.completions.create({ model: 'up/m', messages });
            text = done.choices[0]?.message.content ?? '';
          }
          expect(text).toBe('Hello there');
          expect(upstream.requests[0]?.headers['accept-encoding']).toBe('identity');
        });
      }
    }
  }
});

describe('invalid JSON in a data: line after the first byte', () => {
  // One content chunk, then a chunk cut short: the same bytes as the last one up to its content,
  // so the passthrough's scanner must not take it for another of that shape.
  const cutShort = chunk({ content: 'broken' });
  const broken = `${cutShort.slice(0, cutShort.indexOf('broken"') + 'broken"'.length)}\n\n`;
  const handler: UpstreamHandler = (_req, res) => {
    sseHead(res);
    res.end(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'first' }) + chunk({ content: 'second' }) + broken + chunk({ content: 'never' }) + DONE);
  };

  it('ends the stream with the error event and [DONE], which the SDK throws as an APIError', async () => {
    const { gateway } = await setup(handler);
    const stream = await gateway.client().chat.completions.create({ model: 'up/m', messages, stream: true });
    let text = '';
    const error = await (async () => {
      try {
        for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(text).toBe('firstsecond');
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toMatch(/not valid JSON/);
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]?.outcome).toBe('invalid_upstream');
  });

  it('on the wire: the good chunks as sent, then the error event and [DONE], nothing of the broken line', async () => {
    const { gateway } = await setup(handler);
    const response = await post(gateway, { model: 'up/m', messages, stream: true });
    expect(response.status).toBe(200);
    const text = await bodyText(response);
    expect(text).toContain(chunk({ content: 'second' }));
    expect(text).not.toContain('broken');
    expect(text).not.toContain('never');
    expect(text).toMatch(/data: \{"error":\{[^\n]*"code":"upstream_invalid_response"[^\n]*\}\}\n\ndata: \[DONE\]\n\n$/);
  });

  it('for a non-stream client (forced aggregation): a 502', async () => {
    const { gateway } = await setup(handler, '    force_upstream_stream: true');
    const response = await post(gateway, { model: 'up/m', messages });
    expect(response.status).toBe(502);
    expect(JSON.parse(await bodyText(response)).error.message).toMatch(/not valid JSON/);
  });
});

describe('a long event within max_event_mb (a 3 MB content string)', () => {
  const long = 'QUJD'.repeat(768 * 1024);
  const longChunk = chunk({ content: long });
  const handler: UpstreamHandler = async (_req, res) => {
    sseHead(res);
    res.write(chunk({ role: 'assistant', content: '' }));
    // In 64 KB writes, as a large image would come.
    for (let at = 0; at < longChunk.length; at += 64 * 1024) {
      if (!res.write(longChunk.slice(at, at + 64 * 1024))) await new Promise((r) => res.once('drain', r));
    }
    res.end(chunk({}, 'stop') + DONE);
  };

  it('reaches a stream client byte for byte, as the first content, and the SDK reads it', async () => {
    const { gateway } = await setup(handler);
    const response = await post(gateway, { model: 'up/m', messages, stream: true });
    const text = await bodyText(response);
    expect(text).toBe(chunk({ role: 'assistant', content: '' }) + longChunk + chunk({}, 'stop') + DONE);
    const stream = await gateway.client().chat.completions.create({ model: 'up/m', messages, stream: true });
    let content = '';
    for await (const c of stream) content += c.choices[0]?.delta.content ?? '';
    expect(content).toBe(long);
  });

  it('reaches a non-stream client (forced aggregation) and a Responses client whole', async () => {
    const { gateway } = await setup(handler, '    force_upstream_stream: true');
    const done = await gateway.client().chat.completions.create({ model: 'up/m', messages });
    expect(done.choices[0]?.message.content).toBe(long);
    const response = await fetch(`${gateway.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'up/m', input: 'hi', stream: true }) });
    expect(await bodyText(response)).toContain(`"delta":"${long}"`);
  });
});
