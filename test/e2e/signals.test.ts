import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bodyText, waitFor } from '../helpers/gateway.js';
import { startSluice, type SluiceProcess } from '../helpers/process.js';
import { chunk, completion, DONE, sseHead, startUpstream, usageChunk, type FakeUpstream } from '../helpers/upstream.js';

let sluice: SluiceProcess | undefined;
let upstream: FakeUpstream | undefined;
afterEach(async () => {
  if (sluice && sluice.child.exitCode === null) sluice.child.kill('SIGKILL');
  await upstream?.close();
  sluice = undefined;
  upstream = undefined;
});

/** An upstream whose stream sends one word every `gapMs`, `words` times. */
async function slowUpstream(words: number, gapMs: number): Promise<FakeUpstream> {
  return startUpstream(async (req, res) => {
    if (req.body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(completion(`served by ${req.url}`)));
      return;
    }
    sseHead(res);
    res.write(chunk({ role: 'assistant', content: '' }));
    for (let i = 0; i < words && !res.destroyed; i++) {
      res.write(chunk({ content: `w${i} ` }));
      await new Promise((r) => setTimeout(r, gapMs));
    }
    res.end(chunk({}, 'stop') + usageChunk() + DONE);
  });
}

function streamRequest(url: string, model: string): Promise<string> {
  return fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'x' }] }) }).then(bodyText);
}

/** A non-stream request's status. */
function completionStatus(url: string, model: string): Promise<number> {
  return fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }) }).then((r) => r.status);
}

describe('signals', () => {
  it('SIGTERM lets an open stream complete, then exits 0', async () => {
    upstream = await slowUpstream(6, 100);
    sluice = await startSluice(`server: {shutdown_grace_ms: 5000}\nproviders:\n  - {name: up, type: openai, base_url: "${upstream.url}"}\n`);
    const body = streamRequest(sluice.url, 'up/m');
    await waitFor(() => upstream!.requests.length === 1);
    sluice.child.kill('SIGTERM');
    const text = await body;
    expect(text).toContain('w5 ');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text).not.toContain('"error"');
    expect(await sluice.exited).toBe(0);
  });

  it('writes the access lines it batches: on their own within a moment, and at once on SIGTERM', async () => {
    upstream = await slowUpstream(1, 1);
    sluice = await startSluice(`providers:\n  - {name: up, type: openai, base_url: "${upstream.url}"}\n`);
    const accessLines = (): number => sluice!.stdout().split('\n').filter((l) => l.includes('"msg":"request completed"')).length;
    expect(await completionStatus(sluice.url, 'up/m')).toBe(200);
    await waitFor(() => accessLines() === 1);
    expect(await completionStatus(sluice.url, 'up/m')).toBe(200);
    sluice.child.kill('SIGTERM');
    expect(await sluice.exited).toBe(0);
    expect(accessLines()).toBe(2);
  });

  it('SIGTERM ends a stream that outlives shutdown_grace_ms with the error event + [DONE], then exits 0', async () => {
    upstream = await slowUpstream(1000, 50);
    sluice = await startSluice(`server: {shutdown_grace_ms: 300}\nproviders:\n  - {name: up, type: openai, base_url: "${upstream.url}"}\n`);
    const body = streamRequest(sluice.url, 'up/m');
    await waitFor(() => upstream!.requests.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    sluice.child.kill('SIGTERM');
    const text = await body;
    expect(text).toContain('w0 ');
    expect(text).toMatch(/data: {"error":{"message":"Sluice is shutting down[^"]*","type":"server_error","param":null,"code":"server_shutting_down"}}\n\ndata: \[DONE\]\n\n$/);
    expect(await sluice.exited).toBe(0);
  });

  it('SIGTERM exits after shutdown_grace_ms even while a client holds a connection that sent nothing', async () => {
    upstream = await slowUpstream(1, 1);
    sluice = await startSluice(`server: {shutdown_grace_ms: 300}\nproviders:\n  - {name: up, type: openai, base_url: "${upstream.url}"}\n`);
    const { hostname, port } = new URL(sluice.url);
    const idle = connect(Number(port), hostname);
    await new Promise((resolve) => idle.once('connect', resolve));
    const closedByServer = new Promise((resolve) => idle.once('close', resolve));
    sluice.child.kill('SIGTERM');
    // node:http alone would keep that connection, and the process, until its 60 s headersTimeout.
    const exited = await Promise.race([sluice.exited, new Promise((resolve) => setTimeout(() => resolve('still running after 5 s'), 5000))]);
    expect(exited).toBe(0);
    await closedByServer;
  });

  it('SIGHUP with a broken config keeps the old routing; with a good one applies the new', async () => {
    upstream = await slowUpstream(1, 1);
    const ask = (model: string): Promise<number> => completionStatus(sluice!.url, model);
    sluice = await startSluice(`providers:\n  - {name: up, type: openai, base_url: "${upstream.url}", models: [m]}\n`);
    expect(await ask('up/m')).toBe(200);
    expect(await ask('fast')).toBe(404);

    sluice.writeConfig('providers:\n  - {name: up, type: openai, base_url: nope}\n');
    sluice.child.kill('SIGHUP');
    await waitFor(() => sluice!.stdout().includes('config reload failed'));
    expect(sluice.stdout()).toContain('providers[0].base_url: Invalid URL');
    expect(await ask('up/m')).toBe(200);

    sluice.writeConfig(`providers:\n  - {name: up, type: openai, base_url: "${upstream.url}"}\nroutes:\n  - {name: fast, targets: [{model: up/m}]}\n`);
    sluice.child.kill('SIGHUP');
    await waitFor(() => sluice!.stdout().includes('config reloaded'));
    expect(await ask('fast')).toBe(200);
  });
});
