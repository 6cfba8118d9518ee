import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { accessLines, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { dataPayloads, rawPost, type RawResponse } from '../helpers/raw-http.js';
import { chunk, DONE, sseHead, textStream, type UpstreamHandler } from '../helpers/upstream.js';

// Every byte of a stream, read off a plain socket, on whichever Node runs the suite (.ci/run runs it
// on 20, 22 and 24). Regression: on Node 22 and 24, `res.cork()` in the SSE writer made `res.end()`
// send the terminating `0` chunk before the events still held in the response, so clients saw the
// role chunk and the first word, then the end, with no `[DONE]`.

const scoped = closedAfterEach();
const defaultYaml = readFileSync(new URL('../../config/default.yaml', import.meta.url), 'utf8');

async function viaUpstream(handler: UpstreamHandler): Promise<RunningGateway> {
  const upstream = await scoped.upstream(handler);
  return scoped.gateway(`
providers:
  - name: up
    type: openai
    base_url: ${upstream.url}
    api_key: sk-upstream
`);
}

function streamRequest(model: string, content: string): Record<string, unknown> {
  return { model, stream: true, messages: [{ role: 'user', content }] };
}

interface Parsed {
  role?: string;
  content?: string;
  finish?: string | null;
}

/** Each data payload as role / content / finish_reason, `[DONE]` kept as is. */
function parsedEvents(raw: RawResponse): Array<Parsed | '[DONE]'> {
  return dataPayloads(raw.body).map((payload) => {
    if (payload === '[DONE]') return '[DONE]';
    const value = JSON.parse(payload) as { choices: Array<{ delta: { role?: string; content?: string }; finish_reason: string | null }> };
    const choice = value.choices[0];
    return { role: choice?.delta.role, content: choice?.delta.content, finish: choice?.finish_reason };
  });
}

/** A complete stream: well-framed, terminated, nothing after the end, `[DONE]` last; its text. */
function expectComplete(raw: RawResponse): string {
  expect(raw.head).toMatch(/^HTTP\/1\.1 200 /);
  expect(raw.trailing).toBe('');
  expect(raw.terminated).toBe(true);
  expect(raw.body.endsWith('data: [DONE]\n\n')).toBe(true);
  const events = parsedEvents(raw);
  expect(events.filter((e) => e === '[DONE]')).toHaveLength(1);
  const chunks = events.slice(0, -1) as Parsed[];
  expect(chunks[0]?.role).toBe('assistant');
  expect(chunks.at(-1)?.finish).toBe('stop');
  return chunks.map((c) => c.content ?? '').join('');
}

describe('every byte of a stream reaches the client', () => {
  it('the embedded mock: role, each word, finish, [DONE], and the access log says ok', async () => {
    const gateway = await scoped.gateway(defaultYaml);
    const raw = await rawPost(gateway.url, '/v1/chat/completions', streamRequest('echo', 'hello there friend'));
    expectComplete(raw);
    expect(parsedEvents(raw)).toEqual([
      { role: 'assistant', content: '', finish: null },
      { role: undefined, content: 'hello', finish: null },
      { role: undefined, content: ' there', finish: null },
      { role: undefined, content: ' friend', finish: null },
      { role: undefined, content: undefined, finish: 'stop' },
      '[DONE]',
    ]);
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]).toMatchObject({ outcome: 'ok', status: 200, stream: true });
  });

  it('a long stream the upstream sends over many reads', async () => {
    const pieces = Array.from({ length: 300 }, (_, i) => ` w${i}`);
    const gateway = await viaUpstream(async (_req, res) => {
      sseHead(res);
      res.write(chunk({ role: 'assistant', content: '' }));
      for (let i = 0; i < pieces.length; i++) {
        res.write(chunk({ content: pieces[i] }));
        // Some writes in one read, some apart: both ways an upstream's bytes arrive.
        if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      res.end(chunk({}, 'stop') + DONE);
    });
    const raw = await rawPost(gateway.url, '/v1/chat/completions', streamRequest('up/m', 'hi'));
    expect(expectComplete(raw)).toBe(pieces.join(''));
  });

  it('an upstream whose whole answer arrives in one read', async () => {
    const pieces = Array.from({ length: 40 }, (_, i) => ` word${i}`);
    const gateway = await viaUpstream((_req, res) => {
      sseHead(res);
      res.end(textStream(pieces));
    });
    const raw = await rawPost(gateway.url, '/v1/chat/completions', streamRequest('up/m', 'hi'));
    expect(expectComplete(raw)).toBe(pieces.join(''));
  });

  it('many streams at once, each complete', async () => {
    const gateway = await scoped.gateway(defaultYaml);
    const words = Array.from({ length: 30 }, (_, i) => `w${i}`);
    const raws = await Promise.all(Array.from({ length: 16 }, () => rawPost(gateway.url, '/v1/chat/completions', streamRequest('echo', words.join(' ')))));
    for (const raw of raws) expect(expectComplete(raw)).toBe(words.join(' '));
  });
});
