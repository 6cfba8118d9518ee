import { createServer, type ServerResponse, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { truncated } from '../../src/core/errors.js';
import { chatErrorEvent } from '../../src/fronts/chat/sink.js';
import { SseWriter, watchFlush } from '../../src/streaming/sse-writer.js';
import { rawPost } from '../helpers/raw-http.js';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** Serves one stream through an SseWriter driven by `drive`; returns what a plain socket read. */
async function serveOnce(drive: (writer: SseWriter, res: ServerResponse) => void | Promise<void>): Promise<Awaited<ReturnType<typeof rawPost>>> {
  server = createServer((_req, res) => {
    void drive(new SseWriter(res, () => ({ 'x-request-id': 'r1' })), res);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return rawPost(`http://127.0.0.1:${port}`, '/', {});
}

const DONE = 'data: [DONE]\n\n';
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SseWriter', () => {
  const expected = 'data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n';

  it('writes, then ends in the same tick: every event before the end of the body', async () => {
    const served = await serveOnce((writer) => {
      writer.write('data: {"n":1}\n\n');
      writer.write('data: {"n":2}\n\n');
      writer.end(DONE);
    });
    expect(served.trailing).toBe('');
    expect(served.terminated).toBe(true);
    expect(served.body).toBe(expected);
    expect(served.head).toMatch(/\r\ncontent-type: text\/event-stream; charset=utf-8\r\n/i);
    expect(served.head).toMatch(/\r\nx-request-id: r1\r\n/i);
  });

  it('one write a tick apart, then two and the end together', async () => {
    const served = await serveOnce(async (writer) => {
      writer.write('data: {"n":1}\n\n');
      await tick();
      writer.write('data: {"n":2}\n\n');
      writer.write('data: {"n":3}\n\n');
      writer.end(DONE);
    });
    expect(served.trailing).toBe('');
    expect(served.body).toBe('data: {"n":1}\n\ndata: {"n":2}\n\ndata: {"n":3}\n\ndata: [DONE]\n\n');
  });

  it('a failure after events: one error event, then [DONE], then the end', async () => {
    const served = await serveOnce((writer) => {
      writer.write('data: {"n":1}\n\n');
      writer.end(chatErrorEvent(truncated('up', 'cut short')));
    });
    expect(served.trailing).toBe('');
    const events = served.body.split('\n\n').filter((e) => e !== '');
    expect(events[0]).toBe('data: {"n":1}');
    expect(JSON.parse(events[1]?.slice('data: '.length) ?? '')).toMatchObject({ error: { type: 'server_error', code: 'upstream_truncated' } });
    expect(events[2]).toBe('data: [DONE]');
    expect(events).toHaveLength(3);
  });

  it('writes nothing after the end', async () => {
    const served = await serveOnce((writer, res) => {
      writer.write('data: {"n":1}\n\n');
      writer.end(DONE);
      expect(writer.write('data: {"n":2}\n\n')).toBeUndefined();
      writer.ping();
      expect(res.writableEnded).toBe(true);
    });
    expect(served.body).toBe('data: {"n":1}\n\ndata: [DONE]\n\n');
  });
});

describe('watchFlush', () => {
  /** A server whose handler is `serve`, and a raw client that sends one request and reads nothing itself. */
  async function connectTo(serve: (res: ServerResponse) => void): Promise<Socket> {
    server = createServer((_req, res) => serve(res));
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    return socket;
  }

  it('true once the end reached the socket', async () => {
    let flushed: Promise<boolean> | undefined;
    const socket = await connectTo((res) => {
      const watched = watchFlush(res);
      res.write('data: {"n":1}\n\n');
      res.end('data: [DONE]\n\n');
      flushed = watched();
    });
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    await vi.waitFor(() => expect(flushed).toBeDefined());
    await expect(flushed).resolves.toBe(true);
    await vi.waitFor(() => expect(Buffer.concat(received).toString()).toContain('data: [DONE]'));
    socket.destroy();
  });

  it('true for a response on a connection that closes after it', async () => {
    let flushed: Promise<boolean> | undefined;
    const served = await serveOnce((writer, res) => {
      const watched = watchFlush(res);
      writer.write('data: {"n":1}\n\n');
      writer.end(DONE);
      flushed = watched();
    });
    expect(served.body).toBe('data: {"n":1}\n\ndata: [DONE]\n\n');
    await expect(flushed).resolves.toBe(true);
  });

  it('false when the client goes away with the end still buffered', async () => {
    let response: ServerResponse | undefined;
    let flushed: Promise<boolean> | undefined;
    // More than loopback's socket buffers hold while the client reads nothing, so the end stays
    // in the response's socket until the client disconnects.
    const filler = Buffer.alloc(64 * 1024 * 1024, 0x61);
    const socket = await connectTo((res) => {
      response = res;
      const watched = watchFlush(res);
      res.write(filler);
      res.end('data: [DONE]\n\n');
      flushed = watched();
    });
    socket.pause();
    await vi.waitFor(() => expect(flushed).toBeDefined());
    // The premise: ended, but not all of it handed to the kernel.
    expect(response?.writableEnded).toBe(true);
    expect(response?.writableFinished).toBe(false);
    expect(response?.writableLength).toBeGreaterThan(0);
    socket.destroy();
    await expect(flushed).resolves.toBe(false);
  });
});
