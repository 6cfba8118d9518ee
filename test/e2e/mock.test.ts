import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { bodyText, startGateway, type RunningGateway } from '../helpers/gateway.js';

let gateway: RunningGateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const defaultYaml = readFileSync(new URL('../../config/default.yaml', import.meta.url), 'utf8');

describe('the embedded default config (mock provider)', () => {
  it('answers a non-stream SDK call with the last user message and usage', async () => {
    gateway = await startGateway(defaultYaml);
    const result = await gateway.client().chat.completions.create({ model: 'echo', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'Hello there, Sluice!' }] });
    expect(result.object).toBe('chat.completion');
    expect(result.choices[0]?.message.content).toBe('Hello there, Sluice!');
    expect(result.choices[0]?.finish_reason).toBe('stop');
    expect(result.usage).toEqual({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
  });

  it('streams word by word through the whole pipeline, usage only when asked', async () => {
    gateway = await startGateway(defaultYaml);
    const stream = await gateway.client().chat.completions.create({ model: 'mock/anything', messages: [{ role: 'user', content: 'one two three' }], stream: true, stream_options: { include_usage: true } });
    const contents: string[] = [];
    let usage: unknown;
    for await (const c of stream) {
      if (c.choices[0]?.delta.content) contents.push(c.choices[0].delta.content);
      if (c.usage) usage = c.usage;
    }
    expect(contents).toEqual(['one', ' two', ' three']);
    expect(usage).toEqual({ prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 });
  });

  it('serves the README curl example', async () => {
    gateway = await startGateway(defaultYaml);
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'echo', stream: true, messages: [{ role: 'user', content: 'Hello, Sluice' }] }),
    });
    const text = await bodyText(response);
    expect(text).toContain('"content":"Hello,"');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('serves the README Responses API examples', async () => {
    gateway = await startGateway(defaultYaml);
    const response = await gateway.client().responses.create({ model: 'echo', input: 'Hello, Sluice' });
    expect(response.output_text).toBe('Hello, Sluice');
    const text = await bodyText(await fetch(`${gateway.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'echo', stream: true, input: 'Hello, Sluice' }) }));
    expect(text).toContain('event: response.completed');
  });

  it('requires the client key when SLUICE_API_KEY is set', async () => {
    gateway = await startGateway(defaultYaml, { SLUICE_API_KEY: 'team-key' });
    await expect(gateway.client({ apiKey: 'other' }).chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'x' }] })).rejects.toThrow(/401/);
    const ok = await gateway.client({ apiKey: 'team-key' }).chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'x' }] });
    expect(ok.choices[0]?.message.content).toBe('x');
  });

  it('lists models and answers /healthz without a key', async () => {
    gateway = await startGateway(defaultYaml, { SLUICE_API_KEY: 'team-key' });
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const models = await gateway.client({ apiKey: 'team-key' }).models.list();
    expect(models.data.map((m) => m.id)).toEqual(['mock/echo']);
  });
});

describe('the sluice command', () => {
  function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; stdout: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['dist/cli.js', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let stdout = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('sluice is serving')) child.kill('SIGTERM');
      });
      child.on('exit', (code) => resolve({ code, stderr, stdout }));
    });
  }

  it('exits 2 naming each bad YAML path, without a stack trace', async () => {
    const result = await run(['--config', 'test/fixtures/config/invalid.yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('providers[1].base_url: Invalid URL');
    expect(result.stderr).toContain('providers[0].max_retries');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('check validates a config and prints the routing table', async () => {
    const ok = await run(['check', 'test/fixtures/config/routes.yaml']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('smart [weighted] -> fast/small (weight 1), mock/echo (weight 3)');
    expect(ok.stdout).toContain('fast (openai) http://127.0.0.1:1/v1  models: small');
    const bad = await run(['check', 'test/fixtures/config/invalid.yaml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('providers[1].base_url: Invalid URL');
  });

  it('reads SLUICE_CONFIG, honours PORT and exits 0 on SIGTERM', async () => {
    const result = await run([], { SLUICE_CONFIG: 'config/default.yaml', PORT: '0', LOG_LEVEL: 'info' });
    expect(result.stdout).toContain('sluice is serving');
    expect(result.stdout).toContain('client authentication is OFF');
    expect(result.code).toBe(0);
  });
});
