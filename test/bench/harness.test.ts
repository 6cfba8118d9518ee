import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, median, percentile, runLoad } from '../../bench/load.js';
import { startMockUpstream } from '../../bench/mock-upstream.js';
import { startFastifyPipe, startNodePipe } from '../../bench/node-pipe.js';
import { benchOptions, sluiceTargets } from '../../bench/options.js';
import { cpuSeconds, mainThreadCpuSeconds } from '../../bench/proc.js';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';

// One fast run of the benchmark's pieces, so that `npm run bench` cannot rot unnoticed.
let mock: Server;
let origin: string;
let gateway: RunningGateway;
let pipe: Server;
let fastifyPipe: Server;

beforeAll(async () => {
  mock = await startMockUpstream(0);
  origin = `http://127.0.0.1:${(mock.address() as AddressInfo).port}`;
  pipe = await startNodePipe(origin);
  fastifyPipe = await startFastifyPipe(origin);
  gateway = await startGateway(`providers:\n  - {name: up, type: openai, base_url: "${origin}/v1", max_retries: 0}\n  - {name: forced, type: openai, base_url: "${origin}/v1", force_upstream_stream: true}\n`);
});

afterAll(async () => {
  await gateway.close();
  await new Promise<void>((resolve) => pipe.close(() => resolve()));
  await new Promise<void>((resolve) => fastifyPipe.close(() => resolve()));
  await new Promise<void>((resolve) => mock.close(() => resolve()));
});

describe('benchmark harness', () => {
  it('streams the requested chunk count with [DONE], direct, through Sluice and through both Node pipes', async () => {
    for (const [base, model] of [
      [origin, 'bench'],
      [gateway.url, 'up/bench'],
      [`http://127.0.0.1:${(pipe.address() as AddressInfo).port}`, 'bench'],
      [`http://127.0.0.1:${(fastifyPipe.address() as AddressInfo).port}`, 'bench'],
    ] as const) {
      const pool = createClient(base, 8);
      const { results } = await runLoad(pool, { body: { model, messages: [{ role: 'user', content: 'x' }], stream: true, bench_chunks: 20 }, requests: 8, concurrency: 4 });
      await pool.close();
      expect(results.every((r) => r.ok && r.chunks === 20)).toBe(true);
      expect(median(results.map((r) => r.ttft))).toBeGreaterThan(0);
    }
  });

  it('answers non-stream and force-streamed requests', async () => {
    const pool = createClient(gateway.url, 4);
    for (const model of ['up/bench', 'forced/bench']) {
      const { results } = await runLoad(pool, { body: { model, messages: [{ role: 'user', content: 'x' }], bench_chunks: 30 }, requests: 4, concurrency: 2 });
      expect(results.every((r) => r.ok)).toBe(true);
    }
    await pool.close();
  });

  it('flags a stream that ends without [DONE]', async () => {
    const pool = createClient(origin, 2);
    const { results } = await runLoad(pool, { body: { model: 'bench', messages: [], stream: true, bench_chunks: 3, bench_no_done: true }, requests: 1, concurrency: 1 });
    await pool.close();
    expect(results[0]).toMatchObject({ ok: false, error: 'stream ended without [DONE]' });
  });

  it('reads --quick, and --node and --baseline as many times as given, spaced or with =', () => {
    expect(benchOptions(['--quick', '--node', '/a/node', '--baseline=../old', '--node=/b/node'])).toEqual({ quick: true, rounds: undefined, processes: 1, nodes: ['/a/node', '/b/node'], baselines: ['../old'] });
    expect(benchOptions(['--rounds', '7', '--baseline', '../old'])).toEqual({ quick: false, rounds: 7, processes: 1, nodes: [], baselines: ['../old'] });
    expect(benchOptions(['--processes=3', '--rounds', '9'])).toEqual({ quick: false, rounds: 9, processes: 3, nodes: [], baselines: [] });
    expect(() => benchOptions(['--processes', '0'])).toThrow('--processes needs a whole number of at least 1, not 0');
    expect(() => benchOptions(['--rounds', '0'])).toThrow('--rounds needs a whole number of at least 1, not 0');
    expect(() => benchOptions(['--rounds=two'])).toThrow('--rounds needs a whole number');
    expect(() => benchOptions(['--node'])).toThrow('--node needs a value');
    expect(() => benchOptions(['--baseline', '--quick'])).toThrow('--baseline needs a value');
    expect(() => benchOptions(['--nodes', 'x'])).toThrow('unknown option --nodes');
  });

  it('names a Sluice target per Node binary from its major, and per baseline checkout', () => {
    const root = join(import.meta.dirname, '../..');
    const base = mkdtempSync(join(tmpdir(), 'sluice-base-'));
    mkdirSync(join(base, 'dist'));
    mkdirSync(join(base, 'node_modules'));
    writeFileSync(join(base, 'dist/cli.js'), '');
    const major = process.versions.node.split('.')[0];
    const targets = sluiceTargets({ quick: false, nodes: [process.execPath, process.execPath], baselines: [base] }, root);
    expect(targets.map((t) => t.name)).toEqual(['sluice', `sluice-node${major}`, `sluice-node${major}-2`, 'sluice-base']);
    expect(targets[1]).toMatchObject({ node: process.execPath, cli: join(root, 'dist/cli.js') });
    expect(targets[3]).toMatchObject({ node: process.execPath, cli: join(base, 'dist/cli.js'), cwd: base });
    expect(() => sluiceTargets({ quick: false, nodes: [], baselines: [tmpdir()] }, root)).toThrow('no dist/cli.js or node_modules');
    expect(() => sluiceTargets({ quick: false, nodes: ['/nonexistent/node'], baselines: [] }, root)).toThrow('cannot run it');
    rmSync(base, { recursive: true });
  });

  it('reads the CPU time of a process, all threads and the main thread alone, from /proc', () => {
    const main = mainThreadCpuSeconds(process.pid);
    const all = cpuSeconds(process.pid);
    expect(main).toBeGreaterThan(0);
    expect(main).toBeLessThanOrEqual(all);
  });

  it('computes percentiles', () => {
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 100], 99)).toBe(100);
  });
});
