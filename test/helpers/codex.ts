import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCachedCli } from './cached-cli.js';

/** The Codex CLI release these tests were written against (what its requests look like is pinned with it). */
export const CODEX_VERSION = '0.171.0';

/**
 * The Codex CLI's launcher script, installed on demand into `<repo>/.cache/codex` (never a
 * package.json dependency: with its native binary it is over 400 MB). Throws when it cannot be
 * installed or its platform binary does not run.
 */
export function ensureCodex(): string {
  const entry = ensureCachedCli({ pkg: '@openai/codex', version: CODEX_VERSION, cache: 'codex', entry: 'bin/codex.js' });
  // The launcher only finds the native binary when npm installed the platform's optional dependency.
  const version = execFileSync(process.execPath, [entry, '--version'], { encoding: 'utf8', timeout: 30_000 }).trim();
  if (version !== `codex-cli ${CODEX_VERSION}`) throw new Error(`codex --version printed '${version}', expected codex-cli ${CODEX_VERSION}`);
  return entry;
}

export interface CodexRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The scratch folder the agent worked in (its cwd). */
  workdir: string;
}

export interface CodexOptions {
  /** Sluice's origin, e.g. http://127.0.0.1:1234 (the provider's base_url is this + /v1). */
  origin: string;
  /** The model Codex asks for (a config given in `config` names its own). */
  model: string;
  prompt: string;
  apiKey?: string;
  /**
   * The config.toml to use (e.g. the README's): its `base_url` is pointed at `origin`. Without it,
   * a provider entry like the README's is written.
   */
  config?: string;
  /** Hang guard: the process is killed after this long. */
  timeoutMs?: number;
}

/**
 * `codex exec` against Sluice as a custom Responses provider, from a fresh CODEX_HOME and HOME (no
 * user config, no login, no session files), with no stdin.
 *
 * Sandbox: `-s read-only`. Codex's Linux sandbox (its bundled bubblewrap plus seccomp) works in
 * this test's container, so the shell command the scripted model asks for runs sandboxed, as a
 * user's would; the command only prints. A host whose kernel forbids unprivileged user namespaces
 * would need `--dangerously-bypass-approvals-and-sandbox` here instead. Approvals: `codex exec`
 * never asks.
 *
 * Retries: `request_max_retries = 0` and `stream_max_retries = 0`, so a Sluice error fails the run at
 * once instead of after Codex's back-off (about 25 s).
 */
export async function runCodex(entry: string, options: CodexOptions): Promise<CodexRun> {
  const home = mkdtempSync(join(tmpdir(), 'sluice-codex-'));
  const codexHome = join(home, '.codex');
  const workdir = join(home, 'work');
  mkdirSync(codexHome);
  mkdirSync(workdir);
  const config =
    options.config ??
    [`model = "${options.model}"`, 'model_provider = "sluice"', '', '[model_providers.sluice]', 'name = "Sluice"', 'base_url = "http://127.0.0.1:8080/v1"', 'wire_api = "responses"', 'env_key = "SLUICE_API_KEY"', ''].join('\n');
  const pointed = config.replace(/^base_url = ".*"/m, `base_url = "${options.origin}/v1"`);
  if (pointed === config && !config.includes(`${options.origin}/v1`)) throw new Error('the Codex config has no base_url line to point at Sluice');
  // Appended to the last table, which must be the provider's (it is in the README's snippet).
  if (!/\[model_providers\.[\w-]+\][^[]*$/.test(pointed)) throw new Error("the Codex config's last table is not its model provider");
  writeFileSync(join(codexHome, 'config.toml'), `${pointed.trimEnd()}\nrequest_max_retries = 0\nstream_max_retries = 0\n`);
  const args = [entry, 'exec', '--skip-git-repo-check', '--ephemeral', '--color', 'never', '-s', 'read-only', '-C', workdir, options.prompt];
  const child = spawn(process.execPath, args, {
    cwd: workdir,
    env: { PATH: process.env.PATH ?? '', HOME: home, CODEX_HOME: codexHome, SLUICE_API_KEY: options.apiKey ?? 'sk-codex-test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr, workdir };
}
