import { readFileSync } from 'node:fs';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerConfig } from '../config/schema.js';
import { SluiceError } from '../core/errors.js';

/**
 * Hostile and broken clients, at the HTTP layer: what node:http would otherwise answer in its own
 * shape or by dropping the connection. Each guard costs nothing per request on the normal path.
 */

/** After a 413, how much more of the upload is read and discarded, and for how long, before the connection is cut. */
const LINGER_BYTES = 256 * 1024 * 1024;
const LINGER_MS = 10_000;

/** An error written straight onto the socket (node:http has no response object for it), in OpenAI shape. */
function rawErrorResponse(status: number, message: string, code: string): string {
  const body = JSON.stringify(new SluiceError('SLUICE_ERR_BAD_REQUEST', status, status === 408 ? 'timeout_error' : 'invalid_request_error', message, { openaiCode: code }).toBody());
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * fastify's clientErrorHandler: node:http's parse errors and timeouts (before a request exists)
 * answered in OpenAI shape where the socket can still take a response.
 */
export function clientErrorHandler(err: Error & { code?: string; bytesParsed?: number }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let reply: string;
  if (err.code === 'HPE_HEADER_OVERFLOW') reply = rawErrorResponse(431, 'The request headers are too large (or too many).', 'headers_too_large');
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') reply = rawErrorResponse(408, 'The request was not received in time (server.request_timeout_ms / headers_timeout_ms).', 'request_timeout');
  else reply = rawErrorResponse(400, `The request is not valid HTTP (${err.code ?? 'parse error'}).`, 'bad_http_request');
  // A response may already be under way on this connection (pipelining): then only close it.
  const busy = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (socket.writable && (busy === undefined || busy === null || !busy.headersSent)) socket.end(reply);
  socket.destroySoon();
}

/**
 * The node:http settings of the server fastify creates: the timeouts from the config, checked often
 * enough to matter (node checks every 30 s by default). `requestTimeout` is fastify's own option
 * (it sets it on the server); these are passed through fastify's `http` option.
 */
export function httpServerOptions(server: ServerConfig): { headersTimeout: number; connectionsCheckingInterval: number } {
  const shortest = Math.min(server.headers_timeout_ms, server.request_timeout_ms);
  return { headersTimeout: shortest, connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(shortest / 4))) };
}

/**
 * What Sluice adds to fastify's node:http server: `Expect: 100-continue` answered with a 413
 * before the client sends a body that is over the limit, the in-flight body budget (taken before
 * fastify's handler sees the request), and the send timeout. Listeners on fastify's own server
 * rather than a serverFactory of ours: with the same settings, the server a factory made served
 * the first token later (bench/PROFILE.md, "server factory").
 */
export function guardServer(http: Server, server: ServerConfig, bodyLimitBytes: number): void {
  http.prependListener('request', bodyBudget(server.inflight_body_mb * 1024 * 1024, bodyLimitBytes));
  http.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (Number(req.headers['content-length']) > bodyLimitBytes) {
      const body = JSON.stringify(bodyTooLarge(server.body_limit_mb).toBody());
      res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
      return;
    }
    res.writeContinue();
    http.emit('request', req, res);
  });
  watchSends(http, server.send_timeout_ms);
}

export function bodyTooLarge(limitMb: number): SluiceError {
  return new SluiceError('SLUICE_ERR_BODY_TOO_LARGE', 413, 'invalid_request_error', `The request body is larger than the ${limitMb} MB limit (server.body_limit_mb).`, { openaiCode: 'request_too_large' });
}

/**
 * A 413 sent while the client is still uploading: fastify asks for `Connection: close`, after which
 * node:http closes the socket with the upload's bytes unread, and the client gets a reset (EPIPE)
 * instead of the 413. So the rest of the upload is read and discarded first (node:http does this
 * on a keep-alive connection), as nginx's lingering close does, for at most LINGER_BYTES and
 * LINGER_MS; then the connection closes.
 */
export function lingerAfterRejecting(request: FastifyRequest, reply: FastifyReply): void {
  const req = request.raw;
  if (req.complete) return;
  reply.removeHeader('connection');
  const socket = req.socket;
  let read = 0;
  const cut = (): void => {
    socket.destroy();
  };
  const timer = setTimeout(cut, LINGER_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    read += chunk.length;
    if (read > LINGER_BYTES) cut();
  });
  req.resume();
  req.once('end', () => {
    clearTimeout(timer);
    // The upload is over and the 413 is out: the client may keep the connection, or not.
    socket.once('close', () => clearTimeout(timer));
  });
  req.once('close', () => clearTimeout(timer));
}

/**
 * A send timeout: a connection whose client takes none of what it was sent for `timeoutMs` is
 * cut (a client that stopped reading would otherwise hold its socket and a few MB of kernel
 * buffer as long as it likes). One sweep over the open connections, not a timer per write.
 */
function watchSends(http: Server, timeoutMs: number): void {
  const connections = new Map<Socket, { flushed: number; since: number }>();
  http.on('connection', (socket: Socket) => {
    connections.set(socket, { flushed: 0, since: 0 });
    socket.once('close', () => connections.delete(socket));
  });
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [socket, seen] of connections) {
      if (socket.writableLength === 0) {
        seen.since = 0;
        continue;
      }
      const flushed = socket.bytesWritten - socket.writableLength;
      if (seen.since === 0 || flushed !== seen.flushed) {
        seen.flushed = flushed;
        seen.since = now;
      } else if (now - seen.since >= timeoutMs) {
        connections.delete(socket);
        socket.destroy();
      }
    }
  }, Math.max(50, Math.min(1000, Math.floor(timeoutMs / 4))));
  sweep.unref();
  http.once('close', () => clearInterval(sweep));
}

/** The listen backlog: the configured one, no more than the kernel's somaxconn (which would cap it silently). */
export function listenBacklog(configured: number): number {
  try {
    const max = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    return Number.isFinite(max) && max > 0 ? Math.min(configured, max) : configured;
  } catch {
    return configured;
  }
}

const BUSY = Symbol('sluice.bodyBudgetExceeded');
type Marked = IncomingMessage & { [BUSY]?: true };

/**
 * A bound on request-body bytes being received at once, over all requests (server.inflight_body_mb):
 * each upload reserves its Content-Length (or the body limit, when chunked) as node:http hands the
 * request over, until it has arrived; one that does not fit is marked, and refused by
 * bodyBudgetRefusal with a 503 before a byte of it is read. At node:http's level rather than in a
 * fastify preParsing hook, which cost several percent of a small request (bench/PROFILE.md, "body budget").
 */
function bodyBudget(budgetBytes: number, bodyLimitBytes: number): (req: IncomingMessage) => void {
  let inflight = 0;
  return (req) => {
    const method = req.method;
    if (method === 'GET' || method === 'HEAD') return;
    const length = Number(req.headers['content-length']);
    const reserved = length >= 0 ? length : bodyLimitBytes;
    // Nothing to hold for an empty body, nor for one over the limit: that one gets its 413 unread.
    if (reserved === 0 || reserved > bodyLimitBytes) return;
    if (inflight + reserved > budgetBytes && inflight > 0) {
      (req as Marked)[BUSY] = true;
      return;
    }
    inflight += reserved;
    // 'close' comes once the body has been read (just after 'end'), or when the request is cut off.
    req.on('close', () => {
      inflight -= reserved;
    });
  };
}

/** The 503 for a request whose body did not fit the in-flight budget (see bodyBudget), or undefined. */
export function bodyBudgetRefusal(req: IncomingMessage, budgetMb: number): SluiceError | undefined {
  if ((req as Marked)[BUSY] !== true) return undefined;
  return new SluiceError('SLUICE_ERR_SERVER_BUSY', 503, 'server_error', `Sluice is receiving too many request bodies at once (server.inflight_body_mb: ${budgetMb}); retry shortly.`, { openaiCode: 'server_busy', headers: { 'retry-after': '1' }, retryable: true });
}
