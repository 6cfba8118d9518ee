import { describe, expect, it } from 'vitest';
import { aggregate, Aggregator } from '../../src/streaming/aggregate.js';
import type { ChatCompletionChunk, ChunkChoice, ChunkDelta } from '../../src/core/types.js';

function c(choices: Array<Partial<ChunkChoice> & { delta?: ChunkDelta }>, extra: Partial<ChatCompletionChunk> = {}): ChatCompletionChunk {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1700000000,
    model: 'gpt-x',
    choices: choices.map((ch) => ({ index: 0, delta: {}, finish_reason: null, ...ch })),
    ...extra,
  };
}

const d = (delta: ChunkDelta, finish: string | null = null, index = 0): Partial<ChunkChoice> => ({ index, delta, finish_reason: finish });

describe('aggregate: top level', () => {
  it('takes id, created, model, system_fingerprint, service_tier; empty values never overwrite; obfuscation dropped', () => {
    const azureOpening: ChatCompletionChunk = { id: '', object: '' as 'chat.completion.chunk', created: 0, model: '', choices: [], prompt_filter_results: [{ prompt_index: 0 }] };
    const result = aggregate([
      azureOpening,
      c([d({ role: 'assistant', content: '' })], { system_fingerprint: 'fp_1', service_tier: 'default', obfuscation: 'xyz' }),
      c([d({ content: 'hi' }, 'stop')], { id: '', model: '', created: 0, system_fingerprint: null, obfuscation: 'abc' }),
    ]);
    expect(result).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1700000000,
      model: 'gpt-x',
      system_fingerprint: 'fp_1',
      service_tier: 'default',
      prompt_filter_results: [{ prompt_index: 0 }],
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    });
    expect(result).not.toHaveProperty('obfuscation');
  });

  it('keeps usage from the usage chunk with nested details', () => {
    const usage = { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30, prompt_tokens_details: { cached_tokens: 4, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 12, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } };
    const result = aggregate([c([d({ content: 'a' }, 'stop')], { usage: null }), c([], { usage })]);
    expect(result.usage).toEqual(usage);
    expect(aggregate([c([d({ content: 'a' }, 'stop')])])).not.toHaveProperty('usage');
  });
});

describe('aggregate: choices', () => {
  it('concatenates content; null when only the opening "" came; refusal likewise; role defaults to assistant', () => {
    expect(aggregate([c([d({ role: 'assistant', content: '' })]), c([d({}, 'stop')])]).choices[0]?.message).toEqual({ role: 'assistant', content: null, refusal: null });
    expect(aggregate([c([d({ content: 'Hel' })]), c([d({ content: 'lo' })]), c([d({}, 'stop')])]).choices[0]?.message.content).toBe('Hello');
    expect(aggregate([c([d({ refusal: "I can't" })]), c([d({ refusal: ' help.' }, 'stop')])]).choices[0]?.message).toEqual({ role: 'assistant', content: null, refusal: "I can't help." });
  });

  it('keeps every reasoning fragment under the upstream field name, then content', () => {
    const result = aggregate([
      c([d({ role: 'assistant', content: '' })]),
      c([d({ reasoning_content: 'First, ' })]),
      c([d({ reasoning_content: 'second, ' })]),
      c([d({ reasoning_content: 'third.' })]),
      c([d({ content: 'Answer.' }, 'stop')]),
    ]);
    expect(result.choices[0]?.message).toEqual({ role: 'assistant', content: 'Answer.', refusal: null, reasoning_content: 'First, second, third.' });
    expect(aggregate([c([d({ reasoning: 'a' })]), c([d({ reasoning: 'b' }, 'stop')])]).choices[0]?.message.reasoning).toBe('ab');
  });

  it('appends array extensions, concatenates unknown strings, last-wins other unknown fields', () => {
    const result = aggregate([
      c([d({ reasoning_details: [{ type: 'reasoning.text', text: 'a' }], annotations_text: 'x', audio: { id: 1 } })]),
      c([d({ reasoning_details: [{ type: 'reasoning.text', text: 'b' }], annotations_text: 'y', audio: { id: 2 } }, 'stop')]),
    ]);
    expect(result.choices[0]?.message).toMatchObject({
      reasoning_details: [{ type: 'reasoning.text', text: 'a' }, { type: 'reasoning.text', text: 'b' }],
      annotations_text: 'xy',
      audio: { id: 2 },
    });
  });

  it('keys choices by index when n > 1 chunks interleave', () => {
    const result = aggregate([
      c([d({ role: 'assistant', content: '' }, null, 1)]),
      c([d({ role: 'assistant', content: '' }, null, 0)]),
      c([d({ content: 'B1' }, null, 1)]),
      c([d({ content: 'A1' }, null, 0)]),
      c([d({ content: 'B2' }, 'length', 1)]),
      c([d({ content: 'A2' }, 'stop', 0)]),
    ]);
    expect(result.choices.map((ch) => [ch.index, ch.message.content, ch.finish_reason])).toEqual([
      [0, 'A1A2', 'stop'],
      [1, 'B1B2', 'length'],
    ]);
  });

  it('concatenates logprobs.content and logprobs.refusal; null when none came', () => {
    const result = aggregate([
      c([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: { content: [], refusal: null }, finish_reason: null }]),
      c([{ index: 0, delta: { content: 'a' }, logprobs: { content: [{ token: 'a', logprob: -0.1 }], refusal: null }, finish_reason: null }]),
      c([{ index: 0, delta: { content: 'b' }, logprobs: { content: [{ token: 'b', logprob: -0.2 }], refusal: null }, finish_reason: 'stop' }]),
    ]);
    expect(result.choices[0]?.logprobs).toEqual({ content: [{ token: 'a', logprob: -0.1 }, { token: 'b', logprob: -0.2 }], refusal: null });
    expect(aggregate([c([d({ content: 'x' }, 'stop')])]).choices[0]?.logprobs).toBeNull();
  });
});

describe('aggregate: tool calls and finish_reason', () => {
  const start = (index: number, id: string, name: string): ChunkDelta => ({ tool_calls: [{ index, id, type: 'function', function: { name, arguments: '' } }] });
  const args = (index: number, text: string): ChunkDelta => ({ tool_calls: [{ index, function: { arguments: text } }] });

  it('builds interleaved parallel tool calls by index; id/type/name from the first delta', () => {
    const result = aggregate([
      c([d({ role: 'assistant', content: null })]),
      c([d(start(1, 'call_b', 'time'))]),
      c([d(start(0, 'call_a', 'weather'))]),
      c([d(args(0, '{"ci'))]),
      c([d(args(1, '{}'))]),
      c([d({ tool_calls: [{ index: 0, id: 'call_ignored', function: { name: 'ignored', arguments: 'ty":"Oslo"}' } }] })]),
      c([d({}, 'tool_calls')]),
    ]);
    expect(result.choices[0]?.message.tool_calls).toEqual([
      { id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
      { id: 'call_b', type: 'function', function: { name: 'time', arguments: '{}' } },
    ]);
    expect(result.choices[0]?.message.content).toBeNull();
  });

  it('a tool-call-only stream with no finish_reason ends as "tool_calls"; "stop" with tool calls is normalised', () => {
    expect(aggregate([c([d(start(0, 'call_1', 'f'))]), c([d(args(0, '{}'))])]).choices[0]?.finish_reason).toBe('tool_calls');
    expect(aggregate([c([d(start(0, 'call_1', 'f'))]), c([d({}, 'stop')])]).choices[0]?.finish_reason).toBe('tool_calls');
    expect(aggregate([c([d({ content: 'x' })])]).choices[0]?.finish_reason).toBe('stop');
    expect(aggregate([c([d({ content: 'x' }, 'length')])]).choices[0]?.finish_reason).toBe('length');
  });

  it('builds a legacy function_call and finishes it as "function_call"', () => {
    const result = aggregate([c([d({ function_call: { name: 'f', arguments: '{"a"' } })]), c([d({ function_call: { arguments: ':1}' } })])]);
    expect(result.choices[0]?.message.function_call).toEqual({ name: 'f', arguments: '{"a":1}' });
    expect(result.choices[0]?.finish_reason).toBe('function_call');
  });

  it('takes the last non-null finish_reason', () => {
    expect(aggregate([c([d({ content: 'x' }, 'length')]), c([d({}, null)])]).choices[0]?.finish_reason).toBe('length');
  });
});

describe('Aggregator.allChoicesFinished', () => {
  it('is true only once every choice seen had a finish_reason', () => {
    const agg = new Aggregator();
    expect(agg.allChoicesFinished).toBe(false);
    agg.add(c([d({ content: 'a' }, null, 0), d({ content: 'b' }, null, 1)]));
    agg.add(c([d({}, 'stop', 0)]));
    expect(agg.allChoicesFinished).toBe(false);
    agg.add(c([d({}, 'stop', 1)]));
    expect(agg.allChoicesFinished).toBe(true);
  });
});

describe('aggregate: cost', () => {
  it('aggregates 100,000 one-character chunks linearly (completes; timing is in the benchmark)', () => {
    const chunks: ChatCompletionChunk[] = [];
    for (let i = 0; i < 100_000; i++) chunks.push(c([d({ content: 'x', reasoning_content: 'y' })]));
    chunks.push(c([d({}, 'stop')]));
    const result = aggregate(chunks);
    expect(result.choices[0]?.message.content).toHaveLength(100_000);
    expect(result.choices[0]?.message.reasoning_content).toHaveLength(100_000);
  });
});
