// The floor for any Node proxy, as a second reference beside nginx: node:http in, one undici pool
// out, bytes piped both ways with backpressure, nothing parsed or checked.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { Pool } from 'undici';

export function startNodePipe(upstreamOrigin, port = 0, host = '127.0.0.1') {
  const pool = new Pool(upstreamOrigin, { pipelining: 1, keepAliveTimeout: 60_000 });
  const server = createServer(async (req, res) => {
    try {
      const parts = [];
      for await (const part of req) parts.push(part);
      const upstream = await pool.request({ path: req.url, method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json' }, body: Buffer.concat(parts) });
      res.writeHead(upstream.statusCode, { 'content-type': upstream.headers['content-type'] ?? 'application/octet-stream' });
      for await (const bytes of upstream.body) if (!res.write(bytes)) await once(res, 'drain');
      res.end();
    } catch {
      res.destroy();
    }
  });
  server.keepAliveTimeout = 60_000;
  server.on('close', () => void pool.close());
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

// As a child process: `node bench/node-pipe.js <port> <upstream origin>`; prints "listening <port>".
if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startNodePipe(process.argv[3], Number(process.argv[2] ?? 0));
  process.stdout.write(`listening ${server.address().port}\n`);
}
