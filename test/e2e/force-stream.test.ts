import { describe, expect, it } from 'vitest';
import { closedAfterEach } from '../helpers/cleanup.js';
import { accessLines, bodyText, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { chunk, DONE, sseHead, usageChunk, type FakeUpstream, type UpstreamHandler } from '../helpers/upstream.js';

const scoped = closedAfterEach();

async function setup(handler: UpstreamHandler, providerExtra = ''): Promise<{ upstream: FakeUpstream; gateway: RunningGateway }> {
  const upstream = await scoped.upstream(handler);
  const gateway = await scoped.gateway(`
providers:
  - name: up
    type: openai
    base_url: ${upstream.url}
    max_retries: 0
${providerExtra}
`);
  return { upstream, gateway };
}

/** A reasoning model answering with reasoning, text and two interleaved parallel tool calls. */
const richStream = [
  chunk({ role: 'assistant', content: null }),
  chunk({ reasoning_content: 'Let me ' }),
  chunk({ reasoning_content: 'think.' }),
  chunk({ content: 'Checking ' }),
  chunk({ content: 'both.' }),
  chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'time', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  chunk({ tool_calls: [{ index: 1, function: { arguments: '{"tz":"UTC"}' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
  chunk({}, 'tool_calls'),
  `data: ${JSON.stringify({ id: 'chatcmpl-test', object: 'chat.completion.chunk', created: 1700000000, model: 'up-model', choices: [], usage: { prompt_tokens: 11, completion_tokens: 22, total_tokens: 33, completion_tokens_details: { reasoning_tokens: 5 } } })}\n\n`,
  DONE,
].join('');

const expectedRich = {
  id: 'chatcmpl-test',
  object: 'chat.completion',
  created: 1700000000,
  model: 'up-model',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Checking both.',
        refusal: null,
        reasoning_content: 'Let me think.',
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
          { id: 'call_b', type: 'function', function: { name: 'time', arguments: '{"tz":"UTC"}' } },
        ],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    },
  ],
  usage: { prompt_tokens: 11, completion_tokens: 22, total_tokens: 33, completion_tokens_details: { reasoning_tokens: 5 } },
};

describe('force upstream streaming', () => {
  it('sends stream: true upstream for a non-stream client and returns the exact aggregated completion', async () => {
    const { upstream, gateway } = await setup((req, res) => {
      if (req.body.stream !== true) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"this upstream only streams","type":"invalid_request_error","param":"stream","code":null}}');
        return;
      }
      sseHead(res);
      res.end(richStream);
    }, '    force_upstream_stream: true');
    const completion = await gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'weather and time?' }] });
    expect(completion).toEqual(expectedRich);
    expect(upstream.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    await waitFor(() => accessLines(gateway).length === 1);
    expect(accessLines(gateway)[0]).toMatchObject({ aggregated: 'forced', prompt_tokens: 11, completion_tokens: 22 });
  });

  it('leaves stream clients streaming on a forcing provider', async () => {
    const { gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end(richStream);
    }, '    force_upstream_stream: true');
    const text = await bodyText(await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'up/m', stream: true, messages: [{ role: 'user', content: 'x' }] }) }));
    expect(text).toContain('"reasoning_content":"Let me "');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('aggregates an SSE answer to stream: false on a provider without the flag, and warns once', async () => {
    const { upstream, gateway } = await setup((_req, res) => {
      sseHead(res);
      res.end(richStream);
    });
    const client = gateway.client();
    expect(await client.chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] })).toEqual(expectedRich);
    expect(await client.chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] })).toEqual(expectedRich);
    expect(upstream.requests[0]?.body.stream).toBe(false);
    const warnings = gateway.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('force_upstream_stream'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, provider: 'up' });
    await waitFor(() => accessLines(gateway).length === 2);
    expect(accessLines(gateway)[0]).toMatchObject({ aggregated: 'autodetected' });
  });

  it('aggregates a body that is plainly SSE though labelled JSON, after queueing blank lines', async () => {
    const { gateway } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`\n\n${chunk({ role: 'assistant', content: '' })}${chunk({ content: 'labelled wrong' })}${chunk({}, 'stop')}${usageChunk()}${DONE}`);
    });
    const completion = await gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] });
    expect(completion.choices[0]?.message.content).toBe('labelled wrong');
    expect(completion.usage).toEqual({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
  });

  it('trims blank lines before a JSON body', async () => {
    const { gateway } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('\n\n\n');
      setTimeout(() => res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'queued', refusal: null }, logprobs: null, finish_reason: 'stop' }] })), 20);
    });
    const completion = await gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] });
    expect(completion.choices[0]?.message.content).toBe('queued');
  });

  it('answers 502 with the upstream message for an error event, and for an end without [DONE] or finish_reason', async () => {
    let call = 0;
    const { gateway } = await setup((_req, res) => {
      call++;
      sseHead(res);
      if (call === 1) res.end(chunk({ role: 'assistant', content: 'x' }) + 'data: {"error":{"message":"GPU fell over","type":"server_error","param":null,"code":null}}\n\n');
      else res.end(chunk({ role: 'assistant', content: 'cut' }));
    }, '    force_upstream_stream: true');
    const first = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] }) });
    expect(first.status).toBe(502);
    expect((await first.json()).error.message).toBe('GPU fell over');
    const second = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] }) });
    expect(second.status).toBe(502);
    expect((await second.json()).error).toMatchObject({ type: 'server_error', code: 'upstream_truncated' });
  });

  it('synthesizes a faithful stream for a stream client when the upstream answers JSON', async () => {
    const toolCompletion = {
      id: 'chatcmpl-json',
      object: 'chat.completion',
      created: 1700000001,
      model: 'json-model',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
    };
    const { upstream, gateway } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(toolCompletion));
    }, '    supports_stream: false');
    const response = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'up/m', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] }) });
    const events = (await bodyText(response)).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
    expect(new Set(chunks.map((c) => `${c.id}|${c.created}|${c.model}`))).toEqual(new Set(['chatcmpl-json|1700000001|json-model']));
    expect(chunks.map((c) => c.choices[0]?.delta ?? null)).toEqual([
      { role: 'assistant', content: null, refusal: null },
      { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
      {},
      null,
    ]);
    expect(chunks[2].choices[0].finish_reason).toBe('tool_calls');
    expect(chunks[3]).toMatchObject({ choices: [], usage: toolCompletion.usage });
    expect(upstream.requests[0]?.body.stream).toBe(false);

    const sdkStream = await gateway.client().chat.completions.stream({ model: 'up/m', messages: [{ role: 'user', content: 'x' }] });
    const final = await sdkStream.finalChatCompletion();
    expect(final.choices[0]?.message.tool_calls?.[0]).toMatchObject({ id: 'call_1', function: { name: 'lookup', arguments: '{"q":"x"}' } });
  });

  it('synthesizes text for an upstream that ignores stream: true', async () => {
    const { gateway } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 5, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'whole answer', refusal: null }, logprobs: null, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }));
    });
    const stream = await gateway.client().chat.completions.create({ model: 'up/m', messages: [{ role: 'user', content: 'x' }], stream: true });
    const parts: Array<{ content?: string | null; usage?: unknown }> = [];
    for await (const c of stream) parts.push({ content: c.choices[0]?.delta.content, usage: c.usage });
    expect(parts.map((p) => p.content)).toEqual(['', 'whole answer', undefined]);
    expect(parts.every((p) => !p.usage)).toBe(true);
  });
});
