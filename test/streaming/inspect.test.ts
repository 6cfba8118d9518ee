import { describe, expect, it } from 'vitest';
import type { ChunkEvent } from '../../src/providers/adapter.js';
import { isSubstantiveEvent } from '../../src/streaming/inspect.js';

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

  it('parses what the text cannot tell: a role chunk is not substantive, tool calls and a finish are', () => {
    const role = event({ role: 'assistant', content: '' });
    expect(isSubstantiveEvent(role)).toBe(false);
    expect(role.chunk?.choices[0]?.delta?.role).toBe('assistant');
    expect(isSubstantiveEvent(event({ role: 'assistant', content: null }))).toBe(false);
    expect(isSubstantiveEvent(event({ tool_calls: [{ index: 0, id: 't1', type: 'function', function: { name: 'f', arguments: '' } }] }))).toBe(true);
    expect(isSubstantiveEvent(event({}, 'stop'))).toBe(true);
    expect(isSubstantiveEvent(event({ reasoning_content: 'hm' }))).toBe(true);
  });

  it('is not fooled by a content key inside a string', () => {
    const e = event({ role: 'assistant', content: '' }, null, { system_fingerprint: '"content":"x"' });
    expect(isSubstantiveEvent(e)).toBe(false);
    expect(e.chunk).toBeDefined();
  });
});
