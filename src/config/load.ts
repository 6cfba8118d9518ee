import { accessSync, constants, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { formatPath } from '../core/zod-path.js';
import { routeProblems } from './routes.js';
import { configSchema, type Config } from './schema.js';

export const defaultConfigPath = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));

/** A config that cannot be used; `problems` name each YAML path at fault. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid config ${source}:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const envReference = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * `${VAR}` and `${VAR:-default}` are substituted in string values after parsing, so a value can never
 * change the YAML structure. References are swapped for plain-scalar placeholders first because
 * `[${KEY}]` is not valid YAML as written.
 */
export function parseConfigText(text: string, env: NodeJS.ProcessEnv, source = '<config>'): Config {
  const references: string[] = [];
  const marked = text.replace(envReference, (_all, name: string, fallback: string | undefined) => {
    const value = env[name];
    references.push(value !== undefined && value !== '' ? value : (fallback ?? ''));
    return `__sluice_env_${references.length - 1}__`;
  });
  let raw: unknown;
  try {
    raw = parseYaml(marked, { prettyErrors: true });
  } catch (err) {
    if (err instanceof YAMLParseError) throw new ConfigError(source, [err.message.split('\n')[0] ?? err.message]);
    throw err;
  }
  const substituted = substitute(raw ?? {}, references);
  const result = configSchema.safeParse(substituted);
  if (!result.success) throw new ConfigError(source, result.error.issues.map(formatIssue));
  const problems = routeProblems(result.data);
  if (problems.length > 0) throw new ConfigError(source, problems);
  return result.data;
}

export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const file = path ?? defaultConfigPath;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  const config = parseConfigText(text, env, file);
  applyProxyEnv(config, env, file);
  applyOtelEnv(config, env, file);
  const unreadable = tlsFileProblems(config);
  if (unreadable.length > 0) throw new ConfigError(file, unreadable);
  if (env.HOST) config.server.host = env.HOST;
  if (env.PORT) {
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(file, [`PORT: not a port number: ${env.PORT}`]);
    config.server.port = port;
  }
  return config;
}

const proxyEnv = [
  ['https_proxy', 'HTTPS_PROXY'],
  ['http_proxy', 'HTTP_PROXY'],
  ['no_proxy', 'NO_PROXY'],
] as const;

/** The usual proxy variables fill the `egress` keys the file left unset (lower-case names first, as curl does). */
function applyProxyEnv(config: Config, env: NodeJS.ProcessEnv, file: string): void {
  for (const [key, upper] of proxyEnv) {
    if (config.egress[key] !== undefined) continue;
    const value = env[key] || env[upper];
    if (!value) continue;
    if (key !== 'no_proxy' && !isHttpUrl(value)) throw new ConfigError(file, [`${env[key] ? key : upper} (environment): not a proxy URL`]);
    config.egress[key] = value;
  }
}

/**
 * The standard OpenTelemetry variables fill the `tracing` keys the file left unset;
 * OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn tracing off whatever is set.
 */
function applyOtelEnv(config: Config, env: NodeJS.ProcessEnv, file: string): void {
  const t = config.tracing;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true' || env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') {
    t.endpoint = undefined;
    t.traces_endpoint = undefined;
    return;
  }
  for (const [key, name] of [
    ['endpoint', 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    ['traces_endpoint', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'],
  ] as const) {
    const value = env[name];
    if (t[key] !== undefined || !value) continue;
    if (!isHttpUrl(value)) throw new ConfigError(file, [`${name} (environment): not an http(s) URL`]);
    t[key] = value;
  }
  if (t.service_name === undefined && env.OTEL_SERVICE_NAME) t.service_name = env.OTEL_SERVICE_NAME;
  const delay = Number(env.OTEL_BSP_SCHEDULE_DELAY);
  if (t.export_delay_ms === undefined && env.OTEL_BSP_SCHEDULE_DELAY && Number.isInteger(delay) && delay > 0) t.export_delay_ms = delay;
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/** TLS files are read when the providers start: one that cannot be read stops start-up (or a reload), named by its path. */
function tlsFileProblems(config: Config): string[] {
  const problems: string[] = [];
  config.providers.forEach((p, i) => {
    for (const key of ['ca_file', 'cert_file', 'key_file'] as const) {
      const path = p.tls?.[key];
      if (path === undefined) continue;
      try {
        accessSync(path, constants.R_OK);
      } catch (err) {
        problems.push(`${formatPath(['providers', i, 'tls', key])}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
  });
  return problems;
}

const placeholder = /__sluice_env_(\d+)__/g;

function substitute(value: unknown, references: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(placeholder, (_all, i: string) => references[Number(i)] ?? '');
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, references));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, references);
    return out;
  }
  return value;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown key`).join('\n  ');
  }
  return `${formatPath(issue.path)}: ${issue.message}`;
}
