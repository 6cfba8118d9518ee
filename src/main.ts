import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { FastifyBaseLogger } from 'fastify';
import { ConfigError, defaultConfigPath, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { stdoutDestination } from './observability/log.js';
import { resolveModel } from './routing/route.js';
import { buildApp } from './server/app.js';

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
    lines.push(`  ${p.name} (${p.type}) ${p.base_url ?? 'in-process'}  models: ${models}${p.force_upstream_stream ? '  force_upstream_stream' : ''}`);
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
  const destination = stdoutDestination();
  const sluice = buildApp(config, { logStream: destination });
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
  process.on('SIGHUP', () => {
    try {
      const next = loadConfig(imageConfigMissing(values, env) ? undefined : configPath, env);
      sluice.reload(next);
      warnOpenAuth(next);
      warnInsecureTls(next, log);
      log.info({ providers: next.providers.map((p) => p.name), routes: next.routes.map((r) => r.name) }, 'config reloaded');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      log.error({ problems: err.problems }, 'config reload failed; the previous config stays in force');
    }
  });
  await sluice.app.listen({ host: config.server.host, port: config.server.port });
  if (config.server.metrics_port !== undefined) {
    await sluice.listenMetrics(config.server.host, config.server.metrics_port);
    log.info({ port: config.server.metrics_port }, 'metrics served on their own port');
  }
  log.info({ providers: config.providers.map((p) => `${p.name} (${p.type})`) }, 'sluice is serving');
  destination.flush();
}
