import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatCompletion } from 'openai/resources/chat/completions';
import { startGateway, type RunningGateway } from '../helpers/gateway.js';
import { fixture } from '../helpers/sse-feed.js';
import { chunk, DONE, sseHead, startUpstream, usageChunk, type FakeUpstream, type RecordedRequest } from '../helpers/upstream.js';

/** What the fake upstreams do is picked by the last user message: text, tool, think, error, overloaded. */
function lastUserText(req: RecordedRequest): string {
  const fromChat = (req.body.messages as Array<{ role: string; content: unknown }> | undefined)?.filter((m) => m.role === 'user').at(-1)?.content;
  const fromGemini = (req.body.contents as Array<{ role: string; parts: Array<{ text?: string }> }> | undefined)?.filter((c) => c.role === 'user').at(-1)?.parts[0]?.text;
  const content = fromChat ?? fromGemini;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return (content[0] as { text?: string })?.text ?? '';
  return '';
}

const anthropicMessages: Record<string, unknown> = {
  text: { id: 'msg_text', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: 'Hello, wörld 🙂' }], stop_reason: 'end_turn', usage: { input_tokens: 12, output_tokens: 9, cache_read_input_tokens: 5, cache_creation_input_tokens: 3 } },
  think: { id: 'msg_think', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'thinking', thinking: 'Step one. Step two.', signature: 's' }, { type: 'text', text: 'The answer is 4.' }], stop_reason: 'max_tokens', usage: { input_tokens: 20, output_tokens: 50 } },
  tool: { id: 'msg_tool', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { location: 'San Francisco, CA' } }], stop_reason: 'tool_use', usage: { input_tokens: 40, output_tokens: 89 } },
};

async function anthropicUpstream(): Promise<FakeUpstream> {
  return startUpstream((req, res) => {
    const say = lastUserText(req);
    if (say === 'overloaded') {
      res.writeHead(529, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}');
      return;
    }
    const name = { text: 'text', tool: 'tool-use', think: 'thinking-text', error: 'error-mid-stream' }[say] ?? 'text';
    if (req.body.stream === true) {
      sseHead(res);
      res.end(fixture(`anthropic/${name}.sse`));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(anthropicMessages[say] ?? anthropicMessages.text));
    }
  });
}

async function geminiUpstream(): Promise<FakeUpstream> {
  return startUpstream((req, res) => {
    const say = lastUserText(req);
    const name = { text: 'text', tool: 'function-call', think: 'thinking-text' }[say] ?? 'text';
    const sse = fixture(`gemini/${name}.sse`);
    if (req.url.includes(':streamGenerateContent')) {
      sseHead(res);
      res.end(sse);
      return;
    }
    // generateContent answers the stream's frames merged into one response.
    const frames = sse.toString('utf8').split('\n\n').filter(Boolean).map((f) => JSON.parse(f.slice('data: '.length)));
    const parts = frames.flatMap((f) => f.candidates[0].content.parts);
    const last = frames.at(-1);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...last, candidates: [{ ...last.candidates[0], content: { role: 'model', parts } }] }));
  });
}

const openaiStreams: Record<string, string> = {
  text: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello, ' }), chunk({ content: 'wörld 🙂' }), chunk({}, 'stop'), usageChunk(12, 9), DONE].join(''),
  tool: [
    chunk({ role: 'assistant', content: 'Let me check.' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_01', type: 'function', function: { name: 'get_weather', arguments: '{"location": ' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '"San Francisco, CA"}' } }] }),
    chunk({}, 'tool_calls'),
    usageChunk(40, 89),
    DONE,
  ].join(''),
  think: [chunk({ role: 'assistant', content: '' }), chunk({ reasoning_content: 'Step one. Step two.' }), chunk({ content: 'The answer is 4.' }), chunk({}, 'length'), usageChunk(20, 50), DONE].join(''),
};

async function openaiUpstream(): Promise<FakeUpstream> {
  return startUpstream((req, res) => {
    sseHead(res); // an SSE-only upstream: non-stream requests are aggregated
    res.end(openaiStreams[lastUserText(req)] ?? openaiStreams.text);
  });
}

let gateway: RunningGateway;
const upstreams: Record<string, FakeUpstream> = {};

beforeAll(async () => {
  upstreams.openai = await openaiUpstream();
  upstreams.azure = await openaiUpstream();
  upstreams.anthropic = await anthropicUpstream();
  upstreams.gemini = await geminiUpstream();
  gateway = await startGateway(`
providers:
  - {name: openai, type: openai, base_url: "${upstreams.openai.url}", api_key: sk-o, force_upstream_stream: true}
  - {name: azure, type: azure, base_url: "${upstreams.azure.url.replace('/v1', '')}", api_key: az-k, models: {gpt-4o: prod-deployment}}
  - {name: anthropic, type: anthropic, base_url: "${upstreams.anthropic.url}", api_key: sk-ant, max_retries: 0, models: {sonnet: claude-sonnet-4-5}}
  - {name: anthropic-forced, type: anthropic, base_url: "${upstreams.anthropic.url}", force_upstream_stream: true}
  - {name: gemini, type: gemini, base_url: "${upstreams.gemini.url}", api_key: g-k}
`);
});

afterAll(async () => {
  await gateway.close();
  for (const u of Object.values(upstreams)) await u.close();
});

const models = { openai: 'openai/gpt-4o-mini', azure: 'azure/gpt-4o', anthropic: 'anthropic/sonnet', gemini: 'gemini/gemini-2.5-flash' };

async function both(model: string, say: string, extra: Record<string, unknown> = {}): Promise<{ whole: ChatCompletion; streamed: ChatCompletion }> {
  const client = gateway.client();
  const messages = [{ role: 'user' as const, content: say }];
  const whole = await client.chat.completions.create({ model, messages, ...extra });
  const streamed = await client.chat.completions.stream({ model, messages, ...extra, stream_options: { include_usage: true } }).finalChatCompletion();
  return { whole, streamed };
}

describe.each(Object.entries(models))('%s through the OpenAI SDK', (name, model) => {
  it('text: the same content, finish_reason and usage, streamed or not', async () => {
    const { whole, streamed } = await both(model, 'text');
    for (const c of [whole, streamed]) {
      expect(c.choices[0]?.message.content).toBe('Hello, wörld 🙂');
      expect(c.choices[0]?.finish_reason).toBe('stop');
    }
    expect(whole.usage?.completion_tokens).toBeGreaterThan(0);
    expect(streamed.usage).toEqual(whole.usage);
  });

  it('tool calls: the same call, finish_reason tool_calls', async () => {
    const { whole, streamed } = await both(model, 'tool', { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }] });
    for (const c of [whole, streamed]) {
      const call = c.choices[0]?.message.tool_calls?.[0];
      expect(call?.type).toBe('function');
      expect(call?.type === 'function' && call.function.name).toBe('get_weather');
      expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ location: name === 'gemini' ? 'Boston' : 'San Francisco, CA' });
      expect(call?.id).toMatch(/^(call_|toolu_)/);
      expect(c.choices[0]?.finish_reason).toBe('tool_calls');
    }
  });

  it('reasoning arrives as reasoning_content, every fragment of it', async () => {
    const client = gateway.client();
    const whole = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'think' }] });
    const message = whole.choices[0]?.message as unknown as { reasoning_content?: string; content: string };
    // The SDK's own stream accumulator keeps only the last reasoning fragment, so streams are read raw.
    let reasoning = '';
    let content = '';
    for await (const part of await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'think' }], stream: true })) {
      const delta = part.choices[0]?.delta as { reasoning_content?: string; content?: string | null } | undefined;
      reasoning += delta?.reasoning_content ?? '';
      content += delta?.content ?? '';
    }
    expect(message.reasoning_content).toMatch(/^(Step one\. Step two\.|Considering the sum\.)$/);
    expect(reasoning).toBe(message.reasoning_content);
    expect(content).toBe(message.content);
    expect(content).toMatch(/4\.$/);
  });
});

describe('provider specifics end to end', () => {
  it('a multi-turn tool conversation reaches Anthropic and Gemini in their own shapes', async () => {
    const client = gateway.client();
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'weather?' },
      { role: 'assistant' as const, content: null, tool_calls: [{ id: 'call_9', type: 'function' as const, function: { name: 'get_weather', arguments: '{"location":"Oslo"}' } }] },
      { role: 'tool' as const, tool_call_id: 'call_9', content: '{"temp":3}' },
      { role: 'user' as const, content: 'text' },
    ];
    await client.chat.completions.create({ model: models.anthropic, messages });
    const sentAnthropic = upstreams.anthropic!.requests.at(-1)!;
    expect(sentAnthropic.url).toBe('/v1/messages');
    expect(sentAnthropic.headers).toMatchObject({ 'x-api-key': 'sk-ant', 'anthropic-version': '2023-06-01' });
    expect(sentAnthropic.body).toMatchObject({
      model: 'claude-sonnet-4-5',
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'weather?' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'call_9', name: 'get_weather', input: { location: 'Oslo' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_9', content: '{"temp":3}' }, { type: 'text', text: 'text' }] },
      ],
    });
    await client.chat.completions.create({ model: models.gemini, messages });
    const sentGemini = upstreams.gemini!.requests.at(-1)!;
    expect(sentGemini.url).toBe('/v1/models/gemini-2.5-flash:generateContent');
    expect(sentGemini.headers['x-goog-api-key']).toBe('g-k');
    expect(sentGemini.body).toMatchObject({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'weather?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { location: 'Oslo' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 3 } } }, { text: 'text' }] },
      ],
    });
  });

  it('Azure gets its deployment URL and api-key', async () => {
    await gateway.client().chat.completions.create({ model: models.azure, messages: [{ role: 'user', content: 'text' }] });
    const sent = upstreams.azure!.requests.at(-1)!;
    expect(sent.url).toBe('/openai/deployments/prod-deployment/chat/completions?api-version=2024-10-21');
    expect(sent.headers['api-key']).toBe('az-k');
  });

  it('Anthropic errors: 529 becomes a 503 the SDK sees as a server error; a mid-stream error event throws', async () => {
    const client = gateway.client();
    const overloaded = client.chat.completions.create({ model: models.anthropic, messages: [{ role: 'user', content: 'overloaded' }] });
    await expect(overloaded).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await expect(overloaded).rejects.toMatchObject({ status: 503, code: 'overloaded_error' });
    const stream = await client.chat.completions.create({ model: models.anthropic, messages: [{ role: 'user', content: 'error' }], stream: true });
    await expect(
      (async () => {
        for await (const _ of stream) void _;
      })(),
    ).rejects.toThrow(/Overloaded/);
  });

  it('force-streaming works on top of the Anthropic adapter', async () => {
    const before = upstreams.anthropic!.requests.length;
    const completion = await gateway.client().chat.completions.create({ model: 'anthropic-forced/claude-sonnet-4-5', messages: [{ role: 'user', content: 'tool' }] });
    expect(upstreams.anthropic!.requests[before]?.body.stream).toBe(true);
    expect(completion.choices[0]?.message.tool_calls?.[0]).toMatchObject({ id: 'toolu_01', function: { name: 'get_weather' } });
    expect(completion.usage).toMatchObject({ prompt_tokens: 40, completion_tokens: 89 });
  });
});
