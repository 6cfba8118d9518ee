import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSubstantiveEvent } from '../../src/streaming/inspect.js';
import { openaiAdapter } from '../../src/providers/openai.js';
import type { ChunkScanner } from '../../src/core/chunk-scan.js';
import type { ChatCompletionChunk } from '../../src/core/types.js';
import type { ChunkEvent } from '../../src/core/events.js';

const text = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', ...extra, choices: [{ index: 0, delta, finish_reason: finish }] });

/** The chunk event the OpenAI adapter makes of a text (vouched for without a parse when the scanner can). */
function event(data: string, scanner: ChunkScanner = openaiAdapter.initStream()): ChunkEvent {
  const [only, ...rest] = openaiAdapter.parseEvent({ data }, scanner);
  expect(rest).toEqual([]);
  if (only?.type !== 'chunk') throw new Error(`not a chunk event: ${JSON.stringify(only)}`);
  return only;
}

describe('isSubstantiveEvent', () => {
  it('takes a chunk with content as substantive, parsed or vouched for by the scanner', () => {
    const scanner = openaiAdapter.initStream();
    const first = event(text({ content: 'Hello' }), scanner);
    expect(first.chunk).toBeDefined();
    expect(isSubstantiveEvent(first)).toBe(true);
    const second = event(text({ content: ' world' }), scanner);
    expect(second.chunk).toBeUndefined();
    expect(isSubstantiveEvent(second)).toBe(true);
    const empty = event(text({ content: '' }), scanner);
    expect(empty.chunk).toBeUndefined();
    expect(isSubstantiveEvent(empty)).toBe(false);
  });

  it('takes a bare role chunk as not substantive', () => {
    for (const delta of [{ role: 'assistant', content: '' }, { role: 'assistant' }, { role: 'assistant', content: null }, { role: 'assistant', content: '', refusal: null }]) {
      expect(isSubstantiveEvent(event(text(delta)))).toBe(false);
    }
  });

  it('takes a role chunk with more in it, tool calls, a finish, usage or reasoning as substantive', () => {
    expect(isSubstantiveEvent(event(text({ role: 'assistant', content: '' }, 'stop')))).toBe(true);
    expect(isSubstantiveEvent(event(text({ role: 'assistant', content: '' }, null, { usage: { prompt_tokens: 1, completion_tokens: 0, total_tokens: 1 } })))).toBe(true);
    expect(isSubstantiveEvent(event(text({ role: 'assistant', content: '', tool_calls: [{ index: 0, id: 't1', type: 'function', function: { name: 'f', arguments: '' } }] })))).toBe(true);
    expect(isSubstantiveEvent(event(text({ tool_calls: [{ index: 0, id: 't1', type: 'function', function: { name: 'f', arguments: '' } }] })))).toBe(true);
    expect(isSubstantiveEvent(event(text({}, 'stop')))).toBe(true);
    expect(isSubstantiveEvent(event(text({ reasoning_content: 'hm' })))).toBe(true);
  });

  it('is not fooled by a content key inside a string', () => {
    expect(isSubstantiveEvent(event(text({ content: '' }, null, { system_fingerprint: '"content":"x"' })))).toBe(false);
  });

  it('agrees with the parsed chunk on any mix of deltas, finishes, usage and decoy strings, one after another on one stream', () => {
    const delta = fc.constantFrom<Record<string, unknown>>(
      {},
      { role: 'assistant' },
      { role: 'assistant', content: '' },
      { role: 'assistant', content: null },
      { role: 'assistant', content: '', refusal: null },
      { role: 'assistant', content: 'Hi' },
      { content: 'x' },
      { content: '' },
      { content: 'y' },
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
      fc.property(fc.array(chunk, { minLength: 1, maxLength: 8 }), (chunks) => {
        const scanner = openaiAdapter.initStream();
        for (const c of chunks) {
          const data = JSON.stringify({ id: 'c', object: 'chat.completion.chunk', ...c, choices: c.choices.map((choice, index) => ({ index, ...choice })) });
          const parsed: ChunkEvent = { type: 'chunk', chunk: JSON.parse(data) as ChatCompletionChunk };
          expect(isSubstantiveEvent(event(data, scanner))).toBe(isSubstantiveEvent(parsed));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
