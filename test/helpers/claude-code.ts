import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Claude Code release the e2e test runs (its native binary is about 400 MB: never in package.json). */
export const CLAUDE_CODE_VERSION = '2.1.332';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** Ignored by git (.gitignore: .cache/); kept between runs. */
export const CLAUDE_CODE_PREFIX = join(REPO, '.cache', 'claude-code');
const BIN = join(CLAUDE_CODE_PREFIX, 'node_modules', '.bin', 'claude');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (asynchronously: a test's in-process servers must keep answering). */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish in ${options.timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The pinned Claude Code binary: reused when the cache has that version, installed there with
 * `npm install --prefix` otherwise. Fails loudly (never skips) when it cannot be had.
 */
export async function ensureClaudeCode(): Promise<string> {
  if (existsSync(BIN)) {
    const version = await run(BIN, ['--version'], { env: { PATH: process.env.PATH ?? '' }, timeoutMs: 60_000 });
    if (version.code === 0 && version.stdout.startsWith(CLAUDE_CODE_VERSION)) return BIN;
  }
  const install = await run('npm', ['install', '--prefix', CLAUDE_CODE_PREFIX, '--no-save', '--no-audit', '--no-fund', `@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}`], {
    env: process.env,
    timeoutMs: 600_000,
  });
  if (install.code !== 0 || !existsSync(BIN)) {
    throw new Error(`could not install @anthropic-ai/claude-code@${CLAUDE_CODE_VERSION} into ${CLAUDE_CODE_PREFIX} (exit ${install.code}):\n${install.stderr || install.stdout}`);
  }
  return BIN;
}
