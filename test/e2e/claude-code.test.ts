import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessLines, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { ensureClaudeCode, run } from '../helpers/claude-code.js';
import { chunk, DONE, sseHead, startUpstream, usageChunk, type FakeUpstream, type RecordedRequest } from '../helpers/upstream.js';

// The real Claude Code CLI (print mode) against Sluice, over a scripted OpenAI-type upstream: the
// model asks for Claude Code's Read tool, Claude Code runs it on a real file, sends the result
// back, and the model's final answer quotes it.

const SECRET = 'PELICAN-42';

interface ChatMessage {
  role: string;
  content?: unknown;
  tool_call_id?: string;
  tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
}

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p: { text?: string }) => p.text ?? '').join('');
  return '';
}

let workdir: string;
let home: string;
let upstream: FakeUpstream;
let gateway: RunningGateway;
let claude: string;

beforeAll(async () => {
  claude = await ensureClaudeCode();
  workdir = mkdtempSync(join(tmpdir(), 'sluice-cc-work-'));
  home = mkdtempSync(join(tmpdir(), 'sluice-cc-home-'));
  writeFileSync(join(workdir, 'notes.txt'), `Meeting notes.\nThe secret word is ${SECRET}.\n`);
  upstream = await startUpstream((req: RecordedRequest, res) => {
    const messages = req.body.messages as ChatMessage[];
    const hasTools = Array.isArray(req.body.tools) && req.body.tools.length > 0;
    const toolResult = messages.find((m) => m.role === 'tool');
    sseHead(res);
    if (hasTools && toolResult !== undefined) {
      // The second turn: the answer quotes what Claude Code's Read tool returned.
      const found = new RegExp(`secret word is ([A-Z]+-\\d+)`).exec(text(toolResult.content))?.[1] ?? 'not found';
      res.end([chunk({ role: 'assistant', content: '' }), chunk({ content: 'The secret word is ' }), chunk({ content: `${found}.` }), chunk({}, 'stop'), usageChunk(900, 8), DONE].join(''));
    } else if (hasTools) {
      // The first turn: a thought, a sentence, then a Read call whose arguments arrive in pieces.
      const args = JSON.stringify({ file_path: join(workdir, 'notes.txt') });
      res.end(
        [
          chunk({ role: 'assistant', content: null }),
          chunk({ reasoning_content: 'The user wants a word from a file; read it.' }),
          chunk({ content: 'Let me read the file.' }),
          chunk({ tool_calls: [{ index: 0, id: 'call_read_1', type: 'function', function: { name: 'Read', arguments: '' } }] }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, 10) } }] }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(10) } }] }),
          chunk({}, 'tool_calls'),
          usageChunk(800, 30),
          DONE,
        ].join(''),
      );
    } else {
      // Side requests without tools (titles, summaries): a short answer.
      res.end([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Reading notes' }), chunk({}, 'stop'), usageChunk(50, 2), DONE].join(''));
    }
  });
  // A route maps every claude-* name Claude Code asks for to the OpenAI-type upstream.
  gateway = await startGateway(`
server:
  api_keys: [{key: cc-key, name: claude-code}]
providers:
  - {name: openai, type: openai, base_url: "${upstream.url}", api_key: sk-up, models: [gpt-4o]}
routes:
  - {name: "claude-*", targets: [{model: openai/gpt-4o}]}
`);
}, 660_000);

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  for (const dir of [workdir, home]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Claude Code through Sluice', () => {
  it('runs a Read tool call and answers with what it read (exit 0, the answer in result)', async () => {
    const result = await run(claude, ['-p', 'What is the secret word in notes.txt? Read the file to find out.', '--output-format', 'json', '--allowedTools', 'Read'], {
      cwd: workdir,
      // A temp HOME and config dir: the machine's own Claude Code settings are never read or written.
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        CLAUDE_CONFIG_DIR: join(home, '.claude'),
        ANTHROPIC_BASE_URL: gateway.url,
        ANTHROPIC_API_KEY: 'cc-key',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      },
      timeoutMs: 120_000,
    });
    expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
    const output = JSON.parse(result.stdout) as { type: string; is_error: boolean; result: string; num_turns: number };
    expect(output.type).toBe('result');
    expect(output.is_error).toBe(false);
    expect(output.result).toContain(SECRET);

    // The tool really ran: its result (the file's text) reached the upstream as a tool message.
    const second = upstream.requests.find((r) => (r.body.messages as ChatMessage[]).some((m) => m.role === 'tool'));
    expect(second, 'no request carried a tool result').toBeDefined();
    const messages = (second as RecordedRequest).body.messages as ChatMessage[];
    const call = messages.find((m) => m.role === 'assistant' && m.tool_calls !== undefined)?.tool_calls?.[0];
    expect(call?.function.name).toBe('Read');
    expect(JSON.parse(call?.function.arguments ?? '{}')).toEqual({ file_path: join(workdir, 'notes.txt') });
    const tool = messages.find((m) => m.role === 'tool') as ChatMessage;
    expect(tool.tool_call_id).toBe('call_read_1');
    expect(text(tool.content)).toContain(`The secret word is ${SECRET}.`);

    // Every Messages request Claude Code made was served, under the client key's name.
    const lines = accessLines(gateway).filter((l) => l.api === '/v1/messages');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).toMatchObject({ status: 200, outcome: 'ok', client: 'claude-code', provider: 'openai' });
  }, 180_000);
});
