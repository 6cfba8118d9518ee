// The floors for a Node proxy, as references beside nginx: node:http in, one undici pool out, bytes
// piped both ways with backpressure, nothing parsed or checked; and the same pipe behind fastify,
// the floor of Sluice's own stack before any of its work.
import { once } from 'node:events';
import { createServer } from 'node:http';
import Fastify from 'fastify';
import { Pool } from 'undici';

function upstreamPool(upstreamOrigin) {
  return new Pool(upstreamOrigin, { pipelining: 1, keepAliveTimeout: 60_000 });
}

/** One request through the pool, its answer piped to `res` as it arrives. */
async function pipe(pool, path, contentType, body, res) {
  const upstream = await pool.request({ path, method: 'POST', headers: { 'content-type': contentType ?? 'application/json' }, body });
  res.writeHead(upstream.statusCode, { 'content-type': upstream.headers['content-type'] ?? 'application/octet-stream' });
  for await (const bytes of upstream.body) if (!res.write(bytes)) await once(res, 'drain');
  res.end();
}

export function startNodePipe(upstreamOrigin, port = 0, host = '127.0.0.1') {
  const pool = upstreamPool(upstreamOrigin);
  const server = createServer(async (req, res) => {
    try {
      const parts = [];
      for await (const part of req) parts.push(part);
      await pipe(pool, req.url, req.headers['content-type'], Buffer.concat(parts), res);
    } catch {
      res.destroy();
    }
  });
  server.keepAliveTimeout = 60_000;
  server.on('close', () => void pool.close());
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

/** The same pipe as a fastify route: the body read as bytes, the reply hijacked, no logger. */
export async function startFastifyPipe(upstreamOrigin, port = 0, host = '127.0.0.1') {
  const pool = upstreamPool(upstreamOrigin);
  const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/v1/chat/completions', async (request, reply) => {
    reply.hijack();
    try {
      await pipe(pool, request.url, request.headers['content-type'], request.body, reply.raw);
    } catch {
      reply.raw.destroy();
    }
  });
  app.server.on('close', () => void pool.close());
  await app.listen({ port, host });
  return app.server;
}

// As a child process: `node bench/node-pipe.js <port> <upstream origin> [--fastify]`; prints "listening <port>".
if (import.meta.url === `file://${process.argv[1]}`) {
  const start = process.argv.includes('--fastify') ? startFastifyPipe : startNodePipe;
  const server = await start(process.argv[3], Number(process.argv[2] ?? 0));
  process.stdout.write(`listening ${server.address().port}\n`);
}
