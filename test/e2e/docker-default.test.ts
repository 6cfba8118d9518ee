import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { IMAGE_CONFIG_PATH } from '../../src/main.js';

interface Run {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** dist/cli.js with the Docker image's environment (HOST, PORT, SLUICE_CONFIG) and the given arguments. */
function run(args: string[], env: NodeJS.ProcessEnv): Run {
  const child = spawn(process.execPath, ['dist/cli.js', ...args], { env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

let running: Run | undefined;
afterEach(() => {
  if (running && running.child.exitCode === null) running.child.kill('SIGKILL');
  running = undefined;
});

describe('the Docker image with no config mounted', () => {
  it(`serves the embedded mock with a warning saying how to mount a config, when ${IMAGE_CONFIG_PATH} is missing`, async () => {
    // The test stands for `docker run sluice`: the image's path must not exist on this machine.
    expect(existsSync(IMAGE_CONFIG_PATH)).toBe(false);
    running = run([], { PORT: '0', SLUICE_CONFIG: IMAGE_CONFIG_PATH });
    const until = Date.now() + 15_000;
    const serving = /"url":"http:\/\/[^":]+:(\d+)"[^\n]*"msg":"sluice is serving"/;
    // Port 0: the start-up line names the port bound.
    let match: RegExpExecArray | null;
    while ((match = serving.exec(running.output())) === null) {
      if (Date.now() > until || running.child.exitCode !== null) throw new Error(`sluice did not start:\n${running.output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const port = Number(match[1]);
    const warning = running
      .output()
      .split('\n')
      .find((l) => l.includes(`no config at ${IMAGE_CONFIG_PATH}`));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning as string)).toMatchObject({ level: 40 });
    expect(warning).toContain(`-v ./sluice.yaml:${IMAGE_CONFIG_PATH}:ro`);
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
    const answer = await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'hello there' }] });
    expect(answer.choices[0]?.message.content).toBe('hello there');
  });

  it('a missing config given with --config, or at another SLUICE_CONFIG path, still stops start-up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-missing-'));
    running = run(['--config', IMAGE_CONFIG_PATH], { PORT: '0', SLUICE_CONFIG: IMAGE_CONFIG_PATH });
    expect(await running.exited).toBe(2);
    expect(running.output()).toContain(`sluice: invalid config ${IMAGE_CONFIG_PATH}:\n  cannot read file: ENOENT`);

    const elsewhere = join(dir, 'sluice.yaml');
    running = run([], { PORT: '0', SLUICE_CONFIG: elsewhere });
    expect(await running.exited).toBe(2);
    expect(running.output()).toContain(`sluice: invalid config ${elsewhere}:\n  cannot read file: ENOENT`);
  });
});
