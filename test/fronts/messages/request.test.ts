import { describe, expect, it } from 'vitest';
import { parseMessagesRequest } from '../../../src/fronts/messages/request.js';
import { SluiceError } from '../../../src/core/errors.js';

const base = { model: 'claude-sonnet-4-5', max_tokens: 100 };

function badRequest(body: unknown): SluiceError {
  try {
    parseMessagesRequest(body);
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).status).toBe(400);
    expect((err as SluiceError).type).toBe('invalid_request_error');
    return err as SluiceError;
  }
  throw new Error('expected a 400');
}

function translationError(body: unknown): SluiceError {
  const parsed = parseMessagesRequest(body);
  expect(parsed.translationError).toBeInstanceOf(SluiceError);
  return parsed.translationError as SluiceError;
}

describe('Messages request -> chat request', () => {
  it('system as a string or as text blocks (cache_control dropped), user text, sampling fields', () => {
    const { chat } = parseMessagesRequest({
      ...base,
      stream: true,
      system: [
        { type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'Answer in English.' },
      ],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: { type: 'ephemeral' } }] }],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      stop_sequences: ['###'],
      metadata: { user_id: '{"device_id":"d1"}' },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
      service_tier: 'auto',
    });
    expect(chat).toEqual({
      model: 'claude-sonnet-4-5',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'You are terse.\n\nAnswer in English.' },
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
      ],
      max_completion_tokens: 100,
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      stop: ['###'],
      user: '{"device_id":"d1"}',
    });
    expect(parseMessagesRequest({ ...base, system: 'Be brief.', messages: [{ role: 'user', content: 'Hi' }] }).chat.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
  });

  it('images as base64 and URL become image_url parts', () => {
    const { chat } = parseMessagesRequest({
      ...base,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
            { type: 'text', text: 'What are these?' },
          ],
        },
      ],
    });
    expect(chat.messages[0]?.content).toEqual([
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
      { type: 'text', text: 'What are these?' },
    ]);
  });

  it('parallel tool use with multi-turn tool results (string, blocks, is_error); thinking history dropped', () => {
    const { chat } = parseMessagesRequest({
      ...base,
      tools: [
        { name: 'weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } }, cache_control: { type: 'ephemeral' } },
        { name: 'time', input_schema: { type: 'object', properties: {} } },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: false },
      messages: [
        { role: 'user', content: 'Weather and time in Oslo?' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Two tools.', signature: 'sig' },
            { type: 'redacted_thinking', data: 'xyz' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Oslo' } },
            { type: 'tool_use', id: 'toolu_2', name: 'time', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'Sunny' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: 'clock' }, { type: 'text', text: 'broken' }], is_error: true },
            { type: 'text', text: 'Thanks' },
          ],
        },
      ],
    });
    expect(chat.tools).toEqual([
      { type: 'function', function: { name: 'weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
      { type: 'function', function: { name: 'time', parameters: { type: 'object', properties: {} } } },
    ]);
    expect(chat.tool_choice).toBe('required');
    expect(chat.parallel_tool_calls).toBeUndefined();
    expect(chat.messages).toEqual([
      { role: 'user', content: 'Weather and time in Oslo?' },
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
          { id: 'toolu_2', type: 'function', function: { name: 'time', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'Sunny' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: clock\nbroken' },
      { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
    ]);
  });

  it('images inside a tool result follow the tool message as a user message', () => {
    const { chat } = parseMessagesRequest({
      ...base,
      messages: [
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'Read', input: { file_path: '/a.png' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] }] },
      ],
    });
    expect(chat.messages.slice(1)).toEqual([
      { role: 'tool', tool_call_id: 't1', content: '' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
    ]);
  });

  it('tool_choice auto / none / tool, and disable_parallel_tool_use', () => {
    const tools = [{ name: 'f', input_schema: { type: 'object' } }];
    const choice = (tool_choice: unknown): unknown => {
      const { chat } = parseMessagesRequest({ ...base, tools, tool_choice, messages: [{ role: 'user', content: 'x' }] });
      return [chat.tool_choice, chat.parallel_tool_calls];
    };
    expect(choice({ type: 'auto' })).toEqual(['auto', undefined]);
    expect(choice({ type: 'none' })).toEqual(['none', undefined]);
    expect(choice({ type: 'tool', name: 'f', disable_parallel_tool_use: true })).toEqual([{ type: 'function', function: { name: 'f' } }, false]);
    // No tools: OpenAI rejects a tool_choice, so none is sent.
    expect(parseMessagesRequest({ ...base, tool_choice: { type: 'auto' }, messages: [{ role: 'user', content: 'x' }] }).chat.tool_choice).toBeUndefined();
  });

  it('thinking -> reasoning_effort by budget; display omitted hides reasoning; disabled and adaptive leave it unset', () => {
    const effort = (thinking: unknown): unknown => parseMessagesRequest({ ...base, max_tokens: 32000, thinking, messages: [{ role: 'user', content: 'x' }] }).chat.reasoning_effort;
    expect(effort({ type: 'enabled', budget_tokens: 1024 })).toBe('low');
    expect(effort({ type: 'enabled', budget_tokens: 8000 })).toBe('medium');
    expect(effort({ type: 'enabled', budget_tokens: 31999 })).toBe('high');
    expect(effort({ type: 'disabled' })).toBeUndefined();
    expect(effort({ type: 'adaptive' })).toBeUndefined();
    expect(parseMessagesRequest({ ...base, thinking: { type: 'enabled', budget_tokens: 2000, display: 'omitted' }, messages: [{ role: 'user', content: 'x' }] }).showThinking).toBe(false);
    expect(parseMessagesRequest({ ...base, thinking: { type: 'enabled', budget_tokens: 2000 }, messages: [{ role: 'user', content: 'x' }] }).showThinking).toBe(true);
  });

  // The shape recorded from Claude Code 2.1.332 (`-p`, through Sluice): adaptive thinking with
  // display omitted, output_config.effort, a mid-conversation system turn, a deferred tool.
  it('takes the body Claude Code 2.1.332 sends', () => {
    const parsed = parseMessagesRequest({
      model: 'claude-opus-5-5',
      stream: true,
      max_tokens: 128000,
      thinking: { type: 'adaptive', display: 'omitted' },
      output_config: { effort: 'medium' },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
      metadata: { user_id: JSON.stringify({ device_id: 'abc', session_id: 's' }) },
      system: [
        { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'You are an interactive CLI tool.', cache_control: { type: 'ephemeral' } },
      ],
      tools: [
        { name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'], additionalProperties: false, $schema: 'http://json-schema.org/draft-07/schema#' } },
        { name: 'DeferredToolPlaceholder', description: 'x', input_schema: { type: 'object' }, defer_loading: true },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: '<system-reminder>context</system-reminder>' },
            { type: 'text', text: 'list the files' },
          ],
        },
        { role: 'system', content: [{ type: 'text', text: '# Environment', cache_control: { type: 'ephemeral' } }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'ToolSearch', input: { query: 'x' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'tool_reference', tool_name: 'WebFetch' }] }] },
      ],
    });
    expect(parsed.translationError).toBeUndefined();
    expect(parsed.chat.reasoning_effort).toBe('medium');
    expect(parsed.showThinking).toBe(false);
    expect(parsed.chat.messages.map((m) => m.role)).toEqual(['system', 'user', 'system', 'assistant', 'tool']);
    expect(parsed.chat.messages[2]).toEqual({ role: 'system', content: '# Environment' });
    expect(parsed.chat.messages[4]).toEqual({ role: 'tool', tool_call_id: 'toolu_1', content: 'Tool available: WebFetch' });
    expect((parsed.chat.tools as unknown[]).length).toBe(2);
  });

  it('structured output (output_config.format) -> response_format', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    const { chat } = parseMessagesRequest({ ...base, output_config: { format: { type: 'json_schema', schema } }, messages: [{ role: 'user', content: 'x' }] });
    expect(chat.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema, strict: true } });
  });
});

describe('Messages request: 400s naming the field', () => {
  it.each([
    [{ model: 'm', messages: [{ role: 'user', content: 'x' }] }, 'max_tokens: Field required'],
    [{ ...base, max_tokens: '10', messages: [{ role: 'user', content: 'x' }] }, 'max_tokens: must be an integer'],
    [{ max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }, 'model: Field required'],
    [{ ...base, messages: [] }, 'messages: must contain at least one message'],
    [{ ...base }, 'messages: Field required'],
    [{ ...base, messages: 'hi' }, 'messages: must be a list of messages'],
    [{ ...base, messages: [{ role: 'robot', content: 'x' }] }, "messages.0.role: must be 'user', 'assistant' or 'system'"],
    [{ ...base, messages: [{ role: 'user', content: 5 }] }, 'messages.0.content: must be a string or a list of content blocks'],
    [{ ...base, messages: [{ role: 'user', content: [{ text: 'no type' }] }] }, 'messages.0.content.0.type: Field required'],
    [{ ...base, temperature: 3, messages: [{ role: 'user', content: 'x' }] }, 'temperature: must be between 0 and 1'],
    [{ ...base, stream: 'yes', messages: [{ role: 'user', content: 'x' }] }, 'stream: must be a boolean'],
    [{ ...base, tool_choice: { type: 'tool' }, messages: [{ role: 'user', content: 'x' }] }, "tool_choice.name: needs a 'name' when type is 'tool'"],
    [{ ...base, thinking: { type: 'enabled' }, messages: [{ role: 'user', content: 'x' }] }, "thinking.budget_tokens: is required when type is 'enabled'"],
  ])('%j', (body, message) => {
    expect(badRequest(body).message).toBe(message);
  });

  it('a body that is not an object', () => {
    expect(badRequest([1, 2]).message).toMatch(/JSON object/);
  });

  // Valid Anthropic, but nothing to translate it to: a native upstream still takes these.
  it.each([
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'foo' }] }] }, /^messages\.0\.content\.0\.type: block type 'foo' is not supported/],
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', data: 'x' } }] }] }, /^messages\.0\.content\.0\.type: block type 'document'/],
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'text', text: 5 }] }] }, /^messages\.0\.content\.0\.text: /],
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'f' } }] }] }, /^messages\.0\.content\.0\.source/],
    [{ ...base, messages: [{ role: 'assistant', content: [{ type: 'tool_use', name: 'f', input: {} }] }] }, /^messages\.0\.content\.0\.id: /],
    [{ ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'document' }] }] }] }, /^messages\.0\.content\.0\.content\.0\.type: /],
    [{ ...base, tools: [{ type: 'web_search_20250305', name: 'web_search' }], messages: [{ role: 'user', content: 'x' }] }, /^tools\.0\.type: tool type 'web_search_20250305' is a server tool/],
    [{ ...base, tools: [{ name: 'f' }], messages: [{ role: 'user', content: 'x' }] }, /^tools\.0\.input_schema: /],
  ])('translation: %j', (body, message) => {
    expect(translationError(body).message).toMatch(message);
  });

  it('count_tokens needs no max_tokens', () => {
    expect(parseMessagesRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, true).chat.model).toBe('m');
  });
});
