import { describe, expect, it } from 'vitest';
import { textCompletionAdapterFor, toChatChunk, toTextChunk, toTextCompletion, originalTextCompletion, type TextCompletion } from '../../src/providers/text-completions.js';

const chunk: TextCompletion = {
  id: 'cmpl-9',
  object: 'text_completion',
  created: 1,
  model: 'qwen',
  system_fingerprint: 'fp',
  choices: [{ text: ' hi', index: 0, logprobs: { tokens: [' hi'], token_logprobs: [-0.5], top_logprobs: null, text_offset: [0] }, finish_reason: null, stop_reason: null }],
};

describe('text completions carried as chat chunks', () => {
  it('a chunk survives the round trip with its unknown fields and legacy logprobs', () => {
    const chat = toChatChunk(chunk);
    expect(chat.object).toBe('chat.completion.chunk');
    expect(chat.choices[0]?.delta).toEqual({ content: ' hi' });
    expect(toTextChunk(chat)).toEqual(chunk);
    expect(Object.keys(toTextChunk(chat).choices[0] ?? {})).toEqual(['text', 'index', 'logprobs', 'finish_reason', 'stop_reason']);
  });

  it('an empty text is an empty delta (not substantive: commit waits for real text)', () => {
    expect(toChatChunk({ ...chunk, choices: [{ text: '', index: 0, logprobs: null, finish_reason: null }] }).choices[0]?.delta).toEqual({});
  });

  it('a whole upstream answer is kept for sending back as written; an aggregated one is rebuilt without logprobs', () => {
    const adapter = textCompletionAdapterFor('openai');
    const whole = { ...chunk, choices: [{ ...chunk.choices[0], finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } };
    const parsed = adapter?.parseResponse(whole);
    expect(parsed?.choices[0]?.message.content).toBe(' hi');
    expect(originalTextCompletion(parsed as NonNullable<typeof parsed>)).toBe(whole);
    expect(toTextCompletion(parsed as NonNullable<typeof parsed>)).toEqual({ id: 'cmpl-9', object: 'text_completion', created: 1, model: 'qwen', choices: [{ text: ' hi', index: 0, logprobs: null, finish_reason: 'stop' }], usage: whole.usage });
  });

  it('only OpenAI-compatible types have the API', () => {
    expect(['openai', 'azure', 'mock', 'anthropic', 'gemini'].map((t) => textCompletionAdapterFor(t as 'openai') !== undefined)).toEqual([true, true, true, false, false]);
  });
});
