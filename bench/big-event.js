// `npm run bench:big-event`: one upstream SSE event of 40 MB (a content string with no newline,
// as a base64 image would be), written in 64 KB pieces by a loopback upstream, streamed through
// Sluice to one client while another polls /healthz every 10 ms. Reports Sluice's CPU seconds for
// that stream and the /healthz latencies while it ran. Targets (issue 18): under 1 s of CPU,
// /healthz p99 under 100 ms. `--mb N` changes the event's size. The upstream and the poller run
// in worker threads, so that the client reading 40 MB does not delay the poller's own loop.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { request } from 'undici';
import { cpuSeconds } from './proc.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const PIECE = 64 * 1024;

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Worker: an OpenAI-shaped upstream: a role chunk, one content chunk of `mb` MB (1 KB for a warm-up request), finish, [DONE]. */
function runUpstream(mb) {
  const piece = Buffer.alloc(PIECE, 'x');
  const frame = (delta, finish = null) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      const size = body.includes('"warm"') ? 1024 : mb * 1024 * 1024;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(frame({ role: 'assistant', content: '' }));
      res.write('data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"');
      for (let sent = 0; sent < size; sent += PIECE) {
        if (!res.write(size < PIECE ? piece.subarray(0, size) : piece)) await new Promise((r) => res.once('drain', r));
      }
      res.write('"},"finish_reason":null}]}\n\n');
      res.end(frame({}, 'stop') + 'data: [DONE]\n\n');
    });
  });
  server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
}

/** Worker: GET /healthz every 10 ms until told to stop; posts the latencies. */
function runPoller(origin) {
  const latencies = [];
  let polling = true;
  parentPort.on('message', () => (polling = false));
  (async () => {
    while (polling) {
      const t = performance.now();
      await (await request(`${origin}/healthz`)).body.dump();
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
    parentPort.postMessage({ latencies });
  })();
}

function startSluice(upstreamUrl, port, mb) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-big-event-'));
  const config = join(dir, 'sluice.yaml');
  writeFileSync(config, `server: {host: 127.0.0.1, port: ${port}}\nproviders:\n  - {name: up, type: openai, base_url: "${upstreamUrl}", max_retries: 0, max_event_mb: ${Math.max(32, mb + 8)}}\n`);
  // SLUICE_NODE_ARGS: e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile this run.
  const nodeArgs = process.env.SLUICE_NODE_ARGS ? process.env.SLUICE_NODE_ARGS.split(' ') : [];
  const child = spawn(process.execPath, [...nodeArgs, 'dist/cli.js', '--config', config], { cwd: root, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  process.on('exit', () => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      if (out.length < 100_000) out += d.toString();
      if (out.includes('sluice is serving')) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume(); // keep draining its access log
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`sluice exited (${code}):\n${out}`)));
  });
}

function worker(role, data) {
  const w = new Worker(fileURLToPath(import.meta.url), { workerData: { role, ...data } });
  return { w, message: () => new Promise((resolve) => w.once('message', resolve)) };
}

async function stream(origin, content) {
  const response = await request(`${origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'up/m', stream: true, messages: [{ role: 'user', content }] }),
  });
  let bytes = 0;
  let tail = '';
  for await (const chunk of response.body) {
    bytes += chunk.length;
    tail = (tail + chunk.toString('latin1')).slice(-64);
  }
  return { status: response.statusCode, bytes, complete: tail.endsWith('data: [DONE]\n\n') };
}

async function main() {
  const mbArg = process.argv.indexOf('--mb');
  const mb = mbArg > 0 ? Number(process.argv[mbArg + 1]) : 40;
  if (!existsSync(join(root, 'dist/cli.js'))) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  const upstream = worker('upstream', { mb });
  const { port: upstreamPort } = await upstream.message();
  const port = 20_000 + (process.pid % 5_000) + 7;
  const sluice = await startSluice(`http://127.0.0.1:${upstreamPort}/v1`, port, mb);
  const origin = `http://127.0.0.1:${port}`;
  // Warm the routes, so that the measured stream does not pay for first-use module loading.
  for (let i = 0; i < 20; i++) await (await request(`${origin}/healthz`)).body.dump();
  for (let i = 0; i < 5; i++) await stream(origin, 'warm');

  const poller = worker('poller', { origin });
  await new Promise((r) => setTimeout(r, 100));
  const cpuBefore = cpuSeconds(sluice.pid);
  const started = performance.now();
  const result = await stream(origin, 'draw');
  const wall = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(sluice.pid) - cpuBefore;
  const done = poller.message();
  poller.w.postMessage('stop');
  const { latencies } = await done;
  // SIGTERM, not SIGKILL: a --cpu-prof run (SLUICE_NODE_ARGS) writes its profile at exit.
  await new Promise((resolve) => {
    sluice.once('exit', resolve);
    sluice.kill('SIGTERM');
  });
  await upstream.w.terminate();
  await poller.w.terminate();

  latencies.sort((a, b) => a - b);
  const ok = result.status === 200 && result.complete && result.bytes > mb * 1024 * 1024;
  const p99 = percentile(latencies, 99);
  const rows = [
    ['event size', `${mb} MB`, ''],
    ['stream delivered whole', ok ? 'yes' : `no (status ${result.status}, ${result.bytes} bytes)`, ''],
    ['sluice CPU-s for the stream', cpu.toFixed(2), cpu < 1 ? 'PASS (< 1)' : 'FAIL (< 1)'],
    ['wall s', wall.toFixed(2), ''],
    ['/healthz polls during the stream', String(latencies.length), ''],
    ['/healthz p50 ms', percentile(latencies, 50).toFixed(1), ''],
    ['/healthz p99 ms', p99.toFixed(1), p99 < 100 ? 'PASS (< 100)' : 'FAIL (< 100)'],
    ['/healthz max ms', latencies[latencies.length - 1].toFixed(1), ''],
  ];
  for (const [name, value, verdict] of rows) console.log(`${name.padEnd(34)} ${value.padStart(10)}  ${verdict}`);
  process.exit(ok ? 0 : 1);
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else if (workerData.role === 'upstream') runUpstream(workerData.mb);
else runPoller(workerData.origin);
