import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { bodyText, type RunningGateway } from '../helpers/gateway.js';
import { chunk, completion, sseHead, type UpstreamHandler } from '../helpers/upstream.js';

const scoped = closedAfterEach();

const ok: UpstreamHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(completion('fine')));
};

async function setup(server: string, handler: UpstreamHandler = ok): Promise<{ gateway: RunningGateway; requests: () => number }> {
  const upstream = await scoped.upstream(handler);
  const gateway = await scoped.gateway(`
server:
${server}
providers:
  - name: up
    type: openai
    base_url: ${upstream.url}
`);
  let requests = 0;
  gateway.app.server.on('request', () => requests++);
  return { gateway, requests: () => requests };
}

/** A body of about `bytes` that is a valid chat request. */
function bigBody(bytes: number): string {
  return JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'x'.repeat(bytes) }] });
}

/** Raw bytes to the gateway; everything it answers until it closes (or `ms`). */
function raw(g: RunningGateway, write: (socket: Socket) => void, ms = 5000): Promise<string> {
  const { port } = new URL(g.url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), '127.0.0.1', () => write(socket));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, ms);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('error', (err) => (chunks.length > 0 ? undefined : reject(err)));
  });
}

function openAIErrorIn(response: string): { status: number; error: { message: string; type: string; code: string | null } } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
  const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { error: { message: string; type: string; code: string | null } };
  expect(body).toEqual({ error: { message: expect.any(String), type: expect.any(String), param: null, code: expect.any(String) } });
  return { status, error: body.error };
}

describe('an over-limit body: every client reads the 413', () => {
  const server = '  body_limit_mb: 1';
  // Far more than loopback's socket buffers take: the client is still uploading when the 413 goes out.
  const UPLOAD = 48 * 1024 * 1024;

  it('node:http, uploading in pieces', async () => {
    const { gateway } = await setup(server);
    for (let i = 0; i < 3; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': UPLOAD } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        const piece = Buffer.alloc(64 * 1024, 'x');
        let sent = 0;
        const pump = (): void => {
          while (sent < UPLOAD) {
            sent += piece.length;
            if (!req.write(piece)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      expect(status).toBe(413);
    }
  });

  it('node:http with Expect: 100-continue gets the 413 before sending the body', async () => {
    const { gateway } = await setup(server);
    const result = await new Promise<{ status: number; continued: boolean; body: string }>((resolve, reject) => {
      let continued = false;
      const req = httpRequest(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': 4 * 1024 * 1024, expect: '100-continue' } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, continued, body }));
      });
      req.on('continue', () => {
        continued = true;
        req.end(Buffer.alloc(4 * 1024 * 1024, 'x'));
      });
      req.on('error', reject);
    });
    expect(result.status).toBe(413);
    expect(result.continued).toBe(false);
    expect(JSON.parse(result.body).error.code).toBe('request_too_large');
  });

  it('undici fetch', async () => {
    const { gateway } = await setup(server);
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bigBody(UPLOAD) });
      expect(response.status).toBe(413);
      expect(JSON.parse(await bodyText(response)).error.code).toBe('request_too_large');
    }
  });

  it('the OpenAI SDK: an APIError 413, not a connection error, and no retried upload', async () => {
    const { gateway, requests } = await setup(server);
    const client = gateway.client({ maxRetries: 2 });
    for (let i = 0; i < 3; i++) {
      const err = await client.chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x'.repeat(UPLOAD) }] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err).not.toBeInstanceOf(OpenAI.APIConnectionError);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    }
    expect(requests()).toBe(3);
    // The server still serves.
    expect((await client.chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'hi' }] })).choices[0]?.message.content).toBe('fine');
  });
});

describe('a request JSON nested too deep', () => {
  it('is a 400 naming the limit, not a 500, at any depth', async () => {
    const { gateway } = await setup('  max_json_depth: 64');
    for (const depth of [65, 5_000, 200_000]) {
      const deep = `{"model":"up/m","messages":[{"role":"user","content":"x"}],"metadata":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
      expect(response.status).toBe(400);
      const body = JSON.parse(await bodyText(response));
      expect(body.error.code).toBe('json_too_deep');
      expect(body.error.message).toMatch(/max_json_depth/);
    }
    expect(gateway.rawLogs.join('')).not.toMatch(/RangeError|Maximum call stack/);
    // Brackets inside strings do not count, and a body at the limit passes.
    const fine = `{"model":"up/m","messages":[{"role":"user","content":"${'[{'.repeat(500)}\\"${'['.repeat(100)}"}],"metadata":${'['.repeat(60)}${']'.repeat(60)}}`;
    expect((await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: fine })).status).not.toBe(400);
  });

  it('a deeply nested body at the default limit is a 400 too', async () => {
    const { gateway } = await setup('  keepalive_ms: 15000');
    const depth = 100_000;
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"model":"up/m","messages":[{"role":"user","content":"x"}],"tools":${'['.repeat(depth)}${']'.repeat(depth)}}` });
    expect(response.status).toBe(400);
  });
});

describe('a client that stops reading', () => {
  it('is cut after send_timeout_ms, and its upstream with it', async () => {
    let upstreamClosed = false;
    const { gateway } = await setup('  send_timeout_ms: 300', async (_req, res) => {
      sseHead(res);
      res.on('close', () => (upstreamClosed = true));
      const frame = chunk({ content: 'y'.repeat(16 * 1024) });
      for (let i = 0; i < 4000 && !res.destroyed; i++) {
        if (!res.write(frame)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
    });
    const { port } = new URL(gateway.url);
    const body = JSON.stringify({ model: 'up/m', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      socket.pause(); // and never read
    });
    socket.on('error', () => undefined);
    // The gateway cuts the connection, which aborts the upstream request.
    const until = Date.now() + 10_000;
    while (!upstreamClosed && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(upstreamClosed).toBe(true);
    // What the client gets once it reads again: what was in flight, then the end, never [DONE].
    let received = '';
    socket.on('data', (d: Buffer) => (received = (received + d.toString('latin1')).slice(-100)));
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(received).not.toContain('[DONE]');
  }, 20_000);
});

describe("errors from node's HTTP layer, in OpenAI shape", () => {
  it('431 for headers too large', async () => {
    const { gateway } = await setup('  keepalive_ms: 15000');
    const response = await raw(gateway, (s) => s.write(`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(64 * 1024)}\r\n\r\n`));
    const { status, error } = openAIErrorIn(response);
    expect(status).toBe(431);
    expect(error.code).toBe('headers_too_large');
  });

  it('431 for too many headers', async () => {
    const { gateway } = await setup('  keepalive_ms: 15000');
    const headers = Array.from({ length: 10_000 }, (_, i) => `x-h${i}: v`).join('\r\n');
    const response = await raw(gateway, (s) => s.write(`GET /healthz HTTP/1.1\r\nhost: x\r\n${headers}\r\n\r\n`));
    expect(openAIErrorIn(response).status).toBe(431);
  });

  it('400 for broken framing', async () => {
    const { gateway } = await setup('  keepalive_ms: 15000');
    const response = await raw(gateway, (s) => s.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: nope\r\n\r\n{}'));
    const { status, error } = openAIErrorIn(response);
    expect(status).toBe(400);
    expect(error.code).toBe('bad_http_request');
  });

  it('408 for a request that does not arrive within request_timeout_ms (slowloris)', async () => {
    const { gateway } = await setup('  request_timeout_ms: 400\n  headers_timeout_ms: 400');
    const response = await raw(gateway, (s) => {
      s.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n');
      const drip = setInterval(() => (s.writable ? s.write('x-a: b\r\n') : clearInterval(drip)), 100);
      s.on('close', () => clearInterval(drip));
    }, 8000);
    const { status, error } = openAIErrorIn(response);
    expect(status).toBe(408);
    expect(error.code).toBe('request_timeout');
  });
});

describe('the in-flight request body budget', () => {
  it('answers 503 server_busy to an upload that does not fit, and serves once there is room', async () => {
    const { gateway } = await setup('  body_limit_mb: 1\n  inflight_body_mb: 1.5');
    const { port } = new URL(gateway.url);
    const size = 1000 * 1024;
    const body = bigBody(size - 100);
    // The first upload sends its head and half its body, then waits.
    const slow = connect(Number(port), '127.0.0.1');
    await new Promise((r) => slow.once('connect', r));
    slow.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`);
    slow.write(body.slice(0, 1000));
    await new Promise((r) => setTimeout(r, 200));
    const refused = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(JSON.parse(await bodyText(refused)).error.code).toBe('server_busy');
    const answered = new Promise<string>((resolve) => {
      let out = '';
      slow.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        if (out.includes('"fine"')) resolve(out);
      });
    });
    slow.write(body.slice(1000)); // not end(): node:http drops a request whose client half-closes
    expect(await answered).toMatch(/^HTTP\/1\.1 200/);
    slow.destroy();
    const after = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(after.status).toBe(200);
  });
});
