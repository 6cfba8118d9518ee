import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseWriter } from '../../src/streaming/sse-writer.js';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** Serves one stream through an SseWriter; reports whether the socket was still corked right after the first write. */
async function serveOnce(idle: boolean): Promise<{ corkedAfterFirstWrite: number; body: string; contentType: string | null }> {
  let corkedAfterFirstWrite = -1;
  server = createServer((_req, res) => {
    const writer = new SseWriter(res, () => ({ 'x-request-id': 'r1' }), () => idle);
    writer.write('data: {"n":1}\n\n');
    corkedAfterFirstWrite = res.socket?.writableCorked ?? -1;
    writer.write('data: {"n":2}\n\n');
    writer.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const response = await fetch(`http://127.0.0.1:${port}/`);
  const body = await response.text();
  return { corkedAfterFirstWrite, body, contentType: response.headers.get('content-type') };
}

describe('SseWriter', () => {
  const expected = 'data: {"n":1}\n\ndata: {"n":2}\n\ndata: [DONE]\n\n';

  it('sends the first events at once when nothing else is in flight', async () => {
    const served = await serveOnce(true);
    expect(served.corkedAfterFirstWrite).toBe(0);
    expect(served.body).toBe(expected);
    expect(served.contentType).toBe('text/event-stream; charset=utf-8');
  });

  it('under load, leaves the first events corked until the next tick, to go out with the rest in one write', async () => {
    const served = await serveOnce(false);
    expect(served.corkedAfterFirstWrite).toBeGreaterThan(0);
    expect(served.body).toBe(expected);
  });
});
