// `node bench/limits-ab.js [--rounds N] <name>=<checkout dir> ...`: scenario (g) of bench/run.js
// alone, A/B. Each checkout's build (its dist/, its node_modules) runs as one Sluice on the redis
// store with a key with rpm + tpm and a key without; every round runs (g)'s TTFT (c=1, 5 chunks)
// and non-stream (c=16) slices for every build and key, alternating, with bench/load.js. Prints, per
// build, the medians over rounds of the limited key's added TTFT p50 and limited / unlimited req/s,
// and Sluice's and Redis's CPU per non-stream request of each key.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createClient, median, percentile, runLoad } from './load.js';

const args = process.argv.slice(2);
let rounds = 5;
const builds = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--rounds') rounds = Number(args[++i]);
  else {
    const [name, dir] = args[i].split('=');
    builds.push({ name, dir: resolve(dir) });
  }
}
if (builds.length === 0) throw new Error('usage: node bench/limits-ab.js [--rounds N] <name>=<checkout dir> ...');
const SLICES = 4;
const TTFT_REQUESTS = 160;
const JSON_REQUESTS = 600;
const children = [];
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));
const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const cpu = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS;
};
const redisPid = Number(execFileSync('pgrep', ['-x', 'redis-server']).toString().trim().split('\n')[0]);

function start(command, argv, ready, env, cwd) {
  const child = spawn(command, argv, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((res, rej) => {
    let out = '';
    const onData = (d) => {
      if (out.length < 50_000) out += d;
      if (ready(out)) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        res(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => rej(new Error(`${command} exited ${code}: ${out}`)));
  });
}

const base = 30_000 + (process.pid % 2_000) * 10;
const dir = mkdtempSync(join(tmpdir(), 'sluice-limits-ab-'));
await start(process.execPath, ['bench/mock-upstream.js', String(base)], (o) => o.includes('listening'), {}, resolve(import.meta.dirname, '..'));
const targets = [];
for (const [i, b] of builds.entries()) {
  const config = join(dir, `${b.name}.yaml`);
  writeFileSync(
    config,
    `server:\n  api_keys:\n    - {key: bench-limited, name: limited, rpm: 1000000000, tpm: 1000000000000}\n    - {key: bench-free, name: unlimited}\nstate: {store: redis, url: "redis://127.0.0.1:6379", key_prefix: "sluice-ab-${process.pid}-${b.name}"}\nproviders:\n  - {name: up, type: openai, base_url: "http://127.0.0.1:${base}/v1", max_retries: 0}\n`,
  );
  const port = base + 1 + i;
  const child = await start(process.execPath, [join(b.dir, 'dist/cli.js'), '--config', config], (o) => o.includes('sluice is serving'), { LOG_LEVEL: 'info', PORT: String(port) }, b.dir);
  for (const [key, token] of [['unlimited', 'bench-free'], ['limited', 'bench-limited']]) {
    targets.push({ build: b.name, key, pid: child.pid, pool: createClient(`http://127.0.0.1:${port}`, 64), headers: { authorization: `Bearer ${token}` } });
  }
}
const body = (extra) => ({ model: 'up/bench', messages: [{ role: 'user', content: 'bench' }], ...extra });
const run = async (t, b, requests, concurrency) => {
  const out = await runLoad(t.pool, { path: '/v1/chat/completions', body: body(b), requests, concurrency, headers: t.headers });
  const failed = out.results.find((r) => !r.ok);
  if (failed) throw new Error(`${t.build} ${t.key}: ${failed.error}`);
  return out;
};
for (const t of targets) {
  await run(t, { stream: true, bench_chunks: 200 }, 300, 16);
  await run(t, { stream: false, bench_chunks: 50 }, 1000, 16);
}
const rows = targets.map(() => []);
for (let round = 0; round <= rounds; round++) {
  const ttft = targets.map(() => []);
  const json = targets.map(() => ({ n: 0, ms: 0, cpu: 0, redis: 0 }));
  for (let s = 0; s < SLICES; s++) {
    for (const [i, t] of targets.entries()) ttft[i].push(...(await run(t, { stream: true, bench_chunks: 5 }, TTFT_REQUESTS / SLICES, 1)).results.map((r) => r.ttft));
  }
  for (let s = 0; s < SLICES; s++) {
    for (const [i, t] of targets.entries()) {
      const c0 = cpu(t.pid);
      const r0 = cpu(redisPid);
      const { results, wallMs } = await run(t, { stream: false, bench_chunks: 50 }, JSON_REQUESTS / SLICES, 16);
      json[i].n += results.length;
      json[i].ms += wallMs;
      json[i].cpu += cpu(t.pid) - c0;
      json[i].redis += cpu(redisPid) - r0;
    }
  }
  if (round === 0) continue; // warm-up
  targets.forEach((t, i) => rows[i].push({ ttft: percentile(ttft[i], 50), rps: json[i].n / (json[i].ms / 1000), cpuUs: (json[i].cpu / json[i].n) * 1e6, redisUs: (json[i].redis / json[i].n) * 1e6 }));
  process.stderr.write(`round ${round}/${rounds}\n`);
}
const f = (v, d = 3) => v.toFixed(d);
for (const b of builds) {
  const u = targets.findIndex((t) => t.build === b.name && t.key === 'unlimited');
  const l = targets.findIndex((t) => t.build === b.name && t.key === 'limited');
  const added = rows[l].map((r, k) => r.ttft - rows[u][k].ttft);
  const ratio = rows[l].map((r, k) => r.rps / rows[u][k].rps);
  console.log(`${b.name}: added TTFT p50 ms ${added.map((v) => f(v)).join(' ')} -> median ${f(median(added))}; req/s limited/unlimited ${ratio.map((v) => f(v, 2)).join(' ')} -> median ${f(median(ratio), 2)}`);
  console.log(`  unlimited: TTFT p50 ${f(median(rows[u].map((r) => r.ttft)))} ms, ${f(median(rows[u].map((r) => r.rps)), 0)} req/s, Sluice ${f(median(rows[u].map((r) => r.cpuUs)), 0)} µs CPU/req; limited: Sluice ${f(median(rows[l].map((r) => r.cpuUs)), 0)} µs, Redis ${f(median(rows[l].map((r) => r.redisUs)), 0)} µs CPU/req`);
}
for (const t of targets) await t.pool.close();
process.exit(0);
