import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SluiceProcess {
  child: ChildProcess;
  url: string;
  configPath: string;
  stdout(): string;
  exited: Promise<number | null>;
  writeConfig(yaml: string): void;
}

export interface StartOptions {
  /** Wait for this text in the output besides the first "sluice is serving" (e.g. "all workers are serving"). */
  readyText?: string;
}

/**
 * The real `sluice` command (dist/cli.js) on port 0, from a YAML config written to a temp file; its
 * URL is read from the "sluice is serving" line. `env` is added to its otherwise minimal environment
 * (the test process's own stays untouched).
 */
export async function startSluice(yaml: string, env: NodeJS.ProcessEnv = {}, options: StartOptions = {}): Promise<SluiceProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
  const configPath = join(dir, 'sluice.yaml');
  writeFileSync(configPath, yaml);
  const child = spawn(process.execPath, ['dist/cli.js', '--config', configPath], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const until = Date.now() + 15_000;
  const serving = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"sluice is serving"/;
  while (!serving.test(out) || (options.readyText !== undefined && !out.includes(options.readyText))) {
    if (Date.now() > until || child.exitCode !== null) {
      if (child.exitCode === null) child.kill('SIGKILL');
      throw new Error(`sluice did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = (serving.exec(out) as RegExpExecArray)[1] as string;
  return { child, url, configPath, stdout: () => out, exited, writeConfig: (text) => writeFileSync(configPath, text) };
}
