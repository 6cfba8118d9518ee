import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { upstreamErrorEvent, upstreamTimeout } from '../../../src/core/errors.js';
import { completionToMessage, type AnswerOptions } from '../../../src/fronts/messages/message.js';
import { MessagesSink } from '../../../src/fronts/messages/stream.js';
import { SseWriter } from '../../../src/streaming/sse-writer.js';
import { Aggregator } from '../../../src/streaming/aggregate.js';
import type { ChatCompletionChunk, ChunkDelta, Usage } from '../../../src/core/types.js';
import { parseEvents, validateSequence } from './sequence.js';

/** Just enough of a ServerResponse to capture what the sink writes. */
class CapturedResponse {
  text = '';
  status = 0;
  destroyed = false;
  writableEnded = false;
  writeHead(status: number): this {
    this.status = status;
    return this;
  }
  write(s: string): boolean {
    this.text += s;
    return true;
  }
  end(s = ''): void {
    this.text += s;
    this.writableEnded = true;
  }
  on(): this {
    return this;
  }
  off(): this {
    return this;
  }
}

const options: AnswerOptions = {
  model: 'claude-sonnet-4-5',
  showThinking: true,
  stopSequences: ['###'],
  estimate: (chars) => ({ prompt_tokens: 10, completion_tokens: Math.ceil(chars / 4), total_tokens: 10 + Math.ceil(chars / 4) }),
};

const USAGE: Usage = { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42, prompt_tokens_details: { cached_tokens: 20 } };

type Step = ChunkDelta | { finish: string; stop_reason?: string } | { usage: Usage };

function chunkOf(step: Step): ChatCompletionChunk {
  if ('usage' in step && step.usage !== undefined && typeof step.usage === 'object') return { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [], usage: step.usage as Usage };
  if ('finish' in step) {
    const choice = { index: 0, delta: {}, finish_reason: step.finish as string, ...(step.stop_reason === undefined ? {} : { stop_reason: step.stop_reason }) };
    return { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [choice] };
  }
  return { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [{ index: 0, delta: step as ChunkDelta, finish_reason: null }] };
}

function run(steps: Step[], opts: Partial<AnswerOptions> = {}, end: 'end' | 'fail' = 'end'): { text: string; events: ReturnType<typeof parseEvents>; message: Record<string, unknown>; record: { usage?: Usage; completionChars: number } } {
  const res = new CapturedResponse();
  const record: { usage?: Usage; completionChars: number } = { completionChars: 0 };
  const sink = new MessagesSink(new SseWriter(res as unknown as ServerResponse, () => ({ 'x-request-id': 'r' })), { ...options, ...opts }, record);
  for (const step of steps) void sink.write([{ type: 'chunk', chunk: chunkOf(step) }]);
  if (end === 'fail') sink.fail(upstreamErrorEvent('GPU fell over', 'server_error', 'upstream_error'));
  else sink.end();
  expect(res.status).toBe(200);
  expect(res.writableEnded).toBe(true);
  const events = parseEvents(res.text);
  return { text: res.text, events, message: validateSequence(events), record };
}

/** The same steps aggregated into one completion and built into a message, as a non-stream client gets it. */
function whole(steps: Step[], opts: Partial<AnswerOptions> = {}): Record<string, unknown> {
  const aggregator = new Aggregator();
  for (const step of steps) aggregator.add(chunkOf(step));
  return completionToMessage(aggregator.result(), { ...options, ...opts });
}

const names = (events: Array<{ event: string }>): string[] => events.map((e) => e.event);
const withoutId = ({ id: _id, ...rest }: Record<string, unknown>): Record<string, unknown> => rest;

describe('Messages stream sink', () => {
  it('text: the exact event sequence, usage in message_delta, stop end_turn', () => {
    const steps: Step[] = [{ role: 'assistant', content: '' }, { content: 'Hel' }, { content: 'lo' }, { finish: 'stop' }, { usage: USAGE }];
    const { text, events, message, record } = run(steps);
    expect(names(events)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(text.startsWith('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_')).toBe(true);
    expect(events[0]?.data.message).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null, stop_sequence: null });
    expect(events[1]?.data).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    expect(events[2]?.data).toEqual({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } });
    expect(events[5]?.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null, stop_details: null },
      usage: { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 20, output_tokens: 12 },
    });
    expect(message.content).toEqual([{ type: 'text', text: 'Hello' }]);
    expect(record.usage).toEqual(USAGE);
    expect(withoutId(message)).toEqual(withoutId(whole(steps)));
  });

  it('reasoning is a thinking block before the text; display omitted sends none', () => {
    const steps: Step[] = [{ role: 'assistant', content: '' }, { reasoning_content: 'Think ' }, { reasoning_content: 'hard.' }, { content: '4' }, { finish: 'stop' }, { usage: USAGE }];
    const { events, message } = run(steps);
    expect(names(events).slice(0, 5)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop']);
    expect(events[1]?.data.content_block).toEqual({ type: 'thinking', thinking: '', signature: '' });
    expect(events[2]?.data.delta).toEqual({ type: 'thinking_delta', thinking: 'Think ' });
    expect(message.content).toEqual([
      { type: 'thinking', thinking: 'Think hard.', signature: '' },
      { type: 'text', text: '4' },
    ]);
    expect(withoutId(message)).toEqual(withoutId(whole(steps)));
    // vLLM's `reasoning` field is reasoning too.
    expect(run([{ reasoning: 'r' }, { content: 'x' }, { finish: 'stop' }]).message.content).toEqual([
      { type: 'thinking', thinking: 'r', signature: '' },
      { type: 'text', text: 'x' },
    ]);
    const omitted = run(steps, { showThinking: false });
    expect(omitted.message.content).toEqual([{ type: 'text', text: '4' }]);
    expect(withoutId(omitted.message)).toEqual(withoutId(whole(steps, { showThinking: false })));
  });

  it('parallel tool calls: one tool_use block each, arguments as input_json_delta, stop tool_use', () => {
    const steps: Step[] = [
      { role: 'assistant', content: null },
      { content: 'Both.' },
      { tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] },
      { tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'time', arguments: '{"tz":"UTC"}' } }] },
      { finish: 'tool_calls' },
      { usage: USAGE },
    ];
    const { events, message } = run(steps);
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => e.data);
    expect(starts).toEqual([
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_a', name: 'weather', input: {} } },
      { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'call_b', name: 'time', input: {} } },
    ]);
    expect(events.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta)).toEqual([
      { type: 'text_delta', text: 'Both.' },
      { type: 'input_json_delta', partial_json: '{"city":' },
      { type: 'input_json_delta', partial_json: '"Oslo"}' },
      { type: 'input_json_delta', partial_json: '{"tz":"UTC"}' },
    ]);
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toEqual([
      { type: 'text', text: 'Both.' },
      { type: 'tool_use', id: 'call_a', name: 'weather', input: { city: 'Oslo' } },
      { type: 'tool_use', id: 'call_b', name: 'time', input: { tz: 'UTC' } },
    ]);
    expect(withoutId(message)).toEqual(withoutId(whole(steps)));
  });

  it('a tool name that arrives late holds the arguments; a missing id gets a toolu_ id', () => {
    const { message } = run([{ tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] }, { tool_calls: [{ index: 0, function: { name: 'f' } }] }, { finish: 'tool_calls' }]);
    const block = (message.content as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    expect(block).toMatchObject({ type: 'tool_use', name: 'f', input: { a: 1 } });
    expect(block.id).toMatch(/^toolu_/);
  });

  it('finish reasons: length -> max_tokens, content_filter -> refusal, a named stop string -> stop_sequence', () => {
    expect(run([{ content: 'x' }, { finish: 'length' }]).message.stop_reason).toBe('max_tokens');
    expect(run([{ content: 'x' }, { finish: 'content_filter' }]).message.stop_reason).toBe('refusal');
    const stopped = run([{ content: 'x' }, { finish: 'stop', stop_reason: '###' }]).message;
    expect([stopped.stop_reason, stopped.stop_sequence]).toEqual(['stop_sequence', '###']);
    // A stop string the client did not ask for (vLLM reports EOS token ids too) is a plain end_turn.
    expect(run([{ content: 'x' }, { finish: 'stop', stop_reason: '</s>' }]).message.stop_reason).toBe('end_turn');
  });

  it('no upstream usage: output_tokens estimated from the generated characters', () => {
    const { message, record } = run([{ content: 'abcdefgh' }, { finish: 'stop' }]);
    expect(message.usage).toEqual({ input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 2 });
    expect(record.usage).toBeUndefined();
    expect(record.completionChars).toBe(8);
  });

  it('a failure after the first byte is one error event in Anthropic shape, then the end (no message_stop)', () => {
    const { events, text } = run([{ content: 'Partial' }], {}, 'fail');
    expect(names(events)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'error']);
    expect(events.at(-1)?.data).toEqual({ type: 'error', error: { type: 'api_error', message: 'GPU fell over' } });
    expect(text).not.toContain('[DONE]');
  });

  it('pings: message_start first, then ping events; a timeout after that is a timeout_error event', () => {
    const res = new CapturedResponse();
    const sink = new MessagesSink(new SseWriter(res as unknown as ServerResponse, () => ({})), options, { completionChars: 0 });
    sink.ping();
    sink.ping();
    expect(sink.committed).toBe(true);
    sink.fail(upstreamTimeout('up', 'first byte', 100));
    const events = parseEvents(res.text);
    expect(names(events)).toEqual(['message_start', 'ping', 'ping', 'error']);
    expect((events[3]?.data.error as { type: string }).type).toBe('timeout_error');
  });

  it('text after a tool call opens a new text block; arguments for a closed tool block fail loudly', () => {
    const { message } = run([{ tool_calls: [{ index: 0, id: 'c', function: { name: 'f', arguments: '{}' } }] }, { content: 'done' }, { finish: 'tool_calls' }]);
    expect((message.content as Array<{ type: string }>).map((b) => b.type)).toEqual(['tool_use', 'text']);
    const res = new CapturedResponse();
    const sink = new MessagesSink(new SseWriter(res as unknown as ServerResponse, () => ({})), options, { completionChars: 0 });
    void sink.write([{ type: 'chunk', chunk: chunkOf({ tool_calls: [{ index: 0, id: 'a', function: { name: 'f', arguments: '{' } }] }) }]);
    void sink.write([{ type: 'chunk', chunk: chunkOf({ tool_calls: [{ index: 1, id: 'b', function: { name: 'g', arguments: '{}' } }] }) }]);
    expect(() => sink.write([{ type: 'chunk', chunk: chunkOf({ tool_calls: [{ index: 0, function: { arguments: '}' } }] }) }])).toThrow(/tool call 0/);
  });
});
