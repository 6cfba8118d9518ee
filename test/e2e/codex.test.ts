import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cached-cli.js';
import { closedAfterEach } from '../helpers/cleanup.js';
import { CODEX_VERSION, ensureCodex, runCodex, type CodexRun } from '../helpers/codex.js';
import { accessLines, type RunningGateway } from '../helpers/gateway.js';
import { startRecordingProxy, type Exchange } from '../helpers/recording-proxy.js';
import { chunk, DONE, sseHead, usageChunk, type RecordedRequest } from '../helpers/upstream.js';
import { parseResponsesStream, validateSequence } from '../fronts/responses/validator.js';

// The real `codex exec` (the npm package's native binary, pinned in helpers/codex.ts) against the
// real server, with scripted loopback upstreams: one agent turn in which the model runs Codex's
// shell tool, Codex runs the command (sandboxed, see runCodex) and sends its output back, and the
// model answers with text.

const scope = closedAfterEach();
let codex: string;

beforeAll(() => {
  codex = ensureCodex(); // installs on first use: allow for the download
}, 600_000);

/** What the scripted model runs; its output is what it then reports. */
const COMMAND = 'echo sluice-$((6*7))';
const ANSWER = 'The command printed sluice-42.';
const THOUGHT = 'The user wants the command run; exec_command does that.';

type ChatMessage = { role: string; content?: unknown; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>; tool_call_id?: string };

function messagesOf(req: RecordedRequest): ChatMessage[] {
  return req.body.messages as ChatMessage[];
}

/** An OpenAI chat upstream playing the model: first a tool call (after some reasoning), then, once the tool output is in the history, text. */
function chatModel(req: RecordedRequest): string {
  const output = messagesOf(req).find((m) => m.role === 'tool');
  if (output === undefined) {
    const args = JSON.stringify({ cmd: COMMAND, login: false, yield_time_ms: 5000 });
    return [
      chunk({ role: 'assistant', content: null }),
      chunk({ reasoning_content: THOUGHT.slice(0, 20) }),
      chunk({ reasoning_content: THOUGHT.slice(20) }),
      chunk({ tool_calls: [{ index: 0, id: 'call_shell1', type: 'function', function: { name: 'exec_command', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, 9) } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(9) } }] }),
      chunk({}, 'tool_calls'),
      usageChunk(900, 30),
      DONE,
    ].join('');
  }
  const text = typeof output.content === 'string' && output.content.includes('sluice-42') ? ANSWER : 'The tool output was missing.';
  return [chunk({ role: 'assistant', content: '' }), chunk({ content: text.slice(0, 12) }), chunk({ content: text.slice(12) }), chunk({}, 'stop'), usageChunk(950, 9), DONE].join('');
}

function anthropicEvent(type: string, body: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...body })}\n\n`;
}

/** The same model over the Anthropic Messages protocol: thinking + tool_use, then text after the tool_result. */
function anthropicModel(req: RecordedRequest): string {
  const messages = req.body.messages as Array<{ role: string; content: Array<{ type: string; content?: unknown }> }>;
  const result = messages.flatMap((m) => m.content).find((b) => b.type === 'tool_result');
  const start = anthropicEvent('message_start', { message: { id: 'msg_codex', type: 'message', role: 'assistant', content: [], model: 'claude-test', stop_reason: null, stop_sequence: null, usage: { input_tokens: 900, output_tokens: 1 } } });
  const end = (reason: string): string => anthropicEvent('message_delta', { delta: { stop_reason: reason, stop_sequence: null }, usage: { output_tokens: 30 } }) + anthropicEvent('message_stop', {});
  if (result === undefined) {
    const args = JSON.stringify({ cmd: COMMAND, login: false, yield_time_ms: 5000 });
    return (
      start +
      anthropicEvent('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }) +
      anthropicEvent('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: THOUGHT } }) +
      anthropicEvent('content_block_stop', { index: 0 }) +
      anthropicEvent('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_shell1', name: 'exec_command', input: {} } }) +
      anthropicEvent('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: args.slice(0, 7) } }) +
      anthropicEvent('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: args.slice(7) } }) +
      anthropicEvent('content_block_stop', { index: 1 }) +
      end('tool_use')
    );
  }
  const text = JSON.stringify(result.content).includes('sluice-42') ? ANSWER : 'The tool output was missing.';
  return (
    start +
    anthropicEvent('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
    anthropicEvent('content_block_delta', { index: 0, delta: { type: 'text_delta', text } }) +
    anthropicEvent('content_block_stop', { index: 0 }) +
    end('end_turn')
  );
}

/** Every answer Sluice gave Codex: a 200 Responses stream the validators (ours and the SDK's) accept. */
function validateExchanges(exchanges: Exchange[]): Array<Record<string, unknown>> {
  expect(exchanges.length).toBeGreaterThan(0);
  return exchanges.map((x) => {
    expect(x).toMatchObject({ method: 'POST', url: '/v1/responses', status: 200 });
    expect(x.responseHeaders['content-type']).toMatch(/^text\/event-stream/);
    return validateSequence(parseResponsesStream(x.responseBody));
  });
}

function explain(run: CodexRun): string {
  return `codex exited ${String(run.code)}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

async function codexThroughProxy(gateway: RunningGateway, model: string, prompt: string, config?: string): Promise<{ run: CodexRun; exchanges: Exchange[] }> {
  const proxy = await startRecordingProxy(gateway.url);
  scope.defer(() => proxy.close());
  const run = await runCodex(codex, { origin: proxy.origin, model, prompt, config });
  return { run, exchanges: proxy.exchanges };
}

describe(`codex exec ${CODEX_VERSION} through Sluice`, () => {
  it('over an OpenAI-chat-type upstream: runs its shell tool, sends the output back, prints the answer', async () => {
    const upstream = await scope.upstream((req, res) => {
      sseHead(res);
      res.end(chatModel(req));
    });
    const gateway = await scope.gateway(`providers:\n  - {name: chat, type: openai, base_url: "${upstream.url}", api_key: sk-up, max_retries: 0}\n`);
    const { run, exchanges } = await codexThroughProxy(gateway, 'chat/agent-model', 'Run the command and tell me what it printed.');
    expect(run.code, explain(run)).toBe(0);
    expect(run.stdout).toContain(ANSWER);
    // Codex shows chat reasoning as its "thinking" (a reasoning summary).
    expect(run.stderr).toContain(THOUGHT);

    expect(upstream.requests).toHaveLength(2);
    const [first, second] = upstream.requests as [RecordedRequest, RecordedRequest];
    expect(first.headers.authorization).toBe('Bearer sk-up');
    // Codex's tools, as chat functions: namespace members flattened, the hosted web_search dropped.
    const tools = (first.body.tools as Array<{ type: string; function: { name: string } }>).map((t) => [t.type, t.function.name]);
    expect(tools).toContainEqual(['function', 'exec_command']);
    expect(tools).toContainEqual(['function', 'multi_agent_v1__spawn_agent']);
    expect(tools.every(([type]) => type === 'function')).toBe(true);
    expect(messagesOf(first)[0]?.role).toBe('system');
    expect(messagesOf(first).filter((m) => m.role === 'system')).toHaveLength(1);
    // The second turn carries the call and its output as chat history.
    const history = messagesOf(second);
    const call = history.find((m) => m.tool_calls !== undefined);
    expect(call?.tool_calls?.[0]).toMatchObject({ id: 'call_shell1', function: { name: 'exec_command' } });
    expect(JSON.parse(call?.tool_calls?.[0]?.function.arguments ?? '')).toMatchObject({ cmd: COMMAND });
    const output = history.find((m) => m.role === 'tool');
    expect(output?.tool_call_id).toBe('call_shell1');
    expect(output?.content).toContain('sluice-42');

    const [turn1, turn2] = validateExchanges(exchanges);
    expect((turn1?.output as Array<{ type: string }>).map((o) => o.type)).toEqual(['reasoning', 'function_call']);
    expect((turn2?.output as Array<{ type: string }>).map((o) => o.type)).toEqual(['message']);
    for (const x of exchanges) expect(x.responseHeaders['x-sluice-dropped-tools']).toBe('web_search');
    expect(accessLines(gateway).at(-1)).toMatchObject({ api: '/v1/responses', provider: 'chat', dropped_tools: ['web_search'] });
  });

  it('over an Anthropic-type upstream: the same turn through the Messages protocol', async () => {
    const upstream = await scope.upstream((req, res) => {
      sseHead(res);
      res.end(anthropicModel(req));
    });
    const gateway = await scope.gateway(`providers:\n  - {name: claude, type: anthropic, base_url: "${upstream.url}", api_key: sk-ant, max_retries: 0}\n`);
    const { run, exchanges } = await codexThroughProxy(gateway, 'claude/claude-test', 'Run the command and tell me what it printed.');
    expect(run.code, explain(run)).toBe(0);
    expect(run.stdout).toContain(ANSWER);
    expect(run.stderr).toContain(THOUGHT);
    expect(upstream.requests).toHaveLength(2);
    expect(upstream.requests[0]?.url).toBe('/v1/messages');
    const second = upstream.requests[1]?.body as { messages: Array<{ role: string; content: Array<Record<string, unknown>> }> };
    const blocks = second.messages.flatMap((m) => m.content.map((b) => ({ role: m.role, ...b })));
    expect(blocks).toContainEqual(expect.objectContaining({ role: 'assistant', type: 'tool_use', id: 'toolu_shell1', name: 'exec_command' }));
    expect(blocks).toContainEqual(expect.objectContaining({ role: 'user', type: 'tool_result', tool_use_id: 'toolu_shell1' }));
    validateExchanges(exchanges);
  });

  it("the README's config.toml over the embedded default config's mock provider: a plain answer, no tool call", async () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const snippet = /```toml\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('## Codex CLI')))?.[1];
    expect(snippet).toContain('wire_api = "responses"');
    const gateway = await scope.gateway(readFileSync(join(REPO_ROOT, 'config/default.yaml'), 'utf8'));
    const { run, exchanges } = await codexThroughProxy(gateway, 'echo', 'Say hello through Sluice', snippet);
    expect(run.code, explain(run)).toBe(0);
    // The mock answers with the last user message.
    expect(run.stdout).toContain('Say hello through Sluice');
    const [only] = validateExchanges(exchanges);
    expect((only?.output as Array<{ type: string }>).map((o) => o.type)).toEqual(['message']);
  });
});
