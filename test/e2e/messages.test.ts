import Anthropic from '@anthropic-ai/sdk';
import type { Message, MessageParam } from '@anthropic-ai/sdk/resources/messages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessLines, bodyText, startGateway, waitFor, type RunningGateway } from '../helpers/gateway.js';
import { fixture } from '../helpers/sse-feed.js';
import { chunk, DONE, sseHead, startUpstream, usageChunk, type FakeUpstream, type RecordedRequest } from '../helpers/upstream.js';

// Each loopback upstream speaks its provider's protocol; what it answers is picked by the last
// user text (a scenario name), or `after-tools` when the request ends with tool results.

type Scenario = 'text' | 'tools' | 'after-tools' | 'think' | 'max' | 'image' | 'limited' | 'bad' | 'midfail';

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

function scenarioOfChat(body: Record<string, unknown>): Scenario {
  const messages = body.messages as Array<{ role: string; content: unknown }>;
  if (messages.at(-1)?.role === 'tool' || (messages.at(-1)?.role === 'user' && messages.at(-2)?.role === 'tool')) return 'after-tools';
  const content = messages.filter((m) => m.role === 'user').at(-1)?.content;
  const text = typeof content === 'string' ? content : ((content as Array<{ type: string; text?: string }>).find((p) => p.type === 'text')?.text ?? '');
  return text as Scenario;
}

function scenarioOfGemini(body: Record<string, unknown>): Scenario {
  const contents = body.contents as Array<{ role: string; parts: Array<{ text?: string; functionResponse?: unknown }> }>;
  const last = contents.at(-1);
  if (last?.parts.some((p) => p.functionResponse !== undefined)) return 'after-tools';
  return (last?.parts.find((p) => typeof p.text === 'string')?.text ?? '') as Scenario;
}

function scenarioOfAnthropic(body: Record<string, unknown>): Scenario {
  const last = (body.messages as Array<{ role: string; content: unknown }>).at(-1);
  const content = last?.content;
  if (Array.isArray(content) && content.some((b: { type: string }) => b.type === 'tool_result')) return 'after-tools';
  return (typeof content === 'string' ? content : ((content as Array<{ type: string; text?: string }>).find((b) => b.type === 'text')?.text ?? '')) as Scenario;
}

// ---- OpenAI type: SSE only (a non-stream client's answer is aggregated from the stream) ----------

const openaiScripts: Record<string, string> = {
  text: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello, ' }), chunk({ content: 'wörld 🙂' }), chunk({}, 'stop'), usageChunk(12, 9), DONE].join(''),
  image: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'A red pixel.' }), chunk({}, 'stop'), usageChunk(80, 4), DONE].join(''),
  tools: [
    chunk({ role: 'assistant', content: null }),
    chunk({ content: 'Checking both.' }),
    chunk({ tool_calls: [{ index: 0, id: 'call_weather', type: 'function', function: { name: 'weather', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
    chunk({ tool_calls: [{ index: 1, id: 'call_time', type: 'function', function: { name: 'time', arguments: '{"tz":"UTC"}' } }] }),
    chunk({}, 'tool_calls'),
    usageChunk(30, 20),
    DONE,
  ].join(''),
  'after-tools': [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Sunny, 12:00.' }), chunk({}, 'stop'), usageChunk(50, 6), DONE].join(''),
  think: [chunk({ role: 'assistant', content: '' }), chunk({ reasoning_content: 'Step one. ' }), chunk({ reasoning_content: 'Step two.' }), chunk({ content: 'It is 4.' }), chunk({}, 'stop'), usageChunk(20, 50), DONE].join(''),
  max: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'A long story that' }), chunk({}, 'length'), usageChunk(4, 5), DONE].join(''),
  midfail: [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Partial' }), `data: ${JSON.stringify({ error: { message: 'The GPU fell over', type: 'server_error', param: null, code: null } })}\n\n`].join(''),
};

async function openaiUpstream(): Promise<FakeUpstream> {
  return startUpstream((req, res) => {
    const say = scenarioOfChat(req.body);
    if (say === 'limited') {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' });
      res.end(JSON.stringify({ error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } }));
      return;
    }
    if (say === 'bad') {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: "Invalid value for 'temperature'", type: 'invalid_request_error', param: 'temperature', code: null } }));
      return;
    }
    sseHead(res);
    res.end(openaiScripts[say] ?? openaiScripts.text);
  });
}

// ---- Gemini type -----------------------------------------------------------------------------------

function geminiFrame(parts: unknown[], finish?: string, usage?: Record<string, number>): string {
  const candidate: Record<string, unknown> = { content: { parts, role: 'model' }, index: 0 };
  if (finish) candidate.finishReason = finish;
  return `data: ${JSON.stringify({ candidates: [candidate], usageMetadata: usage, modelVersion: 'gemini-2.5-flash', responseId: 'resp_1' })}\n\n`;
}

const geminiScripts: Record<string, string> = {
  text: fixture('gemini/text.sse').toString('utf8'),
  image: geminiFrame([{ text: 'A red pixel.' }], 'STOP', { promptTokenCount: 80, candidatesTokenCount: 4, totalTokenCount: 84 }),
  tools: fixture('gemini/functions-parallel.sse').toString('utf8'),
  'after-tools': geminiFrame([{ text: 'Sunny, 12:00.' }], 'STOP', { promptTokenCount: 50, candidatesTokenCount: 6, totalTokenCount: 56 }),
  think: fixture('gemini/thinking-text.sse').toString('utf8'),
  max: fixture('gemini/max-tokens.sse').toString('utf8'),
};

async function geminiUpstream(): Promise<FakeUpstream> {
  return startUpstream((req, res, raw) => {
    const say = scenarioOfGemini(req.body);
    if (say === 'limited') {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' });
      res.end(JSON.stringify({ error: { code: 429, message: 'Resource has been exhausted', status: 'RESOURCE_EXHAUSTED' } }));
      return;
    }
    if (say === 'midfail') {
      sseHead(res);
      res.write(geminiFrame([{ text: 'Partial' }]));
      setTimeout(() => raw.socket.destroy(), 20);
      return;
    }
    const sse = geminiScripts[say] ?? (geminiScripts.text as string);
    if (req.url.includes(':streamGenerateContent')) {
      sseHead(res);
      res.end(sse);
      return;
    }
    // generateContent: the stream's frames merged into one response.
    const frames = sse.split('\n\n').filter(Boolean).map((f) => JSON.parse(f.slice('data: '.length)));
    const parts = frames.flatMap((f) => f.candidates[0].content.parts);
    const last = frames.at(-1);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...last, candidates: [{ ...last.candidates[0], content: { role: 'model', parts } }] }));
  });
}

// ---- Anthropic type (native): each answer is one message, sent whole or as its event stream ---------

type AnthropicBlock = Record<string, unknown> & { type: string };

function anthropicMessage(id: string, content: AnthropicBlock[], stop: string, usage: Record<string, number>): Message {
  return { id, type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content, stop_reason: stop, stop_sequence: null, usage } as unknown as Message;
}

const anthropicScripts: Record<string, Message> = {
  text: anthropicMessage('msg_text', [{ type: 'text', text: 'Hello, wörld 🙂' }], 'end_turn', { input_tokens: 12, cache_creation_input_tokens: 3, cache_read_input_tokens: 5, output_tokens: 9 }),
  image: anthropicMessage('msg_img', [{ type: 'text', text: 'A red pixel.' }], 'end_turn', { input_tokens: 80, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 4 }),
  tools: anthropicMessage(
    'msg_tools',
    [
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_use', id: 'toolu_weather', name: 'weather', input: { city: 'Oslo' } },
      { type: 'tool_use', id: 'toolu_time', name: 'time', input: { tz: 'UTC' } },
    ],
    'tool_use',
    { input_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 20 },
  ),
  'after-tools': anthropicMessage('msg_after', [{ type: 'text', text: 'Sunny, 12:00.' }], 'end_turn', { input_tokens: 50, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 6 }),
  think: anthropicMessage(
    'msg_think',
    [
      { type: 'thinking', thinking: 'Step one. Step two.', signature: 'EqQBCgIYAhIMsig' },
      { type: 'text', text: 'It is 4.' },
    ],
    'end_turn',
    { input_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 50 },
  ),
  max: anthropicMessage('msg_max', [{ type: 'text', text: 'A long story that' }], 'max_tokens', { input_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 }),
};

function event(type: string, body: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
}

/** A message as Anthropic streams it: text and thinking in two deltas, tool input in two pieces. */
function anthropicStream(message: Message): string {
  const { usage, content, ...rest } = message as unknown as { usage: Record<string, number>; content: AnthropicBlock[] } & Record<string, unknown>;
  let out = event('message_start', { message: { ...rest, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
  out += event('ping', {});
  content.forEach((block, index) => {
    if (block.type === 'text') {
      const text = block.text as string;
      out += event('content_block_start', { index, content_block: { type: 'text', text: '' } });
      out += event('content_block_delta', { index, delta: { type: 'text_delta', text: text.slice(0, 3) } });
      out += event('content_block_delta', { index, delta: { type: 'text_delta', text: text.slice(3) } });
    } else if (block.type === 'thinking') {
      out += event('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } });
      out += event('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: block.thinking } });
      out += event('content_block_delta', { index, delta: { type: 'signature_delta', signature: block.signature } });
    } else {
      const json = JSON.stringify(block.input);
      out += event('content_block_start', { index, content_block: { ...block, input: {} } });
      out += event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json.slice(0, 4) } });
      out += event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json.slice(4) } });
    }
    out += event('content_block_stop', { index });
  });
  out += event('message_delta', { delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
  return out + event('message_stop', {});
}

async function anthropicUpstream(): Promise<FakeUpstream> {
  return startUpstream((req, res) => {
    if (req.url.startsWith('/v1/messages/count_tokens')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"input_tokens":1234}');
      return;
    }
    const say = scenarioOfAnthropic(req.body);
    if (say === 'limited') {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' });
      res.end('{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}');
      return;
    }
    if (say === 'bad') {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"invalid_request_error","message":"temperature: range: 0..1"}}');
      return;
    }
    if (say === 'midfail') {
      sseHead(res);
      res.end(fixture('anthropic/error-mid-stream.sse'));
      return;
    }
    const message = anthropicScripts[say] ?? (anthropicScripts.text as Message);
    if (req.body.stream === true) {
      sseHead(res);
      res.end(anthropicStream(message));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(message));
    }
  });
}

let gateway: RunningGateway;
const upstreams: Record<string, FakeUpstream> = {};

beforeAll(async () => {
  upstreams.openai = await openaiUpstream();
  upstreams.gemini = await geminiUpstream();
  upstreams.anthropic = await anthropicUpstream();
  gateway = await startGateway(`
server:
  api_keys:
    - client-key
    - {key: team-key, name: team, models: [openai/*]}
providers:
  - {name: openai, type: openai, base_url: "${upstreams.openai.url}", api_key: sk-o, max_retries: 0, models: [gpt-4o]}
  - {name: gemini, type: gemini, base_url: "${upstreams.gemini.url}", api_key: g-k, max_retries: 0, models: [gemini-2.5-flash]}
  - {name: anthropic, type: anthropic, base_url: "${upstreams.anthropic.url}", api_key: sk-ant, max_retries: 0, models: [claude-sonnet-4-5]}
routes:
  - {name: claude-sonnet-4-5, targets: [{model: openai/gpt-4o}]}
`);
});

afterAll(async () => {
  await gateway.close();
  for (const u of Object.values(upstreams)) await u.close();
});

function client(apiKey = 'client-key'): Anthropic {
  return new Anthropic({ baseURL: gateway.url, apiKey, maxRetries: 0, timeout: 10_000 });
}

const models: Record<string, string> = { openai: 'claude-sonnet-4-5', gemini: 'gemini/gemini-2.5-flash', anthropic: 'anthropic/claude-sonnet-4-5' };

const TOOLS = [
  { name: 'weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } },
  { name: 'time', description: 'Time in a zone', input_schema: { type: 'object' as const, properties: { tz: { type: 'string' } } } },
];

type Params = Omit<Anthropic.MessageCreateParamsNonStreaming, 'model' | 'max_tokens'> & { max_tokens?: number };

/** The same request, whole and streamed: the stream's finalMessage() must equal create(), the id aside. */
async function both(model: string, params: Params): Promise<{ whole: Message; streamed: Message; events: string[] }> {
  const c = client();
  const body = { model, max_tokens: 1024, ...params };
  const whole = await c.messages.create(body);
  const stream = c.messages.stream(body);
  const events: string[] = [];
  stream.on('streamEvent', (e) => events.push(e.type));
  const streamed = await stream.finalMessage();
  const { id: _w, ...w } = whole;
  // parsed_output is the SDK's own addition to a streamed message (structured outputs), not the API's.
  const { id: _s, parsed_output: _p, ...s } = streamed as Message & { parsed_output?: unknown };
  expect(s).toEqual(w);
  expect(whole.id).toMatch(/^msg_/);
  return { whole, streamed, events };
}

const blocks = (m: Message): Array<Record<string, unknown>> => m.content as unknown as Array<Record<string, unknown>>;

describe.each(Object.entries(models))('%s through the Anthropic SDK', (provider, model) => {
  const upstream = (): FakeUpstream => upstreams[provider] as FakeUpstream;

  it('text: create() and stream().finalMessage() agree; usage and end_turn', async () => {
    const { whole, events } = await both(model, { messages: [{ role: 'user', content: 'text' }] });
    expect(blocks(whole)).toEqual([{ type: 'text', text: 'Hello, wörld 🙂' }]);
    expect(whole.stop_reason).toBe('end_turn');
    expect(whole.type).toBe('message');
    expect(whole.role).toBe('assistant');
    expect(whole.usage.output_tokens).toBeGreaterThan(0);
    expect(whole.usage.input_tokens).toBeGreaterThan(0);
    expect(events[0]).toBe('message_start');
    expect(events.at(-1)).toBe('message_stop');
    if (provider === 'anthropic') expect(whole.usage).toMatchObject({ input_tokens: 12, cache_read_input_tokens: 5, cache_creation_input_tokens: 3, output_tokens: 9 });
    if (provider === 'openai') expect(whole.usage).toEqual({ input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 9 });
  });

  it('parallel tool use, then a second turn with the tool results (one an error)', async () => {
    const first = await both(model, { tools: TOOLS, messages: [{ role: 'user', content: 'tools' }] });
    const turn1 = first.whole;
    expect(turn1.stop_reason).toBe('tool_use');
    const uses = turn1.content.filter((b) => b.type === 'tool_use');
    expect(uses.map((u) => [u.name, u.input])).toEqual([
      ['weather', { city: 'Oslo' }],
      ['time', { tz: 'UTC' }],
    ]);
    expect(new Set(uses.map((u) => u.id)).size).toBe(2);
    const before = upstream().requests.length;
    const messages: MessageParam[] = [
      { role: 'user', content: 'tools' },
      { role: 'assistant', content: turn1.content },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: uses[0]?.id as string, content: 'Sunny' },
          { type: 'tool_result', tool_use_id: uses[1]?.id as string, content: [{ type: 'text', text: 'clock broken' }], is_error: true },
        ],
      },
    ];
    const second = await both(model, { tools: TOOLS, messages });
    expect(blocks(second.whole)).toEqual([{ type: 'text', text: 'Sunny, 12:00.' }]);
    // What the upstream got, in its own protocol: each result tied to its call.
    const sent = upstream().requests[before]?.body as Record<string, unknown>;
    if (provider === 'openai') {
      const chat = sent.messages as Array<Record<string, unknown>>;
      expect(chat.slice(-3)).toEqual([
        { role: 'assistant', content: 'Checking both.', tool_calls: [
          { id: 'call_weather', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
          { id: 'call_time', type: 'function', function: { name: 'time', arguments: '{"tz":"UTC"}' } },
        ] },
        { role: 'tool', tool_call_id: 'call_weather', content: 'Sunny' },
        { role: 'tool', tool_call_id: 'call_time', content: 'Error: clock broken' },
      ]);
      expect(sent.tools).toEqual(TOOLS.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.input_schema } })));
    } else if (provider === 'gemini') {
      const contents = sent.contents as Array<{ role: string; parts: Array<Record<string, unknown>> }>;
      expect(contents.at(-1)?.parts).toEqual([
        { functionResponse: { name: 'weather', response: { content: 'Sunny' } } },
        { functionResponse: { name: 'time', response: { content: 'Error: clock broken' } } },
      ]);
    } else {
      // Native: the body as the client sent it, only the model name replaced.
      expect(sent.messages).toEqual(JSON.parse(JSON.stringify(messages)));
    }
  });

  it('thinking: a thinking block before the text', async () => {
    const { whole } = await both(model, { max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 }, messages: [{ role: 'user', content: 'think' }] });
    const [thinking, text] = blocks(whole);
    expect(thinking?.type).toBe('thinking');
    expect(text?.type).toBe('text');
    const sent = upstream().requests.at(-1)?.body as Record<string, unknown>;
    if (provider === 'openai') {
      expect(thinking?.thinking).toBe('Step one. Step two.');
      expect(sent.reasoning_effort).toBe('low');
    } else if (provider === 'gemini') {
      expect(thinking?.thinking).toBe('Considering the sum.');
      expect((sent.generationConfig as Record<string, unknown>).thinkingConfig).toEqual({ thinkingBudget: 1024, includeThoughts: true });
    } else {
      expect(thinking).toEqual({ type: 'thinking', thinking: 'Step one. Step two.', signature: 'EqQBCgIYAhIMsig' });
      expect(sent.thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });
    }
  });

  it('max_tokens: stop_reason max_tokens, and max_tokens reaches the upstream', async () => {
    const { whole } = await both(model, { max_tokens: 5, messages: [{ role: 'user', content: 'max' }] });
    expect(whole.stop_reason).toBe('max_tokens');
    const sent = upstream().requests.at(-1)?.body as Record<string, unknown>;
    if (provider === 'openai') expect(sent.max_completion_tokens).toBe(5);
    else if (provider === 'gemini') expect((sent.generationConfig as Record<string, unknown>).maxOutputTokens).toBe(5);
    else expect(sent.max_tokens).toBe(5);
  });

  it('images (base64 and URL) reach the upstream in its own form', async () => {
    const { whole } = await both(model, {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
            { type: 'text', text: 'image' },
          ],
        },
      ],
    });
    expect(blocks(whole)).toEqual([{ type: 'text', text: 'A red pixel.' }]);
    const sent = upstream().requests.at(-1)?.body as Record<string, unknown>;
    if (provider === 'openai') {
      expect((sent.messages as Array<{ content: unknown }>).at(-1)?.content).toEqual([
        { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
        { type: 'text', text: 'image' },
      ]);
    } else if (provider === 'gemini') {
      expect((sent.contents as Array<{ parts: unknown[] }>).at(-1)?.parts).toEqual([
        { inlineData: { mimeType: 'image/png', data: PNG } },
        { fileData: { fileUri: 'https://example.com/cat.png', mimeType: 'image/png' } },
        { text: 'image' },
      ]);
    } else {
      expect((sent.messages as Array<{ content: unknown[] }>).at(-1)?.content[0]).toEqual({ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } });
    }
  });

  it('an upstream 429 before the first byte: RateLimitError with rate_limit_error and Retry-After', async () => {
    const c = client();
    for (const call of [() => c.messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'limited' }] }), () => c.messages.stream({ model, max_tokens: 10, messages: [{ role: 'user', content: 'limited' }] }).finalMessage()]) {
      const err = (await call().then(
        () => undefined,
        (e: unknown) => e,
      )) as InstanceType<typeof Anthropic.APIError>;
      expect(err).toBeInstanceOf(Anthropic.RateLimitError);
      expect(err.status).toBe(429);
      expect(err.type).toBe('rate_limit_error');
      expect(err.headers?.get('retry-after')).toBe('30');
      expect((err.error as { type: string }).type).toBe('error');
    }
  });

  it('an upstream failure after the first byte: the stream throws an APIError from the error event', async () => {
    const stream = client().messages.stream({ model, max_tokens: 10, messages: [{ role: 'user', content: 'midfail' }] });
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const err = (await stream.finalMessage().then(
      () => undefined,
      (e: unknown) => e,
    )) as InstanceType<typeof Anthropic.APIError>;
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(texts.join('')).toBe('Partial');
    expect(['api_error', 'overloaded_error']).toContain(err.type);
    expect((err.error as { type: string }).type).toBe('error');
  });
});

describe('Messages front: errors, auth, count_tokens', () => {
  it('upstream 400s are translated to Anthropic shape (never OpenAI shape)', async () => {
    for (const model of [models.openai, models.anthropic] as string[]) {
      const err = (await client()
        .messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'bad' }] })
        .then(
          () => undefined,
          (e: unknown) => e,
        )) as InstanceType<typeof Anthropic.APIError>;
      expect(err).toBeInstanceOf(Anthropic.BadRequestError);
      expect(err.error).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringMatching(/temperature/) } });
    }
  });

  it('auth: x-api-key or Bearer; a wrong key 401, a model outside the key\'s list 403, an unknown model 404', async () => {
    const ok = await fetch(`${gateway.url}/v1/messages`, { method: 'POST', headers: { authorization: 'Bearer client-key', 'content-type': 'application/json' }, body: JSON.stringify({ model: models.openai, max_tokens: 10, messages: [{ role: 'user', content: 'text' }] }) });
    expect(ok.status).toBe(200);
    const cases: Array<[() => Promise<unknown>, abstract new (...args: never[]) => Error, string]> = [
      [() => client('wrong').messages.create({ model: models.openai as string, max_tokens: 10, messages: [{ role: 'user', content: 'text' }] }), Anthropic.AuthenticationError, 'authentication_error'],
      [() => client('team-key').messages.create({ model: models.gemini as string, max_tokens: 10, messages: [{ role: 'user', content: 'text' }] }), Anthropic.PermissionDeniedError, 'permission_error'],
      [() => client().messages.create({ model: 'nope/nothing', max_tokens: 10, messages: [{ role: 'user', content: 'text' }] }), Anthropic.NotFoundError, 'not_found_error'],
      [() => client().messages.countTokens({ model: 'nope/nothing', messages: [{ role: 'user', content: 'text' }] }), Anthropic.NotFoundError, 'not_found_error'],
    ];
    for (const [call, cls, type] of cases) {
      const err = (await call().then(
        () => undefined,
        (e: unknown) => e,
      )) as InstanceType<typeof Anthropic.APIError>;
      expect(err).toBeInstanceOf(cls);
      expect(err.type).toBe(type);
    }
    const team = await client('team-key').messages.create({ model: 'openai/gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: 'text' }] });
    expect(team.content[0]).toEqual({ type: 'text', text: 'Hello, wörld 🙂' });
  });

  it('count_tokens: exact from an Anthropic-type upstream, an estimate in the same shape otherwise', async () => {
    const params = { messages: [{ role: 'user' as const, content: 'How many tokens is this sentence of forty-four characters?' }], system: 'Be brief.' };
    const exact = await client().messages.countTokens({ model: models.anthropic as string, ...params });
    expect(exact).toEqual({ input_tokens: 1234 });
    const forwarded = upstreams.anthropic?.requests.at(-1) as RecordedRequest;
    expect(forwarded.url).toBe('/v1/messages/count_tokens');
    expect(forwarded.body).toEqual({ model: 'claude-sonnet-4-5', ...params });
    expect(forwarded.headers['x-api-key']).toBe('sk-ant');
    const estimate = await client().messages.countTokens({ model: models.openai as string, ...params });
    expect(estimate).toEqual({ input_tokens: Math.ceil(('Be brief.'.length + (params.messages[0]?.content.length ?? 0)) / 4) });
  });

  it('access log and metrics: api and provider recorded, usage from the upstream', async () => {
    await client().messages.create({ model: models.openai as string, max_tokens: 10, messages: [{ role: 'user', content: 'text' }] });
    await waitFor(() => accessLines(gateway).some((l) => l.api === '/v1/messages' && l.provider === 'openai'));
    const line = accessLines(gateway).filter((l) => l.api === '/v1/messages' && l.provider === 'openai').at(-1) as Record<string, unknown>;
    expect(line).toMatchObject({ model: 'claude-sonnet-4-5', status: 200, outcome: 'ok', prompt_tokens: 12, completion_tokens: 9 });
    const metrics = await bodyText(await fetch(`${gateway.url}/metrics`));
    expect(metrics).toMatch(/^sluice_requests_total\{route="claude-sonnet-4-5",provider="openai",status="200",stream="false",api="\/v1\/messages"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^sluice_requests_total\{route="claude-sonnet-4-5",provider="openai",status="200",stream="true",api="\/v1\/messages"\} [1-9]\d*$/m);
  });

  it('bad input: 400 in Anthropic shape naming the field, and the server keeps serving', async () => {
    const post = (body: string, path = '/v1/messages'): Promise<Response> =>
      fetch(`${gateway.url}${path}`, { method: 'POST', headers: { 'x-api-key': 'client-key', 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body });
    const cases: Array<[unknown, RegExp]> = [
      [{ model: models.openai, messages: [{ role: 'user', content: 'x' }] }, /^max_tokens: Field required$/],
      [{ model: models.openai, max_tokens: 10, messages: [] }, /^messages: must contain at least one message$/],
      [{ model: models.openai, max_tokens: 'ten', messages: [{ role: 'user', content: 'x' }] }, /^max_tokens: must be an integer$/],
      [{ model: 42, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, /^model: must be a string$/],
      [{ model: models.openai, max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: 7 }] }] }, /^messages\.0\.content\.0\.text: /],
      [{ model: models.openai, max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'hologram', data: 'x' }] }] }, /^messages\.0\.content\.0\.type: block type 'hologram' is not supported/],
      [{ model: models.openai, max_tokens: 10, messages: [{ role: 'robot', content: 'x' }] }, /^messages\.0\.role: /],
      [{ model: models.openai, max_tokens: 10, tools: [{ name: 'f', input_schema: 'object' }], messages: [{ role: 'user', content: 'x' }] }, /^tools\.0\.input_schema: /],
      [[1, 2, 3], /JSON object/],
    ];
    for (const [body, message] of cases) {
      for (const stream of [false, true]) {
        const sent = Array.isArray(body) ? body : { ...(body as object), stream };
        const response = await post(JSON.stringify(sent));
        expect(response.status, JSON.stringify(sent)).toBe(400);
        expect(response.headers.get('content-type')).toMatch(/^application\/json/);
        const error = (await response.json()) as { type: string; error: { type: string; message: string } };
        expect(error.type).toBe('error');
        expect(error.error.type).toBe('invalid_request_error');
        expect(error.error.message).toMatch(message);
      }
    }
    const malformed = await post('{"model": "x", "max_tokens": ');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    const unknown = await fetch(`${gateway.url}/v1/messages/batches`, { headers: { 'x-api-key': 'client-key' } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ type: 'error', error: { type: 'not_found_error', message: 'Unknown endpoint: GET /v1/messages/batches.' } });
    const noKey = await fetch(`${gateway.url}/v1/messages`, { method: 'POST', body: '{}' });
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as { error: { type: string; message: string } }).error).toEqual({ type: 'authentication_error', message: expect.stringContaining('x-api-key') });
    // The same server still answers.
    const after = await client().messages.create({ model: models.openai as string, max_tokens: 10, messages: [{ role: 'user', content: 'text' }] });
    expect(after.content).toEqual([{ type: 'text', text: 'Hello, wörld 🙂' }]);
  });
});
