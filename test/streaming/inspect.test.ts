import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSubstantiveEvent } from '../../src/streaming/inspect.js';
import type { ChatCompletionChunk } from '../../src/core/types.js';
import type { ChunkEvent } from '../../src/core/events.js';

const event = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}): ChunkEvent => ({
  type: 'chunk',
  text: JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', ...extra, choices: [{ index: 0, delta, finish_reason: finish }] }),
});

describe('isSubstantiveEvent', () => {
  it('takes a chunk whose text carries content as substantive without parsing it', () => {
    const e = event({ content: 'Hello' });
    expect(isSubstantiveEvent(e)).toBe(true);
    expect(e.chunk).toBeUndefined();
  });

  it('takes a bare role chunk as not substantive without parsing it', () => {
    for (const delta of [{ role: 'assistant', content: '' }, { role: 'assistant' }, { role: 'assistant', content: null }, { role: 'assistant', content: '', refusal: null }]) {
      const role = event(delta);
      expect(isSubstantiveEvent(role)).toBe(false);
      expect(role.chunk).toBeUndefined();
    }
  });

  it('parses what the text cannot tell: a role chunk with more in it, tool calls, a finish', () => {
    const withFinish = event({ role: 'assistant', content: '' }, 'stop');
    expect(isSubstantiveEvent(withFinish)).toBe(true);
    expect(withFinish.chunk).toBeDefined();
    expect(isSubstantiveEvent(event({ role: 'assistant', content: '' }, null, { usage: { prompt_tokens: 1, completion_tokens: 0, total_tokens: 1 } }))).toBe(true);
    expect(isSubstantiveEvent(event({ role: 'assistant', content: '', tool_calls: [{ index: 0, id: 't1', type: 'function', function: { name: 'f', arguments: '' } }] }))).toBe(true);
    expect(isSubstantiveEvent(event({ tool_calls: [{ index: 0, id: 't1', type: 'function', function: { name: 'f', arguments: '' } }] }))).toBe(true);
    expect(isSubstantiveEvent(event({}, 'stop'))).toBe(true);
    expect(isSubstantiveEvent(event({ reasoning_content: 'hm' }))).toBe(true);
  });

  it('is not fooled by a content key inside a string', () => {
    const e = event({ content: '' }, null, { system_fingerprint: '"content":"x"' });
    expect(isSubstantiveEvent(e)).toBe(false);
    expect(e.chunk).toBeDefined();
  });

  it('agrees with the parsed chunk on any mix of deltas, finishes, usage and decoy strings', () => {
    const delta = fc.constantFrom<Record<string, unknown>>(
      {},
      { role: 'assistant' },
      { role: 'assistant', content: '' },
      { role: 'assistant', content: null },
      { role: 'assistant', content: '', refusal: null },
      { role: 'assistant', content: 'Hi' },
      { content: 'x' },
      { role: 'assistant', content: '', tool_calls: [] },
      { role: 'assistant', tool_calls: [{ index: 0, id: 't', type: 'function', function: { name: 'f', arguments: '' } }] },
      { reasoning_content: 'hm' },
      { role: 'assistant', refusal: 'no' },
      { role: 'user', content: '' },
    );
    const decoy = fc.constantFrom('', '"delta":{"role":"assistant"}', '"usage":{"a":1}', '"finish_reason":"stop"', 'delta":{"role":"assistant","content":""}');
    const chunk = fc.record({
      choices: fc.array(fc.record({ delta, finish_reason: fc.constantFrom(null, 'stop', undefined) }), { minLength: 0, maxLength: 2 }),
      usage: fc.constantFrom(undefined, null, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }),
      system_fingerprint: decoy,
    });
    fc.assert(
      fc.property(chunk, (c) => {
        const value = { id: 'c', object: 'chat.completion.chunk', ...c, choices: c.choices.map((choice, index) => ({ index, ...choice })) };
        const text = JSON.stringify(value);
        const parsed: ChunkEvent = { type: 'chunk', chunk: JSON.parse(text) as ChatCompletionChunk };
        expect(isSubstantiveEvent({ type: 'chunk', text })).toBe(isSubstantiveEvent(parsed));
      }),
      { numRuns: 2000 },
    );
  });
});
