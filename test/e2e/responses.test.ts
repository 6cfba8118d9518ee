import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyText, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { fixture } from '../helpers/sse-feed.js';
import { chunk, DONE, sseHead, startUpstream, usageChunk, type FakeUpstream, type RecordedRequest } from '../helpers/upstream.js';
import { parseResponsesStream, validateSequence } from '../fronts/responses/validator.js';

function lastUserText(req: RecordedRequest): string {
  const content = (req.body.messages as Array<{ role: string; content: unknown }>).filter((m) => m.role === 'user').at(-1)?.content;
  if (typeof content === 'string') return content;
  return Array.isArray(content) ? ((content[0] as { text?: string }).text ?? '') : '';
}

const openaiStreams: Record<string, string> = {
  text: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello ' }), chunk({ content: 'there' }), chunk({}, 'stop'), usageChunk(4, 2), DONE].join(''),
  think: [chunk({ role: 'assistant', content: '' }), chunk({ reasoning: 'Step one. ' }), chunk({ reasoning: 'Step two.' }), chunk({ content: 'It is 4.' }), chunk({}, 'stop'), usageChunk(4, 9), DONE].join(''),
  tool: [
    chunk({ role: 'assistant', content: null }),
    chunk({ tool_calls: [{ index: 0, id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"location":"Oslo"}' } }] }),
    chunk({}, 'tool_calls'),
    usageChunk(10, 5),
    DONE,
  ].join(''),
  parallel: [
    chunk({ role: 'assistant', content: null }),
    chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":' } }] }),
    chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'time', arguments: '{"tz":"UTC"}' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
    chunk({}, 'tool_calls'),
    usageChunk(10, 9),
    DONE,
  ].join(''),
  length: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'A long story that' }), chunk({}, 'length'), usageChunk(3, 4), DONE].join(''),
  error: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'so far' }), 'data: {"error":{"message":"GPU fell over","type":"server_error","param":null,"code":null}}\n\n', DONE].join(''),
};

const anthropicFixtures: Record<string, string> = { text: 'text', think: 'thinking-text', tool: 'tool-use', parallel: 'tools-parallel', error: 'error-mid-stream' };

let gateway: RunningGateway;
let openai: FakeUpstream;
let anthropic: FakeUpstream;

beforeAll(async () => {
  openai = await startUpstream((req, res) => {
    sseHead(res); // always SSE: non-stream requests are aggregated, stream ones passed through
    res.end(openaiStreams[lastUserText(req)] ?? openaiStreams.text);
  });
  anthropic = await startUpstream((req, res) => {
    sseHead(res);
    res.end(fixture(`anthropic/${anthropicFixtures[lastUserText(req)] ?? 'text'}.sse`));
  });
  gateway = await startGateway(`
providers:
  - {name: oa, type: openai, base_url: "${openai.url}", max_retries: 0}
  - {name: an, type: anthropic, base_url: "${anthropic.url}", force_upstream_stream: true, max_retries: 0}
`);
});

afterAll(async () => {
  await gateway.close();
  await openai.close();
  await anthropic.close();
});

/** Ids and timestamps are minted per response; everything else must match. */
function normalise(response: unknown): unknown {
  const ids = new Map<string, string>();
  return JSON.parse(JSON.stringify(response), (key, value: unknown) => {
    if (key === 'created_at') return 0;
    if (key === 'id' && typeof value === 'string') {
      if (!ids.has(value)) ids.set(value, `id${ids.size}`);
      return ids.get(value);
    }
    // The SDK's stream helper adds convenience fields of its own.
    if (key === 'output_text' || key === 'output_parsed' || key === 'parsed' || key === 'parsed_arguments') return undefined;
    return value;
  });
}

const tools = [{ type: 'function' as const, name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: false }];

async function both(model: string, say: string): Promise<{ whole: Record<string, unknown>; streamed: Record<string, unknown>; raw: Record<string, unknown> }> {
  const client = gateway.client();
  const params = { model, input: say, tools };
  const whole = (await client.responses.create(params)) as unknown as Record<string, unknown>;
  const streamed = (await client.responses.stream(params).finalResponse()) as unknown as Record<string, unknown>;
  const text = await bodyText(await fetch(`${gateway.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ ...params, stream: true }) }));
  const raw = validateSequence(parseResponsesStream(text));
  return { whole, streamed, raw };
}

describe.each([
  ['an OpenAI-type upstream', 'oa/m'],
  ['an Anthropic-type upstream', 'an/claude'],
])('/v1/responses over %s', (_name, model) => {
  it('text: stream and non-stream agree', async () => {
    const { whole, streamed, raw } = await both(model, 'text');
    expect(normalise(streamed)).toEqual(normalise(whole));
    expect(normalise(raw)).toEqual(normalise(whole));
    expect(whole).toMatchObject({ object: 'response', status: 'completed', output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text' }] }] });
    expect((whole.usage as { output_tokens: number }).output_tokens).toBeGreaterThan(0);
  });

  it('reasoning + text', async () => {
    const { whole, streamed } = await both(model, 'think');
    expect(normalise(streamed)).toEqual(normalise(whole));
    const output = whole.output as Array<{ type: string; content?: Array<{ text: string }> }>;
    expect(output.map((o) => o.type)).toEqual(['reasoning', 'message']);
    expect(output[0]?.content?.[0]?.text).toMatch(/^Step one\. Step two\.$/);
  });

  it('a tool call only', async () => {
    const { whole, streamed } = await both(model, 'tool');
    expect(normalise(streamed)).toEqual(normalise(whole));
    const calls = (whole.output as Array<{ type: string; name?: string; arguments?: string; call_id?: string }>).filter((o) => o.type === 'function_call');
    expect(calls).toHaveLength(1);
    expect(calls[0]?.name).toBe('get_weather');
    expect(JSON.parse(calls[0]?.arguments ?? '')).toHaveProperty('location');
    expect(calls[0]?.call_id).toMatch(/^(call_|toolu_)/);
  });

  it('parallel tool calls', async () => {
    const { whole, streamed } = await both(model, 'parallel');
    expect(normalise(streamed)).toEqual(normalise(whole));
    const calls = (whole.output as Array<{ type: string; name?: string; arguments?: string }>).filter((o) => o.type === 'function_call');
    expect(calls.map((c) => [c.name, c.arguments])).toEqual([
      ['weather', '{"city":"Oslo"}'],
      ['time', '{"tz":"UTC"}'],
    ]);
  });

  it('a mid-stream upstream failure ends in response.failed, never a hang', async () => {
    const text = await bodyText(await fetch(`${gateway.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ model, input: 'error', stream: true }) }));
    const events = parseResponsesStream(text);
    const final = validateSequence(events);
    expect(events.map((e) => e.type).slice(-2)).toEqual(['error', 'response.failed']);
    expect(final.status).toBe('failed');
    const whole = await fetch(`${gateway.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ model, input: 'error' }) });
    expect(whole.status).toBe(502);
    const stream = gateway.client().responses.stream({ model, input: 'error' });
    await expect(stream.finalResponse()).rejects.toBeDefined();
  });
});

describe('/v1/responses specifics', () => {
  it('multi-turn with function_call_output reaches the upstream as chat tool messages', async () => {
    const client = gateway.client();
    await client.responses.create({
      model: 'oa/m',
      instructions: 'Be brief.',
      input: [
        { role: 'user', content: 'weather?' },
        { type: 'function_call', call_id: 'call_w', name: 'get_weather', arguments: '{"location":"Oslo"}' },
        { type: 'function_call_output', call_id: 'call_w', output: '{"temp":3}' },
        { role: 'user', content: 'text' },
      ],
      tools,
    });
    expect(openai.requests.at(-1)?.body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_w', content: '{"temp":3}' },
      { role: 'user', content: 'text' },
    ]);
  });

  it('a length cut-off is response.incomplete with max_output_tokens, streamed or not', async () => {
    const client = gateway.client();
    const whole = await client.responses.create({ model: 'oa/m', input: 'length', max_output_tokens: 4 });
    expect(whole).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, max_output_tokens: 4 });
    const text = await bodyText(await fetch(`${gateway.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ model: 'oa/m', input: 'length', stream: true }) }));
    const events = parseResponsesStream(text);
    validateSequence(events);
    expect(events.at(-1)?.type).toBe('response.incomplete');
  });

  it('frames events with event: lines, no [DONE], and closes', async () => {
    const response = await fetch(`${gateway.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ model: 'oa/m', input: 'text', stream: true }) });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await bodyText(response);
    expect(text.startsWith('event: response.created\ndata: {"type":"response.created","sequence_number":0,')).toBe(true);
    expect(text).not.toContain('[DONE]');
  });

  it('hosted tools are dropped for a chat-type target, named in a header and a warning access line', async () => {
    const response = await fetch(`${gateway.url}/v1/responses`, {
      method: 'POST',
      body: JSON.stringify({ model: 'oa/m', input: 'text', tools: [...tools, { type: 'web_search' }, { type: 'code_interpreter', container: { type: 'auto' } }] }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-sluice-dropped-tools')).toBe('web_search, code_interpreter');
    expect(((await response.json()) as { status: string }).status).toBe('completed');
    expect((openai.requests.at(-1)?.body.tools as Array<{ function: { name: string } }>).map((t) => t.function.name)).toEqual(['get_weather']);
    const line = gateway.logs.filter((l) => l.msg === 'request completed').at(-1);
    expect(line).toMatchObject({ level: 40, dropped_tools: ['web_search', 'code_interpreter'], warning: expect.stringContaining('web_search, code_interpreter') });
  });

  it('stateful features get a clear 400 for a chat-type target', async () => {
    const client = gateway.client();
    await expect(client.responses.create({ model: 'oa/m', input: 'x', previous_response_id: 'resp_1' })).rejects.toMatchObject({ status: 400, message: expect.stringContaining('stateless') });
  });

  it('fields the Responses API does not define are ignored for a chat-type target, and logged once', async () => {
    const before = openai.requests.length;
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${gateway.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ model: 'oa/m', input: 'text', future_knob: { x: 1 } }) });
      expect(response.status).toBe(200);
    }
    expect(openai.requests.slice(before).map((r) => 'future_knob' in r.body)).toEqual([false, false]);
    expect(gateway.logs.filter((l) => l.field === 'future_knob')).toHaveLength(1);
  });

  it('a WebSocket upgrade gets 426, the answer that makes Codex fall back to HTTP at once', async () => {
    const url = new URL(`${gateway.url}/v1/responses`);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(426);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { type: 'invalid_request_error', code: 'websocket_not_supported' } });
  });
});

describe('/v1/responses with responses.hosted_tools: reject', () => {
  it('a hosted tool for a chat-type target is a 400 naming it', async () => {
    const strict = await startGateway(`providers:\n  - {name: oa, type: openai, base_url: "${openai.url}", max_retries: 0}\nresponses: {hosted_tools: reject}\n`);
    try {
      await expect(strict.client().responses.create({ model: 'oa/m', input: 'x', tools: [{ type: 'web_search' }] })).rejects.toMatchObject({ status: 400, param: 'tools', message: expect.stringContaining("'web_search'") });
    } finally {
      await strict.close();
    }
  });
});

describe('/v1/responses with responses: native', () => {
  it('proxies the upstream /responses byte for byte, stream and not, and logs its usage', async () => {
    const completed = { id: 'resp_up', object: 'response', status: 'completed', model: 'native-model', output: [], usage: { input_tokens: 7, output_tokens: 3, total_tokens: 10 } };
    const sse = `event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"resp_up"}}\n\nevent: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 1, response: completed })}\n\n`;
    const upstream = await startUpstream((req, res) => {
      if (req.body.stream === true) {
        sseHead(res);
        res.end(sse);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{ "id": "resp_up",  "spacing": "kept" }`);
      }
    });
    const native = await startGateway(`providers:\n  - {name: nat, type: openai, base_url: "${upstream.url}", responses: native, api_key: sk-n}\n`);
    try {
      const whole = await fetch(`${native.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ model: 'nat/native-model', input: 'x', metadata: { a: 'b' } }) });
      expect(await whole.text()).toBe(`{ "id": "resp_up",  "spacing": "kept" }`);
      expect(upstream.requests[0]).toMatchObject({ url: '/v1/responses', body: { model: 'native-model', input: 'x', metadata: { a: 'b' }, stream: false } });
      expect(upstream.requests[0]?.headers.authorization).toBe('Bearer sk-n');
      const streamed = await fetch(`${native.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ model: 'nat/native-model', input: 'x', stream: true }) });
      expect(await bodyText(streamed)).toBe(sse);
      await new Promise((r) => setTimeout(r, 50));
      const lines = native.logs.filter((l) => l.msg === 'request completed');
      expect(lines.at(-1)).toMatchObject({ api: '/v1/responses', prompt_tokens: 7, completion_tokens: 3 });
    } finally {
      await native.close();
      await upstream.close();
    }
  });

  it("gets Codex's request untouched: namespace and hosted tools, stored state and unknown fields included", async () => {
    const [codexBody] = JSON.parse(fixture('codex/exec-turn-0.171.0.json').toString('utf8')) as [Record<string, unknown>];
    const sent = { ...codexBody, model: 'nat/gpt-5.1-codex', previous_response_id: 'resp_prev', future_knob: true };
    const upstream = await startUpstream((_req, res) => {
      sseHead(res);
      res.end(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 0, response: { id: 'r', status: 'completed', output: [] } })}\n\n`);
    });
    const native = await startGateway(`providers:\n  - {name: nat, type: openai, base_url: "${upstream.url}", responses: native}\n`);
    try {
      const response = await fetch(`${native.url}/v1/responses`, { method: 'POST', body: JSON.stringify(sent) });
      expect(response.status).toBe(200);
      await bodyText(response);
      expect(response.headers.get('x-sluice-dropped-tools')).toBeNull();
      expect(upstream.requests[0]?.body).toEqual({ ...sent, model: 'gpt-5.1-codex' });
    } finally {
      await native.close();
      await upstream.close();
    }
  });
});
