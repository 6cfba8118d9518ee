import type { AssistantMessage, ChatCompletion, ChatCompletionChunk, ChunkChoice, CompletionChoice, Logprobs, ToolCall, ToolCallDelta, Usage } from '../core/types.js';

/** Delta keys with their own rules; every other key is an extension (strings concatenate). */
const KNOWN_DELTA_KEYS = new Set(['role', 'content', 'refusal', 'tool_calls', 'function_call']);
/** Top-level chunk keys handled explicitly or dropped (`obfuscation` is padding, never aggregated). */
const KNOWN_TOP_KEYS = new Set(['id', 'object', 'created', 'model', 'system_fingerprint', 'service_tier', 'choices', 'usage', 'obfuscation']);

interface ToolCallState {
  index: number;
  id: string;
  type: string;
  name: string;
  args: string[];
  extra: Record<string, unknown>;
}

interface ChoiceState {
  index: number;
  role: string;
  content: string[];
  refusal: string[];
  /** Extension fields: strings are collected as parts, arrays appended, others last-wins. */
  strings: Map<string, string[]>;
  arrays: Map<string, unknown[]>;
  others: Map<string, unknown>;
  tools: Map<number, ToolCallState>;
  functionCall: { name: string; args: string[] } | undefined;
  logContent: unknown[] | undefined;
  logRefusal: unknown[] | undefined;
  finishReason: string | null;
  extra: Record<string, unknown>;
}

function isReal(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '' && value !== 0;
}

/**
 * Sink B: folds chat.completion.chunks into one chat.completion. Pure and linear: text arrives as
 * parts joined once in result(). Choices are keyed by `index`, tool calls by their `index`.
 */
export class Aggregator {
  private id = '';
  private created = 0;
  private model = '';
  private systemFingerprint: string | null | undefined;
  private serviceTier: string | null | undefined;
  private usage: Usage | undefined;
  private readonly top: Record<string, unknown> = {};
  private readonly choices = new Map<number, ChoiceState>();

  /**
   * A plain content chunk's content, for a chunk the stream's scanner vouched for (core/chunk-scan.ts):
   * the chunk it learned from was added whole, and everything else this one carries is the same.
   */
  addContent(index: number, content: string): void {
    if (content !== '') this.choice(index).content.push(content);
  }

  add(chunk: ChatCompletionChunk): void {
    // Empty strings, zeros and nulls never overwrite a real value (Azure's opening chunk has them).
    if (isReal(chunk.id) && this.id === '') this.id = chunk.id;
    if (isReal(chunk.created) && this.created === 0) this.created = chunk.created;
    if (isReal(chunk.model) && this.model === '') this.model = chunk.model;
    if (isReal(chunk.system_fingerprint)) this.systemFingerprint = chunk.system_fingerprint;
    else if (this.systemFingerprint === undefined && chunk.system_fingerprint === null) this.systemFingerprint = null;
    if (isReal(chunk.service_tier)) this.serviceTier = chunk.service_tier;
    if (chunk.usage) this.usage = chunk.usage;
    for (const key in chunk) {
      if (KNOWN_TOP_KEYS.has(key)) continue;
      const value = chunk[key];
      if (value !== null && value !== undefined) this.top[key] = value;
    }
    const choices = chunk.choices;
    if (!Array.isArray(choices)) return;
    for (let i = 0; i < choices.length; i++) this.addChoice(choices[i] as ChunkChoice);
  }

  get allChoicesFinished(): boolean {
    if (this.choices.size === 0) return false;
    for (const choice of this.choices.values()) if (choice.finishReason === null) return false;
    return true;
  }

  private choice(index: number): ChoiceState {
    let state = this.choices.get(index);
    if (state === undefined) {
      state = {
        index,
        role: 'assistant',
        content: [],
        refusal: [],
        strings: new Map(),
        arrays: new Map(),
        others: new Map(),
        tools: new Map(),
        functionCall: undefined,
        logContent: undefined,
        logRefusal: undefined,
        finishReason: null,
        extra: {},
      };
      this.choices.set(index, state);
    }
    return state;
  }

  private addChoice(choice: ChunkChoice): void {
    const state = this.choice(typeof choice.index === 'number' ? choice.index : 0);
    const delta = choice.delta;
    if (delta !== null && typeof delta === 'object') {
      if (typeof delta.role === 'string' && delta.role !== '') state.role = delta.role;
      if (typeof delta.content === 'string' && delta.content !== '') state.content.push(delta.content);
      if (typeof delta.refusal === 'string' && delta.refusal !== '') state.refusal.push(delta.refusal);
      if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls) this.addToolCall(state, call);
      if (delta.function_call) {
        const fc = (state.functionCall ??= { name: '', args: [] });
        if (fc.name === '' && delta.function_call.name) fc.name = delta.function_call.name;
        if (delta.function_call.arguments) fc.args.push(delta.function_call.arguments);
      }
      for (const key in delta) {
        if (KNOWN_DELTA_KEYS.has(key)) continue;
        addExtension(state, key, delta[key]);
      }
    }
    const logprobs = choice.logprobs;
    if (logprobs) {
      if (Array.isArray(logprobs.content)) (state.logContent ??= []).push(...logprobs.content);
      if (Array.isArray(logprobs.refusal)) (state.logRefusal ??= []).push(...logprobs.refusal);
    }
    if (choice.finish_reason) state.finishReason = choice.finish_reason;
    for (const key in choice) {
      if (key === 'index' || key === 'delta' || key === 'logprobs' || key === 'finish_reason') continue;
      const value = choice[key];
      if (value !== null && value !== undefined) state.extra[key] = value;
    }
  }

  private addToolCall(state: ChoiceState, call: ToolCallDelta): void {
    const index = typeof call.index === 'number' ? call.index : state.tools.size;
    let tool = state.tools.get(index);
    if (tool === undefined) {
      tool = { index, id: '', type: '', name: '', args: [], extra: {} };
      state.tools.set(index, tool);
    }
    if (tool.id === '' && call.id) tool.id = call.id;
    if (tool.type === '' && call.type) tool.type = call.type;
    const fn = call.function;
    if (fn) {
      if (tool.name === '' && fn.name) tool.name = fn.name;
      if (fn.arguments) tool.args.push(fn.arguments);
    }
    for (const key in call) {
      if (key === 'index' || key === 'id' || key === 'type' || key === 'function') continue;
      if (call[key] !== null && call[key] !== undefined) tool.extra[key] = call[key];
    }
  }

  result(): ChatCompletion {
    const completion: ChatCompletion = {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices: [...this.choices.values()].sort((a, b) => a.index - b.index).map(choiceResult),
    };
    if (this.systemFingerprint !== undefined) completion.system_fingerprint = this.systemFingerprint;
    if (this.serviceTier !== undefined) completion.service_tier = this.serviceTier;
    if (this.usage !== undefined) completion.usage = this.usage;
    return { ...this.top, ...completion };
  }
}


function addExtension(state: ChoiceState, key: string, value: unknown): void {
  if (value === null || value === undefined) return;
  if (typeof value === 'string') {
    if (value === '') return;
    let parts = state.strings.get(key);
    if (parts === undefined) state.strings.set(key, (parts = []));
    parts.push(value);
  } else if (Array.isArray(value)) {
    let items = state.arrays.get(key);
    if (items === undefined) state.arrays.set(key, (items = []));
    items.push(...value);
  } else {
    state.others.set(key, value);
  }
}

function choiceResult(state: ChoiceState): CompletionChoice {
  const message: AssistantMessage = {
    role: state.role,
    content: state.content.length > 0 ? state.content.join('') : null,
    refusal: state.refusal.length > 0 ? state.refusal.join('') : null,
  };
  for (const [key, parts] of state.strings) message[key] = parts.join('');
  for (const [key, items] of state.arrays) message[key] = items;
  for (const [key, value] of state.others) message[key] = value;
  const tools = [...state.tools.values()].sort((a, b) => a.index - b.index);
  if (tools.length > 0) {
    message.tool_calls = tools.map(
      (t): ToolCall => ({ ...t.extra, id: t.id, type: t.type || 'function', function: { name: t.name, arguments: t.args.join('') } }),
    );
  }
  if (state.functionCall !== undefined) message.function_call = { name: state.functionCall.name, arguments: state.functionCall.args.join('') };
  let logprobs: Logprobs | null = null;
  if (state.logContent !== undefined || state.logRefusal !== undefined) logprobs = { content: state.logContent ?? null, refusal: state.logRefusal ?? null };
  return { ...state.extra, index: state.index, message, logprobs, finish_reason: finishReason(state, tools.length > 0) };
}

/** The last finish_reason; absent or "stop" with tool calls means "tool_calls" (legacy: "function_call"). */
function finishReason(state: ChoiceState, hasTools: boolean): string {
  const given = state.finishReason;
  if (hasTools && (given === null || given === 'stop')) return 'tool_calls';
  if (state.functionCall !== undefined && (given === null || given === 'stop')) return 'function_call';
  return given ?? 'stop';
}

export function aggregate(chunks: Iterable<ChatCompletionChunk>): ChatCompletion {
  const aggregator = new Aggregator();
  for (const chunk of chunks) aggregator.add(chunk);
  return aggregator.result();
}
