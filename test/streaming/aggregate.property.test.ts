import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openaiAdapter } from '../../src/providers/openai.js';
import { aggregate, Aggregator } from '../../src/streaming/aggregate.js';
import { synthesizeChunks } from '../../src/streaming/synthesize.js';
import type { AssistantMessage, ChatCompletion, ChatCompletionChunk, ChunkChoice, CompletionChoice } from '../../src/core/types.js';

const text = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' });

const toolCall = fc.record({
  id: fc.stringMatching(/^call_[a-z0-9]{1,8}$/),
  name: fc.stringMatching(/^[a-z_]{1,12}$/),
  arguments: fc.json(),
});

/** A choice in the canonical shape the aggregator emits. */
const choiceArb = fc
  .record({
    content: fc.option(text, { nil: null }),
    refusal: fc.option(text, { nil: null }),
    reasoning: fc.option(text, { nil: undefined }),
    tools: fc.array(toolCall, { maxLength: 3 }),
    finish: fc.constantFrom('stop', 'length', 'content_filter'),
  })
  .map(({ content, refusal, reasoning, tools, finish }) => {
    const message: AssistantMessage = { role: 'assistant', content, refusal };
    if (reasoning !== undefined) message.reasoning_content = reasoning;
    if (tools.length > 0) message.tool_calls = tools.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }));
    return { message, finish: tools.length > 0 && finish === 'stop' ? 'tool_calls' : finish };
  });

const completionArb = fc
  .record({
    choices: fc.array(choiceArb, { minLength: 1, maxLength: 3 }),
    usage: fc.option(fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat() }), { nil: undefined }),
  })
  .map(({ choices, usage }): ChatCompletion => {
    const completion: ChatCompletion = {
      id: 'chatcmpl-prop',
      object: 'chat.completion',
      created: 1700000000,
      model: 'prop-model',
      choices: choices.map((ch, index): CompletionChoice => ({ index, message: ch.message, logprobs: null, finish_reason: ch.finish })),
    };
    if (usage) completion.usage = { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
    return completion;
  });

/** Splits every text delta at arbitrary points: the same stream, chunked differently. */
function rechunk(chunks: ChatCompletionChunk[], cuts: number[]): ChatCompletionChunk[] {
  let k = 0;
  const split = (s: string): string[] => {
    const cut = cuts.length === 0 ? 0 : (cuts[k++ % cuts.length] as number) % (s.length + 1);
    return cut === 0 || cut === s.length ? [s] : [s.slice(0, cut), s.slice(cut)];
  };
  const out: ChatCompletionChunk[] = [];
  for (const chunk of chunks) {
    const choice = chunk.choices[0];
    if (choice === undefined) {
      out.push(chunk);
      continue;
    }
    const delta = choice.delta;
    const field = (['content', 'reasoning_content', 'refusal'] as const).find((f) => typeof delta[f] === 'string' && (delta[f] as string).length > 1);
    const call = delta.tool_calls?.[0];
    if (field !== undefined && Object.keys(delta).length === 1) {
      for (const piece of split(delta[field] as string)) out.push({ ...chunk, choices: [{ ...choice, delta: { [field]: piece } }] });
    } else if (call?.function?.arguments && call.function.arguments.length > 1) {
      const [first, ...rest] = split(call.function.arguments);
      out.push({ ...chunk, choices: [{ ...choice, delta: { tool_calls: [{ ...call, function: { ...call.function, arguments: first ?? '' } }] } }] });
      for (const piece of rest) out.push({ ...chunk, choices: [{ ...choice, delta: { tool_calls: [{ index: call.index, function: { arguments: piece } }] } }] });
    } else out.push(chunk);
  }
  return out;
}

/** Interleaves the per-choice chunk sequences in an arbitrary order, keeping each choice's own order. */
function interleave(chunks: ChatCompletionChunk[], picks: number[]): ChatCompletionChunk[] {
  const queues = new Map<number, ChatCompletionChunk[]>();
  const tail: ChatCompletionChunk[] = [];
  for (const chunk of chunks) {
    const index = (chunk.choices[0] as ChunkChoice | undefined)?.index;
    if (index === undefined) tail.push(chunk);
    else queues.set(index, [...(queues.get(index) ?? []), chunk]);
  }
  const out: ChatCompletionChunk[] = [];
  let p = 0;
  while ([...queues.values()].some((q) => q.length > 0)) {
    const live = [...queues.values()].filter((q) => q.length > 0);
    const queue = live[(picks[p++ % Math.max(picks.length, 1)] ?? 0) % live.length] as ChatCompletionChunk[];
    out.push(queue.shift() as ChatCompletionChunk);
  }
  return [...out, ...tail];
}

describe('aggregate and synthesize, as properties', () => {
  it('aggregate(synthesize(c)) equals c', () => {
    fc.assert(
      fc.property(completionArb, (completion) => {
        expect(aggregate(synthesizeChunks(completion, { includeUsage: true }))).toEqual(completion);
      }),
      { numRuns: 300 },
    );
  });

  it('aggregate is unchanged by any re-chunking of the text deltas and any interleaving of choices', () => {
    fc.assert(
      fc.property(completionArb, fc.array(fc.nat(), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 20 }), (completion, cuts, picks) => {
        const chunks = synthesizeChunks(completion, { includeUsage: true });
        expect(aggregate(interleave(rechunk(chunks, cuts), picks))).toEqual(completion);
      }),
      { numRuns: 300 },
    );
  });

  it('reading chunks as the OpenAI adapter does (chunks its scanner vouches for unparsed) aggregates exactly as parsing every one', () => {
    const piece = fc.oneof(text, fc.constantFrom('"', '\\', '\\"', '\n', '\u0001', 'é', '"content":"x', ''));
    fc.assert(
      fc.property(completionArb, fc.array(fc.nat(), { maxLength: 20 }), fc.array(piece, { maxLength: 8 }), fc.boolean(), (completion, cuts, extra, spaced) => {
        const chunks = rechunk(synthesizeChunks(completion, { includeUsage: true }), cuts);
        // More content chunks of one shape, with awkward strings, before the finish chunks.
        const first = chunks[1] ?? chunks[0];
        const more = first === undefined ? [] : extra.map((content) => ({ ...first, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] }));
        const all = [...chunks.slice(0, 2), ...more, ...chunks.slice(2)];
        const aggregator = new Aggregator();
        const scanner = openaiAdapter.initStream();
        for (const chunk of all) {
          const json = spaced ? JSON.stringify(chunk, null, 1).replaceAll('\n', '') : JSON.stringify(chunk);
          for (const event of openaiAdapter.parseEvent({ data: json }, scanner)) {
            if (event.type !== 'chunk') throw new Error(`unexpected ${event.type} event`);
            if (event.chunk === undefined) aggregator.addContent(event.index, event.content);
            else aggregator.add(event.chunk);
          }
        }
        expect(aggregator.result()).toEqual(aggregate(all));
      }),
      { numRuns: 300 },
    );
  });

  it('synthesized streams carry one id/created/model and put usage only on a choices: [] chunk when asked', () => {
    fc.assert(
      fc.property(completionArb, fc.boolean(), (completion, includeUsage) => {
        const chunks = synthesizeChunks(completion, { includeUsage });
        expect(new Set(chunks.map((ch) => `${ch.id}|${ch.created}|${ch.model}|${ch.object}`)).size).toBe(1);
        const withUsage = chunks.filter((ch) => ch.usage);
        expect(withUsage).toHaveLength(includeUsage && completion.usage ? 1 : 0);
        for (const ch of withUsage) expect(ch.choices).toEqual([]);
      }),
    );
  });
});
