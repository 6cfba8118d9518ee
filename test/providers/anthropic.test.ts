import { describe, expect, it } from 'vitest';
import type { ProviderConfig } from '../../src/config/schema.js';
import { parseConfigText } from '../../src/config/load.js';
import { anthropicAdapter } from '../../src/providers/anthropic/index.js';
import { aggregateEvents, chunksOf, fixture, parseSplit } from '../helpers/sse-feed.js';

const provider: ProviderConfig = parseConfigText('providers:\n  - {name: anthropic, type: anthropic, base_url: "https://api.anthropic.com/v1", headers: {x-team: t}}\n', {}).providers[0]!;

function build(request: Record<string, unknown>, stream = false): Record<string, unknown> {
  const built = anthropicAdapter.buildRequest({ model: 'anthropic/claude', messages: [], ...request } as never, { provider, upstreamModel: 'claude-sonnet-4-5', stream, apiKey: 'sk-ant' });
  return { ...built, body: JSON.parse(built.body ?? '{}') };
}

describe('anthropic adapter: requests', () => {
  it('posts to /messages with x-api-key, anthropic-version and the provider headers', () => {
    const built = build({ messages: [{ role: 'user', content: 'hi' }] }, true);
    expect(built.url).toBe('https://api.anthropic.com/v1/messages');
    expect(built.headers).toMatchObject({ 'x-api-key': 'sk-ant', 'anthropic-version': '2023-06-01', 'x-team': 't' });
    expect(built.body).toEqual({ model: 'claude-sonnet-4-5', stream: true, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], max_tokens: 4096 });
  });

  it('maps system/developer, images, tool calls, merged tool results, tools, tool_choice, stop, sampling', () => {
    const { body } = build({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Use tools.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }, { type: 'image_url', image_url: { url: 'https://x.test/a.jpg' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }, { id: 'c2', type: 'function', function: { name: 'g', arguments: '' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'one' },
        { role: 'tool', tool_call_id: 'c2', content: [{ type: 'text', text: 'two' }] },
      ],
      tools: [{ type: 'function', function: { name: 'f', description: 'does f', parameters: { type: 'object', properties: { a: { type: 'number' } } } } }, { type: 'function', function: { name: 'g' } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
      stop: 'END',
      temperature: 0.2,
      top_p: 0.9,
      top_k: 20,
      max_tokens: 100,
      stream_options: { include_usage: true },
      n: 1,
    });
    expect(body).toEqual({
      model: 'claude-sonnet-4-5',
      stream: false,
      system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Use tools.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }, { type: 'image', source: { type: 'url', url: 'https://x.test/a.jpg' } }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'c1', name: 'f', input: { a: 1 } }, { type: 'tool_use', id: 'c2', name: 'g', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c1', content: 'one' }, { type: 'tool_result', tool_use_id: 'c2', content: 'two' }] },
      ],
      max_tokens: 100,
      stop_sequences: ['END'],
      temperature: 0.2,
      top_p: 0.9,
      top_k: 20,
      tools: [
        { name: 'f', description: 'does f', input_schema: { type: 'object', properties: { a: { type: 'number' } } } },
        { name: 'g', input_schema: { type: 'object', properties: {} } },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
  });

  it('maps tool_choice variants and reasoning effort to extended thinking', () => {
    expect(build({ tool_choice: 'auto' }).body).toMatchObject({ tool_choice: { type: 'auto' } });
    expect(build({ tool_choice: 'none' }).body).toMatchObject({ tool_choice: { type: 'none' } });
    expect(build({ tool_choice: { type: 'function', function: { name: 'f' } } }).body).toMatchObject({ tool_choice: { type: 'tool', name: 'f' } });
    expect(build({ reasoning_effort: 'high', max_completion_tokens: 1000 }).body).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 16384 }, max_tokens: 16384 + 4096 });
    expect(build({ thinking: { type: 'enabled', budget_tokens: 2000 }, max_tokens: 5000 }).body).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 2000 }, max_tokens: 5000 });
  });
});

describe('anthropic adapter: streams (fixtures in random splits)', () => {
  const seeds = [1, 2, 3, 42, 1337];

  it.each(seeds)('text with cache usage (seed %i)', async (seed) => {
    const events = await parseSplit(anthropicAdapter, fixture('anthropic/text.sse'), seed);
    expect(events.at(-1)).toEqual({ type: 'done' });
    const chunks = chunksOf(events);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(new Set(chunks.map((c) => c.id))).toEqual(new Set(['msg_text']));
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29, prompt_tokens_details: { cached_tokens: 5 } } });
    const completion = aggregateEvents(events);
    expect(completion.choices[0]).toMatchObject({ message: { content: 'Hello, wörld 🙂' }, finish_reason: 'stop' });
    expect(completion.model).toBe('claude-sonnet-4-5');
  });

  it.each(seeds)('tool use with streamed JSON arguments (seed %i)', async (seed) => {
    const events = await parseSplit(anthropicAdapter, fixture('anthropic/tool-use.sse'), seed);
    const toolDeltas = chunksOf(events).flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(toolDeltas[0]).toEqual({ index: 0, id: 'toolu_01', type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(toolDeltas.slice(1).every((d) => d.id === undefined && d.index === 0)).toBe(true);
    const completion = aggregateEvents(events);
    expect(completion.choices[0]).toMatchObject({
      message: { content: 'Let me check.', tool_calls: [{ id: 'toolu_01', type: 'function', function: { name: 'get_weather', arguments: '{"location": "San Francisco, CA"}' } }] },
      finish_reason: 'tool_calls',
    });
  });

  it('thinking becomes reasoning_content; max_tokens becomes length', async () => {
    const completion = aggregateEvents(await parseSplit(anthropicAdapter, fixture('anthropic/thinking-text.sse'), 7));
    expect(completion.choices[0]).toMatchObject({ message: { reasoning_content: 'Step one. Step two.', content: 'The answer is 4.' }, finish_reason: 'length' });
  });

  it('parallel tool_use blocks get ordinal indexes 0 and 1', async () => {
    const completion = aggregateEvents(await parseSplit(anthropicAdapter, fixture('anthropic/tools-parallel.sse'), 9));
    expect(completion.choices[0]?.message.tool_calls).toEqual([
      { id: 'toolu_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
      { id: 'toolu_b', type: 'function', function: { name: 'time', arguments: '{"tz":"UTC"}' } },
    ]);
  });

  it('an error event becomes a retryable error with the OpenAI type', async () => {
    const events = await parseSplit(anthropicAdapter, fixture('anthropic/error-mid-stream.sse'), 3);
    const last = events.at(-1);
    expect(last?.type).toBe('error');
    if (last?.type !== 'error') return;
    expect(last.error.toBody()).toEqual({ error: { message: 'Overloaded', type: 'server_error', param: null, code: 'overloaded_error' } });
    expect(last.error.retryable).toBe(true);
  });
});

describe('anthropic adapter: responses and errors', () => {
  it('translates a whole message', () => {
    const completion = anthropicAdapter.parseResponse({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [
        { type: 'thinking', thinking: 'hmm', signature: 's' },
        { type: 'text', text: 'Calling.' },
        { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } },
      ],
      stop_reason: 'tool_use',
      usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 2 },
    });
    expect(completion).toMatchObject({
      id: 'msg_1',
      object: 'chat.completion',
      model: 'claude-sonnet-4-5',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Calling.', refusal: null, reasoning_content: 'hmm', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, logprobs: null, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17, prompt_tokens_details: { cached_tokens: 2 } },
    });
  });

  it('maps error bodies; 529 overloaded becomes a retryable 503', () => {
    const overloaded = anthropicAdapter.parseError(529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}');
    expect(overloaded.status).toBe(503);
    expect(overloaded.retryable).toBe(true);
    expect(overloaded.toBody()).toEqual({ error: { message: 'Overloaded', type: 'server_error', param: null, code: 'overloaded_error' } });
    const limited = anthropicAdapter.parseError(429, '{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}');
    expect(limited.toBody().error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_error' });
    const bad = anthropicAdapter.parseError(400, '{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}');
    expect(bad.retryable).toBe(false);
    expect(bad.toBody().error.type).toBe('invalid_request_error');
  });
});

describe('anthropic adapter: malformed events', () => {
  it('an event whose data is not a JSON object is an error, not a crash', () => {
    for (const data of ['null', '42', '{not json']) {
      const events = anthropicAdapter.parseEvent({ event: 'content_block_delta', data }, anthropicAdapter.initStream());
      expect(events).toMatchObject([{ type: 'error', error: { code: 'SLUICE_ERR_UPSTREAM_INVALID', status: 502 } }]);
    }
  });
});
