import { describe, expect, it } from 'vitest';
import { synthesizeChunks } from '../../src/streaming/synthesize.js';
import type { ChatCompletion } from '../../src/core/types.js';

const completion: ChatCompletion = {
  id: 'chatcmpl-s',
  object: 'chat.completion',
  created: 42,
  model: 'm',
  system_fingerprint: 'fp',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Answer', refusal: null, reasoning_content: 'Think' }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
};

describe('synthesizeChunks', () => {
  it('emits role, reasoning, content, finish, then usage only when asked', () => {
    const chunks = synthesizeChunks(completion, { includeUsage: true });
    expect(chunks.map((c) => [c.choices[0]?.delta ?? null, c.choices[0]?.finish_reason ?? null, c.usage ?? null])).toEqual([
      [{ role: 'assistant', content: '', refusal: null }, null, null],
      [{ reasoning_content: 'Think' }, null, null],
      [{ content: 'Answer' }, null, null],
      [{}, 'stop', null],
      [null, null, { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }],
    ]);
    expect(chunks.every((c) => c.id === 'chatcmpl-s' && c.created === 42 && c.model === 'm' && c.system_fingerprint === 'fp' && c.object === 'chat.completion.chunk')).toBe(true);
    expect(synthesizeChunks(completion, { includeUsage: false }).some((c) => c.usage)).toBe(false);
  });

  it('opens a tool-call-only choice with content null and one delta per whole tool call', () => {
    const chunks = synthesizeChunks(
      {
        ...completion,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              refusal: null,
              tool_calls: [
                { id: 'a', type: 'function', function: { name: 'f', arguments: '{"x":1}' } },
                { id: 'b', type: 'function', function: { name: 'g', arguments: '{}' } },
              ],
            },
            logprobs: null,
            finish_reason: 'tool_calls',
          },
        ],
      },
      { includeUsage: false },
    );
    expect(chunks.map((c) => c.choices[0]?.delta)).toEqual([
      { role: 'assistant', content: null, refusal: null },
      { tool_calls: [{ index: 0, id: 'a', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }] },
      { tool_calls: [{ index: 1, id: 'b', type: 'function', function: { name: 'g', arguments: '{}' } }] },
      {},
    ]);
  });
});
