import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type ServerOptions as TlsServerOptions } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

export type UpstreamHandler = (req: RecordedRequest, res: ServerResponse, raw: IncomingMessage) => void | Promise<void>;

export interface FakeUpstream {
  /** Base URL to put in a provider's base_url (ends in /v1). */
  url: string;
  requests: RecordedRequest[];
  /** Resolves when the socket that carried request #n (0-based) closes. */
  socketClosed(n: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real loopback HTTP server speaking whatever the handler writes, byte by byte if need be; HTTPS
 * when given `tls` (key and certificate, and client-certificate settings if wanted).
 */
export async function startUpstream(handler: UpstreamHandler, tls?: TlsServerOptions): Promise<FakeUpstream> {
  const requests: RecordedRequest[] = [];
  const socketClosures: Array<Promise<void>> = [];
  const sockets = new Set<Socket>();
  // One 'close' listener per socket, however many requests a keep-alive socket carries.
  const closedOf = new WeakMap<Socket, Promise<void>>();
  const closed = (socket: Socket): Promise<void> => {
    let done = closedOf.get(socket);
    if (done === undefined) {
      done = socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
      closedOf.set(socket, done);
    }
    return done;
  };
  const onRequest = (raw: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    raw.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> = {};
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        body = { _raw: text };
      }
      const recorded: RecordedRequest = { method: raw.method ?? '', url: raw.url ?? '', headers: raw.headers, body };
      requests.push(recorded);
      const socket = raw.socket;
      socketClosures.push(closed(socket));
      Promise.resolve(handler(recorded, res, raw)).catch((err: unknown) => {
        res.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    });
  };
  const server: Server = tls === undefined ? createServer(onRequest) : createTlsServer(tls, onRequest);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/v1`,
    requests,
    socketClosed: async (n) => {
      while (socketClosures[n] === undefined) await new Promise((r) => setTimeout(r, 5));
      return socketClosures[n];
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let counter = 0;

/** An OpenAI chat.completion.chunk as a `data:` line, with the fields real upstreams send. */
export function chunk(delta: Record<string, unknown>, finishReason: string | null = null, extra: Record<string, unknown> = {}): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1700000000, model: 'up-model', choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], ...extra })}\n\n`;
}

export function usageChunk(prompt = 5, completion = 7): string {
  return `data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1700000000, model: 'up-model', choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } })}\n\n`;
}

export const DONE = 'data: [DONE]\n\n';

export function sseHead(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
}

/** A whole text stream: role chunk, one chunk per piece, finish, usage, [DONE]. */
export function textStream(pieces: string[], finish = 'stop'): string {
  return [chunk({ role: 'assistant', content: '', refusal: null }), ...pieces.map((p) => chunk({ content: p })), chunk({}, finish), usageChunk(), DONE].join('');
}

export function completion(content: string | null, extra: Record<string, unknown> = {}): Record<string, unknown> {
  counter++;
  return {
    id: `chatcmpl-json-${counter}`,
    object: 'chat.completion',
    created: 1700000000,
    model: 'up-model',
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    ...extra,
  };
}
