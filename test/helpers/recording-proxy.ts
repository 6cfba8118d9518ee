import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Exchange {
  method: string;
  url: string;
  requestHeaders: IncomingHttpHeaders;
  requestBody: string;
  status: number;
  responseHeaders: IncomingHttpHeaders;
  /** The whole response body, as the client received it. */
  responseBody: string;
}

export interface RecordingProxy {
  /** Origin to give the client instead of the target's. */
  origin: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy that forwards every request to `target` unchanged and records both sides,
 * so a test can check the bytes a client that hides them (a CLI) received from Sluice.
 */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const exchanges: Exchange[] = [];
  const sockets = new Set<Socket>();
  const to = new URL(target);
  const server: Server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      const requestBody = Buffer.concat(body);
      const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        const received: Buffer[] = [];
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.on('data', (c: Buffer) => {
          received.push(c);
          res.write(c);
        });
        up.on('end', () => {
          exchanges.push({
            method: req.method ?? '',
            url: req.url ?? '',
            requestHeaders: req.headers,
            requestBody: requestBody.toString('utf8'),
            status: up.statusCode ?? 0,
            responseHeaders: up.headers,
            responseBody: Buffer.concat(received).toString('utf8'),
          });
          res.end();
        });
      });
      upstream.on('error', (err) => res.destroy(err));
      upstream.end(requestBody);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    exchanges,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
