import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { upstreamErrorEvent } from '../../../src/core/errors.js';
import { ResponsesSink } from '../../../src/fronts/responses/sink.js';
import { SseWriter } from '../../../src/streaming/sse-writer.js';
import { parseResponsesRequest, responsesRequestSchema } from '../../../src/fronts/responses/request.js';
import type { ToolNames } from '../../../src/fronts/responses/tools.js';
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

const plain = responsesRequestSchema.parse({ model: 'm', input: 'x' });

type Delta = ChunkDelta | { finish: string } | { usage: true };

function run(deltas: Delta[], fail = false, request = plain, tools: ToolNames = new Map()): { events: ReturnType<typeof parseResponsesStream>; response: Record<string, unknown> } {
  const res = new CapturedResponse();
  const sink = new ResponsesSink(new SseWriter(res as unknown as ServerResponse, () => ({})), request, { completionChars: 0 }, tools);
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

  it('reasoning as a summary part when the client asks for a summary (what Codex renders)', () => {
    const request = responsesRequestSchema.parse({ model: 'm', input: 'x', reasoning: { summary: 'auto' } });
    const { events, response } = run([{ reasoning_content: 'think ' }, { reasoning: 'more' }, { content: 'Answer' }, { finish: 'stop' }], false, request);
    expect(types(events).slice(2, 9)).toEqual([
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
    ]);
    expect(events[3]).toMatchObject({ summary_index: 0, part: { type: 'summary_text', text: '' } });
    expect(response.output).toMatchObject([
      { type: 'reasoning', summary: [{ type: 'summary_text', text: 'think more' }] },
      { type: 'message', content: [{ type: 'output_text', text: 'Answer' }] },
    ]);
    expect((response.output as Array<Record<string, unknown>>)[0]).not.toHaveProperty('encrypted_content');
  });

  it("calls go back as the client's tools: namespace member, custom (freeform) and local_shell", () => {
    const { tools } = parseResponsesRequest({
      model: 'm',
      input: 'x',
      tools: [
        { type: 'namespace', name: 'crm', description: 'CRM', tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object' } }] },
        { type: 'custom', name: 'apply_patch', format: { type: 'grammar', syntax: 'lark', definition: 'start: "x"' } },
        { type: 'local_shell' },
      ],
    });
    const patch = '*** Begin Patch\n*** End Patch';
    const { events, response } = run(
      [
        { tool_calls: [{ index: 0, id: 'call_ns', type: 'function', function: { name: 'crm__lookup', arguments: '{"id":' } }] },
        { tool_calls: [{ index: 0, function: { arguments: '7}' } }] },
        { tool_calls: [{ index: 1, id: 'call_cu', type: 'function', function: { name: 'apply_patch', arguments: JSON.stringify({ input: patch }).slice(0, 10) } }] },
        { tool_calls: [{ index: 1, function: { arguments: JSON.stringify({ input: patch }).slice(10) } }] },
        { tool_calls: [{ index: 2, id: 'call_sh', type: 'function', function: { name: 'local_shell', arguments: '{"command":["ls","-l"],"workdir":"/w","timeout_ms":500}' } }] },
        { finish: 'tool_calls' },
      ],
      false,
      plain,
      tools,
    );
    expect(response.output).toEqual([
      { id: expect.stringMatching(/^fc_/), type: 'function_call', status: 'completed', call_id: 'call_ns', name: 'lookup', namespace: 'crm', arguments: '{"id":7}' },
      { id: expect.stringMatching(/^ctc_/), type: 'custom_tool_call', status: 'completed', call_id: 'call_cu', name: 'apply_patch', input: patch },
      { id: expect.stringMatching(/^lsh_/), type: 'local_shell_call', status: 'completed', call_id: 'call_sh', action: { type: 'exec', command: ['ls', '-l'], env: {}, timeout_ms: 500, working_directory: '/w' } },
    ]);
    // Only the function streams its arguments; the custom tool's input is known whole, at the end.
    expect(types(events).filter((t) => t.includes('arguments') || t.includes('input'))).toEqual([
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.custom_tool_call_input.delta',
      'response.custom_tool_call_input.done',
    ]);
  });

  it('a custom tool call whose model wrote raw text instead of the JSON wrapper keeps that text', () => {
    const { tools } = parseResponsesRequest({ model: 'm', input: 'x', tools: [{ type: 'custom', name: 'run_sql' }] });
    const { response } = run([{ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'run_sql', arguments: 'SELECT 1' } }] }, { finish: 'tool_calls' }], false, plain, tools);
    expect(response.output).toMatchObject([{ type: 'custom_tool_call', name: 'run_sql', input: 'SELECT 1' }]);
  });
});
