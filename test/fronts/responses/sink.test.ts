import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { upstreamErrorEvent } from '../../../src/core/errors.js';
import { ResponsesSink } from '../../../src/fronts/responses/sink.js';
import { SseWriter } from '../../../src/streaming/sse-writer.js';
import { responsesRequestSchema } from '../../../src/fronts/responses/request.js';
import type { ChunkDelta } from '../../../src/core/types.js';
import { parseResponsesStream, validateSequence } from './validator.js';

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
  flushHeaders(): void {}
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

const request = responsesRequestSchema.parse({ model: 'm', input: 'x' });

function run(deltas: Array<ChunkDelta | { finish: string } | { usage: true }>, fail = false): { events: ReturnType<typeof parseResponsesStream>; response: Record<string, unknown> } {
  const res = new CapturedResponse();
  const sink = new ResponsesSink(new SseWriter(res as unknown as ServerResponse, () => ({})), request, { completionChars: 0 });
  for (const d of deltas) {
    const chunk =
      'usage' in d
        ? { id: 'c', object: 'chat.completion.chunk' as const, created: 1, model: 'up', choices: [], usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8, completion_tokens_details: { reasoning_tokens: 2 } } }
        : { id: 'c', object: 'chat.completion.chunk' as const, created: 1, model: 'up', choices: [{ index: 0, delta: 'finish' in d ? {} : d, finish_reason: 'finish' in d ? (d.finish as string) : null }] };
    void sink.write([{ type: 'chunk', chunk }]);
  }
  if (fail) sink.fail(upstreamErrorEvent('GPU fell over', 'server_error', 'upstream_error'));
  else sink.end();
  expect(res.status).toBe(200);
  const events = parseResponsesStream(res.text);
  return { events, response: validateSequence(events) };
}

const types = (events: Array<{ type: string }>): string[] => events.map((e) => e.type);

describe('Responses stream translation', () => {
  it('text', () => {
    const { events, response } = run([{ role: 'assistant', content: '' }, { content: 'Hel' }, { content: 'lo' }, { finish: 'stop' }, { usage: true }]);
    expect(types(events)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(response).toMatchObject({ status: 'completed', model: 'up', usage: { input_tokens: 3, output_tokens: 5, total_tokens: 8, output_tokens_details: { reasoning_tokens: 2 } } });
  });

  it('reasoning then text then a tool call', () => {
    const { events, response } = run([
      { reasoning_content: 'think ' },
      { reasoning_content: 'more' },
      { content: 'Answer' },
      { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a"' } }] },
      { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] },
      { finish: 'tool_calls' },
    ]);
    expect(types(events).filter((t) => t.endsWith('.added'))).toEqual(['response.output_item.added', 'response.content_part.added', 'response.output_item.added', 'response.content_part.added', 'response.output_item.added']);
    expect(response.output).toMatchObject([
      { type: 'reasoning', content: [{ type: 'reasoning_text', text: 'think more' }] },
      { type: 'message', content: [{ type: 'output_text', text: 'Answer' }] },
      { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{"a":1}', status: 'completed' },
    ]);
  });

  it('a tool call only, and parallel tool calls interleaved by index', () => {
    const { response } = run([
      { role: 'assistant', content: null },
      { tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '' } }] },
      { tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'time', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":"Oslo"}' } }] },
      { tool_calls: [{ index: 1, function: { arguments: '{}' } }] },
      { finish: 'tool_calls' },
    ]);
    expect(response.output).toMatchObject([
      { type: 'function_call', call_id: 'call_a', name: 'weather', arguments: '{"city":"Oslo"}' },
      { type: 'function_call', call_id: 'call_b', name: 'time', arguments: '{}' },
    ]);
  });

  it('a tool call whose name arrives late is announced once named, arguments intact', () => {
    const { events, response } = run([
      { tool_calls: [{ index: 0, id: 'call_x', function: { arguments: '{"q":' } }] },
      { tool_calls: [{ index: 0, function: { name: 'search', arguments: '"x"}' } }] },
      { finish: 'tool_calls' },
    ]);
    const added = events.find((e) => e.type === 'response.output_item.added') as unknown as { item: { name: string } };
    expect(added.item.name).toBe('search');
    expect(response.output).toMatchObject([{ type: 'function_call', call_id: 'call_x', name: 'search', arguments: '{"q":"x"}' }]);
  });

  it('text after tool calls opens a new message item', () => {
    const { response } = run([
      { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { content: 'and then text' },
      { finish: 'tool_calls' },
    ]);
    expect((response.output as Array<{ type: string }>).map((o) => o.type)).toEqual(['function_call', 'message']);
  });

  it('a length cut-off ends with response.incomplete', () => {
    const { events, response } = run([{ content: 'partial' }, { finish: 'length' }]);
    expect(events.at(-1)?.type).toBe('response.incomplete');
    expect(response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
  });

  it('a failure mid-stream ends with an error event and response.failed', () => {
    const { events, response } = run([{ content: 'so far' }], true);
    expect(types(events).slice(-2)).toEqual(['error', 'response.failed']);
    expect(events.at(-2)).toMatchObject({ code: 'upstream_error', message: 'GPU fell over' });
    expect(response).toMatchObject({ status: 'failed', error: { code: 'upstream_error', message: 'GPU fell over' } });
  });
});
