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

/**
 * The real `sluice` command (dist/cli.js) on a free port, from a YAML config written to a temp file;
 * `env` is added to its otherwise minimal environment (the test process's own stays untouched).
 */
export async function startSluice(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<SluiceProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
  const configPath = join(dir, 'sluice.yaml');
  writeFileSync(configPath, yaml);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, ['dist/cli.js', '--config', configPath], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const until = Date.now() + 10_000;
  while (!out.includes('sluice is serving')) {
    if (Date.now() > until || child.exitCode !== null) throw new Error(`sluice did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, url: `http://127.0.0.1:${port}`, configPath, stdout: () => out, exited, writeConfig: (text) => writeFileSync(configPath, text) };
}
