import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import type { ProviderConfig } from '../../src/config/schema.js';
import { geminiAdapter } from '../../src/providers/gemini/index.js';
import { aggregateEvents, chunksOf, fixture, parseSplit } from '../helpers/sse-feed.js';

const provider: ProviderConfig = parseConfigText('providers:\n  - {name: gemini, type: gemini, base_url: "https://generativelanguage.googleapis.com/v1beta"}\n', {}).providers[0]!;

function build(request: Record<string, unknown>, stream = false): { url: string; headers: Record<string, string>; body: Record<string, unknown> } {
  const built = geminiAdapter.buildRequest({ model: 'gemini/x', messages: [], ...request } as never, { provider, upstreamModel: 'gemini-2.5-flash', stream, apiKey: 'g-key' });
  return { url: built.url, headers: built.headers, body: JSON.parse(built.body ?? '{}') };
}

describe('gemini adapter: requests', () => {
  it('picks the endpoint by stream and authenticates with x-goog-api-key', () => {
    expect(build({}, true).url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    const plain = build({});
    expect(plain.url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent');
    expect(plain.headers['x-goog-api-key']).toBe('g-key');
    expect(plain.headers.authorization).toBeUndefined();
  });

  it('maps messages, images, tools, tool calls and results, and generation config', () => {
    const { body } = build({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }, { type: 'image_url', image_url: { url: 'https://x.test/a.png' } }] },
        { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: '{"temp":3}' },
        { role: 'tool', tool_call_id: 'c1', content: 'plain text' },
      ],
      tools: [{ type: 'function', function: { name: 'weather', description: 'w', parameters: { type: 'object', properties: {} } } }],
      tool_choice: { type: 'function', function: { name: 'weather' } },
      temperature: 0.5,
      top_p: 0.8,
      top_k: 40,
      max_completion_tokens: 256,
      stop: ['X'],
      n: 2,
      response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object' } } },
      reasoning_effort: 'low',
    });
    expect(body).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'Look' }, { inlineData: { mimeType: 'image/png', data: 'AAAA' } }, { fileData: { fileUri: 'https://x.test/a.png', mimeType: 'image/png' } }] },
        { role: 'model', parts: [{ text: 'Checking.' }, { functionCall: { name: 'weather', args: { city: 'Oslo' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'weather', response: { temp: 3 } } }, { functionResponse: { name: 'weather', response: { content: 'plain text' } } }] },
      ],
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      tools: [{ functionDeclarations: [{ name: 'weather', description: 'w', parametersJsonSchema: { type: 'object', properties: {} } }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['weather'] } },
      generationConfig: {
        temperature: 0.5,
        topP: 0.8,
        topK: 40,
        maxOutputTokens: 256,
        stopSequences: ['X'],
        candidateCount: 2,
        responseMimeType: 'application/json',
        responseJsonSchema: { type: 'object' },
        thinkingConfig: { thinkingBudget: 1024, includeThoughts: true },
      },
    });
    expect(build({ tool_choice: 'required', response_format: { type: 'json_object' } }).body).toMatchObject({ toolConfig: { functionCallingConfig: { mode: 'ANY' } }, generationConfig: { responseMimeType: 'application/json' } });
  });
});

describe('gemini adapter: streams (fixtures in random splits)', () => {
  it.each([
    ['gemini/text.sse', 1],
    ['gemini/text.sse', 99],
    ['gemini/crlf.sse', 5],
  ])('%s (seed %i): text, usage last, done at EOF', async (file, seed) => {
    const events = await parseSplit(geminiAdapter, fixture(file), seed);
    expect(events.at(-1)).toEqual({ type: 'done' });
    const chunks = chunksOf(events);
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(new Set(chunks.map((c) => c.id))).toEqual(new Set(['chatcmpl-resp_text']));
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 8, completion_tokens: 4, total_tokens: 12, prompt_tokens_details: { cached_tokens: 2 } } });
    expect(aggregateEvents(events).choices[0]).toMatchObject({ message: { content: 'Hello, wörld 🙂' }, finish_reason: 'stop' });
  });

  it('thought parts become reasoning_content, with reasoning tokens', async () => {
    const completion = aggregateEvents(await parseSplit(geminiAdapter, fixture('gemini/thinking-text.sse'), 3));
    expect(completion.choices[0]).toMatchObject({ message: { reasoning_content: 'Considering the sum.', content: 'It is 4.' }, finish_reason: 'stop' });
    expect(completion.usage).toMatchObject({ completion_tokens: 14, completion_tokens_details: { reasoning_tokens: 10 } });
  });

  it('a function call arrives whole with a stable id and finishes as tool_calls', async () => {
    const first = aggregateEvents(await parseSplit(geminiAdapter, fixture('gemini/function-call.sse'), 1));
    const again = aggregateEvents(await parseSplit(geminiAdapter, fixture('gemini/function-call.sse'), 2));
    expect(first.choices[0]).toMatchObject({ message: { content: null, tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: '{"location":"Boston"}' } }] }, finish_reason: 'tool_calls' });
    expect(first.choices[0]?.message.tool_calls?.[0]?.id).toBe(again.choices[0]?.message.tool_calls?.[0]?.id);
    expect(first.choices[0]?.message.tool_calls?.[0]?.id).toMatch(/^call_/);
  });

  it('parallel function calls get indexes 0 and 1 and distinct ids', async () => {
    const completion = aggregateEvents(await parseSplit(geminiAdapter, fixture('gemini/functions-parallel.sse'), 4));
    const calls = completion.choices[0]?.message.tool_calls ?? [];
    expect(calls.map((c) => [c.function.name, c.function.arguments])).toEqual([
      ['weather', '{"city":"Oslo"}'],
      ['time', '{"tz":"UTC"}'],
    ]);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    expect(completion.choices[0]?.message.content).toBe('Checking both.');
  });

  it('MAX_TOKENS -> length, SAFETY -> content_filter', async () => {
    expect(aggregateEvents(await parseSplit(geminiAdapter, fixture('gemini/max-tokens.sse'), 1)).choices[0]?.finish_reason).toBe('length');
    expect(aggregateEvents(await parseSplit(geminiAdapter, fixture('gemini/safety.sse'), 1)).choices[0]?.finish_reason).toBe('content_filter');
  });

  it('a stream cut before any finishReason ends without done (the pipeline reports truncation)', async () => {
    const cut = Buffer.from(fixture('gemini/text.sse').toString('utf8').split('\n\n').slice(0, 2).join('\n\n') + '\n\n');
    const events = await parseSplit(geminiAdapter, cut, 1);
    expect(events.some((e) => e.type === 'done')).toBe(false);
  });
});

describe('gemini adapter: responses and errors', () => {
  it('translates a whole GenerateContentResponse with two candidates', () => {
    const completion = geminiAdapter.parseResponse({
      candidates: [
        { content: { parts: [{ text: 'A' }], role: 'model' }, finishReason: 'STOP', index: 0 },
        { content: { parts: [{ text: 'B' }], role: 'model' }, finishReason: 'MAX_TOKENS', index: 1 },
      ],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 },
      modelVersion: 'gemini-2.5-flash',
      responseId: 'r1',
    });
    expect(completion).toMatchObject({
      id: 'chatcmpl-r1',
      object: 'chat.completion',
      model: 'gemini-2.5-flash',
      choices: [
        { index: 0, message: { content: 'A' }, finish_reason: 'stop' },
        { index: 1, message: { content: 'B' }, finish_reason: 'length' },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    });
  });

  it('maps Google error bodies', () => {
    const limited = geminiAdapter.parseError(429, '{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}');
    expect(limited.toBody()).toEqual({ error: { message: 'Quota exceeded', type: 'rate_limit_error', param: null, code: 'resource_exhausted' } });
    expect(limited.retryable).toBe(true);
    expect(geminiAdapter.parseError(400, '[{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]').toBody().error.type).toBe('invalid_request_error');
    expect(geminiAdapter.parseError(403, '{"error":{"code":403,"message":"no","status":"PERMISSION_DENIED"}}').status).toBe(403);
  });
});

describe('gemini adapter: malformed events', () => {
  it('an event whose data is not a JSON object is an error, not a crash', () => {
    for (const data of ['null', '"text"', '{not json']) {
      const events = geminiAdapter.parseEvent({ data }, geminiAdapter.initStream());
      expect(events).toMatchObject([{ type: 'error', error: { code: 'SLUICE_ERR_UPSTREAM_INVALID', status: 502 } }]);
    }
  });
});
