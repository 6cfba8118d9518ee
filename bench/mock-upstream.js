// A loopback OpenAI-compatible upstream that is never the bottleneck: every SSE body is built once
// per (chunk count) and replayed. Per request, the body's unknown fields choose the shape:
//   bench_chunks (default 200), bench_delay_ms (between chunks, default 0), bench_no_done (omit [DONE]).
import { createServer } from 'node:http';

const cache = new Map();

function frame(obj) {
  return Buffer.from(`data: ${JSON.stringify(obj)}\n\n`);
}

/** [role chunk, ...content chunks, finish chunk, usage chunk, [DONE]] as ready Buffers. */
export function streamBuffers(chunks) {
  let buffers = cache.get(chunks);
  if (buffers) return buffers;
  const base = { id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'bench' };
  const choice = (delta, finish = null) => ({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  buffers = [frame(choice({ role: 'assistant', content: '' }))];
  for (let i = 0; i < chunks; i++) buffers.push(frame(choice({ content: `tok${i % 10} ` })));
  buffers.push(frame(choice({}, 'stop')));
  buffers.push(frame({ ...base, choices: [], usage: { prompt_tokens: 10, completion_tokens: chunks, total_tokens: 10 + chunks } }));
  buffers.push(Buffer.from('data: [DONE]\n\n'));
  cache.set(chunks, buffers);
  return buffers;
}

export function completionBody(chunks) {
  let content = '';
  for (let i = 0; i < chunks; i++) content += `tok${i % 10} `;
  return Buffer.from(
    JSON.stringify({
      id: 'chatcmpl-bench',
      object: 'chat.completion',
      created: 1700000000,
      model: 'bench',
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: chunks, total_tokens: 10 + chunks },
    }),
  );
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function answer(req, res, body) {
  const chunks = Number.isInteger(body.bench_chunks) ? body.bench_chunks : 200;
  const delay = Number(body.bench_delay_ms) || 0;
  if (body.stream !== true) {
    const json = completionBody(chunks);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length });
    res.end(json);
    return;
  }
  const buffers = streamBuffers(chunks);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const last = body.bench_no_done ? buffers.length - 1 : buffers.length;
  for (let i = 0; i < last; i++) {
    if (res.destroyed) return;
    // The role chunk and the first token go out together; the delay applies between tokens.
    if (delay > 0 && i > 1) await sleep(delay);
    if (!res.write(buffers[i])) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}

export function startMockUpstream(port = 0, host = '127.0.0.1') {
  const server = createServer((req, res) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      let body = {};
      try {
        body = JSON.parse(Buffer.concat(parts).toString('utf8') || '{}');
      } catch {
        res.writeHead(400).end();
        return;
      }
      answer(req, res, body).catch(() => res.destroy());
    });
  });
  server.keepAliveTimeout = 60_000;
  server.maxConnections = 10_000;
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

// As a child process: `node bench/mock-upstream.js <port>`; prints "listening <port>".
if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startMockUpstream(Number(process.argv[2] ?? 0));
  process.stdout.write(`listening ${server.address().port}\n`);
}
