import { describe, expect, it } from 'vitest';
import type { SluiceError } from '../../../src/core/errors.js';
import { parseResponsesRequest } from '../../../src/fronts/responses/request.js';
import { completionToResponse } from '../../../src/fronts/responses/response.js';

function error(body: unknown): SluiceError {
  try {
    parseResponsesRequest(body);
  } catch (err) {
    return err as SluiceError;
  }
  throw new Error('expected a 400');
}

describe('Responses request translation', () => {
  it('a string input with instructions and every mapped option', () => {
    const { chat } = parseResponsesRequest({
      model: 'm',
      instructions: 'Be brief.',
      input: 'Hi',
      stream: true,
      tools: [{ type: 'function', name: 'f', description: 'd', parameters: { type: 'object' }, strict: true }],
      tool_choice: { type: 'function', name: 'f' },
      parallel_tool_calls: false,
      max_output_tokens: 100,
      temperature: 0.3,
      top_p: 0.9,
      reasoning: { effort: 'high' },
      text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true } },
      metadata: { k: 'v' },
      store: false,
      user: 'u1',
    });
    expect(chat).toEqual({
      model: 'm',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
      tools: [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' }, strict: true } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
      parallel_tool_calls: false,
      max_completion_tokens: 100,
      temperature: 0.3,
      top_p: 0.9,
      reasoning_effort: 'high',
      user: 'u1',
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' }, strict: true } },
    });
  });

  it('input items: messages with parts, function calls merged, outputs as tool messages', () => {
    const { chat } = parseResponsesRequest({
      model: 'm',
      input: [
        { role: 'developer', content: 'rules' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'look' }, { type: 'input_image', image_url: 'data:image/png;base64,AA' }] },
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
        { type: 'function_call', call_id: 'c2', name: 'g', arguments: '{"a":1}' },
        { type: 'function_call_output', call_id: 'c1', output: 'one' },
        { type: 'function_call_output', call_id: 'c2', output: 'two' },
        { role: 'assistant', content: [{ type: 'output_text', text: 'done' }] },
      ],
    });
    expect(chat.messages).toEqual([
      { role: 'developer', content: 'rules' },
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }, { id: 'c2', type: 'function', function: { name: 'g', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'one' },
      { role: 'tool', tool_call_id: 'c2', content: 'two' },
      { role: 'assistant', content: [{ type: 'text', text: 'done' }] },
    ]);
  });

  it('clear 400s: non-function tools, stateful features, bad input', () => {
    expect(error({ model: 'm', input: 'x', tools: [{ type: 'web_search' }] })).toMatchObject({ status: 400, param: 'tools', message: expect.stringContaining("'web_search'") });
    for (const field of ['previous_response_id', 'conversation', 'prompt']) {
      expect(error({ model: 'm', input: 'x', [field]: 'x' })).toMatchObject({ status: 400, param: field, message: expect.stringContaining('stateless') });
    }
    expect(error({ model: 'm', input: 'x', background: true })).toMatchObject({ status: 400, param: 'background' });
    expect(error({ model: 'm' })).toMatchObject({ status: 400, param: 'input' });
    expect(error({ input: 'x' })).toMatchObject({ status: 400, param: 'model' });
    expect(error({ model: 'm', input: [{ type: 'item_reference', id: 'x' }] })).toMatchObject({ status: 400, param: 'input[0].type' });
  });

  it('a completion becomes a response with items, status and usage', () => {
    const { original } = parseResponsesRequest({ model: 'm', input: 'x', max_output_tokens: 5, metadata: { a: 'b' } });
    const response = completionToResponse(original, {
      id: 'c',
      object: 'chat.completion',
      created: 7,
      model: 'up',
      choices: [{ index: 0, message: { role: 'assistant', content: 'cut', refusal: null, reasoning: 'why', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] }, logprobs: null, finish_reason: 'length' }],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3, prompt_tokens_details: { cached_tokens: 1 } },
    });
    expect(response).toMatchObject({
      object: 'response',
      created_at: 7,
      model: 'up',
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      max_output_tokens: 5,
      metadata: { a: 'b' },
      output: [
        { type: 'reasoning', content: [{ type: 'reasoning_text', text: 'why' }] },
        { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'cut', annotations: [] }] },
        { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}', status: 'completed' },
      ],
      usage: { input_tokens: 1, input_tokens_details: { cached_tokens: 1 }, output_tokens: 2, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 3 },
    });
    expect(String(response.id)).toMatch(/^resp_/);
  });
});
