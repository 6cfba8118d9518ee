import { readFileSync } from 'node:fs';
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
  if (env.HOST) config.server.host = env.HOST;
  if (env.PORT) {
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(file, [`PORT: not a port number: ${env.PORT}`]);
    config.server.port = port;
  }
  return config;
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
