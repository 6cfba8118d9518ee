import { readFileSync } from 'node:fs';
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
      text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true }, verbosity: 'low' },
      metadata: { k: 'v' },
      store: false,
      user: 'u1',
      safety_identifier: 'sid',
      prompt_cache_key: 'pck',
      prompt_cache_retention: '24h',
      service_tier: 'flex',
      include: ['reasoning.encrypted_content'],
      client_metadata: { session_id: 's' },
      truncation: 'auto',
      stream_options: { include_obfuscation: false },
      max_tool_calls: 3,
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
      safety_identifier: 'sid',
      prompt_cache_key: 'pck',
      prompt_cache_retention: '24h',
      service_tier: 'flex',
      verbosity: 'low',
      response_format: { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' }, strict: true } },
    });
  });

  it('input items: developer is system, an assistant turn is its text, calls and reasoning; outputs are tool messages', () => {
    const { chat } = parseResponsesRequest({
      model: 'm',
      instructions: 'Be brief.',
      input: [
        { role: 'developer', content: [{ type: 'input_text', text: 'rules' }, { type: 'input_text', text: 'more rules' }] },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'look' }, { type: 'input_image', image_url: 'data:image/png;base64,AA' }] },
        { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'I should call f and g.' }], encrypted_content: null },
        { role: 'assistant', content: [{ type: 'output_text', text: 'Calling.' }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
        { type: 'function_call', call_id: 'c2', name: 'g', arguments: '{"a":1}' },
        { type: 'function_call_output', call_id: 'c1', output: 'one' },
        { type: 'function_call_output', call_id: 'c2', output: [{ type: 'input_text', text: 'two' }] },
        { type: 'reasoning', id: 'rs_2', summary: [], content: [{ type: 'reasoning_text', text: 'Both done.' }] },
        { role: 'assistant', content: [{ type: 'output_text', text: 'done' }] },
      ],
    });
    expect(chat.messages).toEqual([
      { role: 'system', content: 'Be brief.\n\nrules\n\nmore rules' },
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }] },
      {
        role: 'assistant',
        content: 'Calling.',
        reasoning_content: 'I should call f and g.',
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } },
          { id: 'c2', type: 'function', function: { name: 'g', arguments: '{"a":1}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'one' },
      { role: 'tool', tool_call_id: 'c2', content: 'two' },
      { role: 'assistant', content: 'done', reasoning_content: 'Both done.' },
    ]);
  });

  it('reasoning before the last user message is left out; an image a tool returned follows the tool messages', () => {
    const { chat } = parseResponsesRequest({
      model: 'm',
      input: [
        { role: 'user', content: 'first' },
        { type: 'reasoning', summary: [{ type: 'summary_text', text: 'old thought' }] },
        { type: 'function_call', call_id: 'c1', name: 'view_image', arguments: '{"path":"a.png"}' },
        { type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_image', image_url: 'data:image/png;base64,AA' }] },
        { type: 'reasoning', summary: [], encrypted_content: 'gAAAA-opaque' },
        { type: 'web_search_call', id: 'ws_1', status: 'completed', action: { type: 'search', query: 'x' } },
        { role: 'user', content: 'second' },
      ],
    });
    expect(chat.messages).toEqual([
      { role: 'user', content: 'first' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'view_image', arguments: '{"path":"a.png"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: '' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA' } }] },
      { role: 'user', content: 'second' },
    ]);
  });

  it('namespace, custom and local_shell tools: flattened to functions and their calls and outputs to chat history', () => {
    const parsed = parseResponsesRequest({
      model: 'm',
      input: [
        { role: 'user', content: 'go' },
        { type: 'function_call', call_id: 'c1', name: 'lookup', namespace: 'crm', arguments: '{"id":7}' },
        { type: 'custom_tool_call', call_id: 'c2', name: 'apply_patch', input: '*** Begin Patch' },
        { type: 'local_shell_call', id: 'lsh_1', call_id: 'c3', status: 'completed', action: { type: 'exec', command: ['ls'], working_directory: '/w', timeout_ms: null, env: {} } },
        { type: 'function_call_output', call_id: 'c1', output: '{"name":"Ada"}' },
        { type: 'custom_tool_call_output', call_id: 'c2', output: 'Done!' },
        { type: 'local_shell_call_output', id: 'c3', output: 'a.txt' },
      ],
      tools: [
        { type: 'namespace', name: 'crm', description: 'CRM tools', tools: [{ type: 'function', name: 'lookup', description: 'Find a customer', parameters: { type: 'object' }, strict: true }] },
        { type: 'custom', name: 'apply_patch', description: 'Edit files.', format: { type: 'grammar', syntax: 'lark', definition: 'start: "x"' } },
        { type: 'local_shell' },
      ],
      tool_choice: { type: 'function', name: 'lookup', namespace: 'crm' },
    });
    expect(parsed.chat.tools).toEqual([
      { type: 'function', function: { name: 'crm__lookup', description: 'Find a customer', parameters: { type: 'object' }, strict: true } },
      {
        type: 'function',
        function: {
          name: 'apply_patch',
          description: 'Edit files.\n\nThe input must follow this lark grammar:\nstart: "x"',
          parameters: { type: 'object', properties: { input: { type: 'string', description: expect.any(String) } }, required: ['input'], additionalProperties: false },
        },
      },
      { type: 'function', function: { name: 'local_shell', description: expect.any(String), parameters: expect.objectContaining({ required: ['command'] }) } },
    ]);
    expect(parsed.chat.tool_choice).toEqual({ type: 'function', function: { name: 'crm__lookup' } });
    expect([...parsed.tools]).toEqual([
      ['crm__lookup', { kind: 'function', name: 'lookup', namespace: 'crm' }],
      ['apply_patch', { kind: 'custom', name: 'apply_patch' }],
      ['local_shell', { kind: 'local_shell' }],
    ]);
    expect(parsed.chat.messages.slice(1)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'crm__lookup', arguments: '{"id":7}' } },
          { id: 'c2', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch"}' } },
          { id: 'c3', type: 'function', function: { name: 'local_shell', arguments: '{"command":["ls"],"workdir":"/w"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: '{"name":"Ada"}' },
      { role: 'tool', tool_call_id: 'c2', content: 'Done!' },
      { role: 'tool', tool_call_id: 'c3', content: 'a.txt' },
    ]);
  });

  it("Codex 0.171.0's recorded requests (test/fixtures/codex): every field accepted, translated as documented", () => {
    const [first, second] = JSON.parse(readFileSync(new URL('../../fixtures/codex/exec-turn-0.171.0.json', import.meta.url), 'utf8')) as [Record<string, unknown>, Record<string, unknown>];
    const one = parseResponsesRequest(first);
    expect(one.untranslatable).toBeUndefined();
    expect(one.unknown).toEqual([]);
    expect(one.dropped).toEqual(['web_search']);
    const names = (one.chat.tools as Array<{ type: string; function: { name: string } }>).map((t) => t.function.name);
    expect(names).toEqual(['exec_command', 'write_stdin', 'request_user_input', 'view_image', 'multi_agent_v1__close_agent', 'multi_agent_v1__resume_agent', 'multi_agent_v1__send_input', 'multi_agent_v1__spawn_agent', 'multi_agent_v1__wait_agent', 'get_goal', 'create_goal', 'update_goal']);
    expect(one.tools.get('multi_agent_v1__wait_agent')).toEqual({ kind: 'function', name: 'wait_agent', namespace: 'multi_agent_v1' });
    expect(one.chat).toMatchObject({ stream: true, tool_choice: 'auto', parallel_tool_calls: true, prompt_cache_key: first.prompt_cache_key });
    for (const dropped of ['store', 'include', 'client_metadata', 'reasoning', 'input', 'instructions']) expect(one.chat).not.toHaveProperty(dropped);
    // Two developer messages (one with two parts) are one system message; then the environment and the prompt.
    expect(one.chat.messages.map((m) => m.role)).toEqual(['system', 'user', 'user']);
    expect(one.chat.messages[0]?.content).toMatch(/^You are a coding agent running in the Codex CLI[\s\S]*<skills_instructions>[\s\S]*<permissions instructions>/);
    expect(one.chat.messages[2]?.content).toEqual([{ type: 'text', text: 'hi' }]);
    const two = parseResponsesRequest(second);
    expect(two.chat.messages.slice(3)).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_x1', type: 'function', function: { name: 'exec_command', arguments: '{"cmd":"echo SANDBOX-$((6*7)) && ls /tmp/codexrec/work"}' } }] },
      { role: 'tool', tool_call_id: 'call_x1', content: expect.stringContaining('Process exited with code 0') },
    ]);
  });

  it('clear 400s: a malformed request fails at once', () => {
    expect(error({ model: 'm' })).toMatchObject({ status: 400, param: 'input' });
    expect(error({ input: 'x' })).toMatchObject({ status: 400, param: 'model' });
    expect(error({ model: 'm', input: 'x', temperature: 'hot' })).toMatchObject({ status: 400, param: 'temperature' });
    expect(error([])).toMatchObject({ status: 400 });
  });

  it('what only a chat-type target cannot take is held as untranslatable (a native upstream still gets it)', () => {
    const untranslatable = (body: Record<string, unknown>): SluiceError | undefined => parseResponsesRequest({ model: 'm', input: 'x', ...body }).untranslatable;
    for (const field of ['previous_response_id', 'conversation', 'prompt']) {
      expect(untranslatable({ [field]: 'x' })).toMatchObject({ status: 400, param: field, message: expect.stringContaining('stateless') });
    }
    expect(untranslatable({ background: true })).toMatchObject({ status: 400, param: 'background' });
    expect(untranslatable({ input: [{ type: 'item_reference', id: 'x' }] })).toMatchObject({ status: 400, param: 'input[0].type' });
    expect(untranslatable({ tools: [{ type: 'shell' }] })).toMatchObject({ status: 400, param: 'tools[0].type', openaiCode: 'unsupported_tool' });
    expect(untranslatable({ tools: [{ type: 'namespace', name: 'n', tools: [{ type: 'web_search' }] }] })).toMatchObject({ status: 400, param: 'tools[0].tools[0].type' });
    expect(untranslatable({ tools: [{ type: 'function', name: 'a__b' }, { type: 'namespace', name: 'a', tools: [{ type: 'function', name: 'b' }] }] })).toMatchObject({ openaiCode: 'duplicate_tool_name' });
    expect(untranslatable({ tool_choice: { type: 'shell' } })).toMatchObject({ param: 'tool_choice' });
  });

  it('hosted tools are dropped; with none left, no tool_choice or parallel_tool_calls go upstream', () => {
    const parsed = parseResponsesRequest({ model: 'm', input: 'x', tools: [{ type: 'web_search' }, { type: 'file_search', vector_store_ids: [] }, { type: 'web_search' }], tool_choice: { type: 'web_search' }, parallel_tool_calls: true });
    expect(parsed.dropped).toEqual(['web_search', 'file_search']);
    expect(parsed.chat).not.toHaveProperty('tools');
    expect(parsed.chat).not.toHaveProperty('tool_choice');
    expect(parsed.chat).not.toHaveProperty('parallel_tool_calls');
    const forced = parseResponsesRequest({ model: 'm', input: 'x', tools: [{ type: 'function', name: 'f' }, { type: 'code_interpreter' }], tool_choice: { type: 'code_interpreter' } });
    expect(forced.chat.tool_choice).toBe('auto');
    expect(parseResponsesRequest({ model: 'm', input: 'x', tools: [{ type: 'function', name: 'f' }], tool_choice: { type: 'allowed_tools', mode: 'required', tools: [] } }).chat.tool_choice).toBe('required');
  });

  it('fields the Responses API does not define are listed, not fatal', () => {
    expect(parseResponsesRequest({ model: 'm', input: 'x', frobnicate: 1, store: true, truncation: 'auto' }).unknown).toEqual(['frobnicate']);
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

  it('a completion with a summary asked for and declared tools: summary reasoning, namespaced and custom calls', () => {
    const parsed = parseResponsesRequest({
      model: 'm',
      input: 'x',
      reasoning: { summary: 'auto' },
      tools: [{ type: 'namespace', name: 'crm', description: 'CRM', tools: [{ type: 'function', name: 'lookup' }] }, { type: 'custom', name: 'apply_patch' }],
    });
    const response = completionToResponse(
      parsed.original,
      {
        id: 'c',
        object: 'chat.completion',
        created: 7,
        model: 'up',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              refusal: null,
              reasoning_content: 'why',
              tool_calls: [
                { id: 'call_1', type: 'function', function: { name: 'crm__lookup', arguments: '{"id":1}' } },
                { id: 'call_2', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"P"}' } },
              ],
            },
            logprobs: null,
            finish_reason: 'tool_calls',
          },
        ],
      },
      parsed.tools,
    );
    expect(response.output).toEqual([
      { id: expect.stringMatching(/^rs_/), type: 'reasoning', summary: [{ type: 'summary_text', text: 'why' }] },
      { id: expect.stringMatching(/^fc_/), type: 'function_call', status: 'completed', call_id: 'call_1', name: 'lookup', namespace: 'crm', arguments: '{"id":1}' },
      { id: expect.stringMatching(/^ctc_/), type: 'custom_tool_call', status: 'completed', call_id: 'call_2', name: 'apply_patch', input: 'P' },
    ]);
  });
});
