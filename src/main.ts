import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { ConfigError, defaultConfigPath, loadConfig } from './config/load.js';
import { maskUrlCredentials } from './core/redact.js';
import type { Config } from './config/schema.js';
import { loggerOptions, stdoutDestination } from './observability/log.js';
import { serveWorkerMetrics } from './observability/metrics.js';
import { resolveModel } from './routing/route.js';
import { buildApp } from './server/app.js';
import { listenBacklog } from './server/client-limits.js';

function configPathFrom(values: { config?: string | undefined }, env: NodeJS.ProcessEnv): string | undefined {
  return values.config ?? (env.SLUICE_CONFIG || undefined);
}

/** Where the Docker image looks for a mounted config (the SLUICE_CONFIG its Dockerfile sets). */
export const IMAGE_CONFIG_PATH = '/config/sluice.yaml';

/**
 * `docker run sluice` with nothing mounted should answer (with the embedded mock), not exit. Only
 * the image's own default path gets this: a config named with --config, or any other path, must
 * exist, since a typo there would otherwise silently serve the mock.
 */
function imageConfigMissing(values: { config?: string | undefined }, env: NodeJS.ProcessEnv): boolean {
  return values.config === undefined && env.SLUICE_CONFIG === IMAGE_CONFIG_PATH && !existsSync(IMAGE_CONFIG_PATH);
}

/** Loads the config or prints every problem with its YAML path and exits 2 (never a stack trace). */
function loadOrExit(path: string | undefined, env: NodeJS.ProcessEnv): Config {
  try {
    return loadConfig(path, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sluice: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** `sluice check <config>`: validate and print the resolved routing table. */
export function check(argv: string[], env: NodeJS.ProcessEnv): void {
  const { values, positionals } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, allowPositionals: true });
  const path = positionals[0] ?? configPathFrom(values, env);
  const config = loadOrExit(path, env);
  const lines = [`config ${path ?? defaultConfigPath}: ok`, '', 'providers:'];
  for (const p of config.providers) {
    const models = Array.isArray(p.models) ? p.models.join(', ') : Object.entries(p.models).map(([k, v]) => `${k} -> ${v}`).join(', ');
    lines.push(`  ${p.name} (${p.type}) ${p.base_url === undefined ? 'in-process' : maskUrlCredentials(p.base_url)}  models: ${models}${p.force_upstream_stream ? '  force_upstream_stream' : ''}`);
  }
  if (config.routes.length > 0) {
    lines.push('', 'routes:');
    for (const r of config.routes) {
      const targets = resolveModel(config, r.name).targets.map((t) => `${t.provider.name}/${t.upstreamModel}${r.strategy === 'weighted' ? ` (weight ${t.weight})` : ''}`);
      lines.push(`  ${r.name} [${r.strategy}] -> ${targets.join(', ')}${r.on_context_overflow ? `; on context overflow -> ${r.on_context_overflow}` : ''}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `server.workers` as a number: `auto` is one per CPU the process may use. */
export function workerCount(config: Config): number {
  return config.server.workers === 'auto' ? availableParallelism() : config.server.workers;
}

/** Loud on purpose: an unverified upstream exposes its traffic, provider keys included. */
function warnInsecureTls(config: Config, log: FastifyBaseLogger): void {
  for (const p of config.providers) {
    if (p.tls?.insecure_skip_verify !== true) continue;
    log.warn(
      { provider: p.name },
      `INSECURE: TLS certificate verification is OFF for provider '${p.name}' (tls.insecure_skip_verify: true). Anyone on the network path can read and change its traffic, including the provider key. Use tls.ca_file with the upstream's CA instead.`,
    );
  }
}

export async function serve(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, allowPositionals: true });
  const configPath = configPathFrom(values, env);
  const embedded = imageConfigMissing(values, env);
  const config = loadOrExit(embedded ? undefined : configPath, env);
  const reloadPath = (): string | undefined => (imageConfigMissing(values, env) ? undefined : configPath);
  const workers = workerCount(config);
  if (workers > 1 && cluster.isPrimary) {
    superviseWorkers(config, reloadPath, env, workers);
    return;
  }
  await serveOne(config, reloadPath, env, embedded);
}

/**
 * The primary of `server.workers > 1`: forks the workers, which share one listening port (node:cluster
 * hands connections round-robin), and relays SIGTERM/SIGINT/SIGHUP to each. It serves nothing itself.
 */
function superviseWorkers(config: Config, reloadPath: () => string | undefined, env: NodeJS.ProcessEnv, count: number): void {
  const log = pino({ ...loggerOptions(), base: { pid: process.pid, role: 'primary' } });
  if (config.state.store === 'memory') {
    log.warn(
      { workers: count },
      `server.workers is ${count} with the memory state store: each worker counts limits, budgets and usage on its own (a key with rpm: 60 may get ${count} x 60) and keeps its own key cooldowns and circuit breakers; set state.store: redis to share them`,
    );
  }
  let stopping = false;
  let listening = 0;
  let exitCode = 0;
  const started = new Set<number>();
  const fork = (): void => {
    cluster.fork();
  };
  cluster.on('listening', (worker) => {
    if (started.has(worker.id)) return;
    started.add(worker.id);
    listening++;
    if (listening === count) log.info({ workers: count, pids: Object.values(cluster.workers ?? {}).map((w) => w?.process.pid) }, 'all workers are serving');
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (code !== 0) exitCode = 1;
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(exitCode);
      return;
    }
    // A worker that never listened failed to start (a bad port, say): starting more would fail alike.
    if (!started.has(worker.id)) {
      log.error({ pid: worker.process.pid, code, signal }, 'a worker failed to start; stopping');
      stopping = true;
      exitCode = 1;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(1);
      return;
    }
    log.error({ pid: worker.process.pid, code, signal }, 'a worker exited; starting another');
    listening--;
    fork();
  });
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, 'shutting down the workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    // Each worker drains for shutdown_grace_ms; one that still runs well after that is killed.
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    }, config.server.shutdown_grace_ms + 5000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    // Each worker re-reads the file and logs the outcome; the worker count itself needs a restart.
    try {
      const next = loadConfig(reloadPath(), env);
      if (workerCount(next) !== count) log.warn({ workers: count, configured: workerCount(next) }, 'a change of server.workers applies at the next restart');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
    }
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
  });
  serveWorkerMetrics();
  for (let i = 0; i < count; i++) fork();
}

async function serveOne(config: Config, reloadPath: () => string | undefined, env: NodeJS.ProcessEnv, embedded: boolean): Promise<void> {
  const destination = stdoutDestination();
  const sluice = await buildApp(config, { logStream: destination });
  const log = sluice.app.log;
  if (embedded) {
    log.warn(
      `no config at ${IMAGE_CONFIG_PATH}: serving the embedded default (the mock provider only). Mount yours to serve real providers: docker run -p 8080:8080 -v ./sluice.yaml:${IMAGE_CONFIG_PATH}:ro sluice`,
    );
  }
  const warnOpenAuth = (c: Config): void => {
    if (c.server.api_keys.length === 0) log.warn('server.api_keys is empty: client authentication is OFF; anyone who can reach this port can use it');
  };
  warnOpenAuth(config);
  warnInsecureTls(config, log);
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    const grace = sluice.gateway.state.config.server.shutdown_grace_ms;
    log.info({ signal, grace_ms: grace, in_flight: sluice.gateway.inflight.size }, 'shutting down');
    sluice.shutdown(grace).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // One reload at a time, in the order the signals came (a reload may wait for the price data).
  let reloads = Promise.resolve();
  process.on('SIGHUP', () => {
    let next: Config;
    try {
      next = loadConfig(reloadPath(), env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      log.error({ problems: err.problems }, 'config reload failed; the previous config stays in force');
      return;
    }
    reloads = reloads
      .then(() => sluice.reload(next))
      .then(
        () => {
          warnOpenAuth(next);
          warnInsecureTls(next, log);
          log.info({ providers: next.providers.map((p) => p.name), routes: next.routes.map((r) => r.name) }, 'config reloaded');
        },
        (err: unknown) => log.error({ err }, 'config reload failed; the previous config stays in force'),
      );
  });
  await sluice.app.listen({ host: config.server.host, port: config.server.port, backlog: listenBacklog(config.server.listen_backlog) });
  if (config.server.metrics_port !== undefined) {
    await sluice.listenMetrics(config.server.host, config.server.metrics_port);
    log.info({ port: config.server.metrics_port }, 'metrics served on their own port');
  }
  const address = sluice.app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.server.port;
  log.info({ providers: config.providers.map((p) => `${p.name} (${p.type})`), url: `http://${config.server.host}:${port}`, state: config.state.store }, 'sluice is serving');
  destination.flush();
}
