import type { ChatCompletion, ChatCompletionChunk, ChunkChoice, ChunkDelta, CompletionChoice } from '../core/types.js';

export interface SynthesizeOptions {
  includeUsage: boolean;
}

const MESSAGE_KEYS = new Set(['role', 'content', 'refusal', 'tool_calls', 'function_call']);
const COMPLETION_KEYS = new Set(['id', 'object', 'created', 'model', 'choices', 'usage']);

/**
 * The reverse of aggregation, for an upstream that answered one JSON completion to a stream client:
 * per choice a role chunk, reasoning and other extensions, content, refusal, one delta per tool call
 * with its whole arguments, the finish chunk; then the usage chunk (`choices: []`) only if asked.
 * Every chunk carries the completion's id, created and model.
 */
export function synthesizeChunks(completion: ChatCompletion, options: SynthesizeOptions): ChatCompletionChunk[] {
  const base: Record<string, unknown> = {};
  for (const key in completion) if (!COMPLETION_KEYS.has(key) && completion[key] !== undefined) base[key] = completion[key];
  const make = (choices: ChunkChoice[]): ChatCompletionChunk => ({
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
    ...base,
    choices,
  });
  const chunks: ChatCompletionChunk[] = [];
  const ordered = [...(completion.choices ?? [])].sort((a, b) => a.index - b.index);
  for (const choice of ordered) {
    for (const choiceChunk of choiceChunks(choice)) chunks.push(make([choiceChunk]));
  }
  if (options.includeUsage && completion.usage) chunks.push({ ...make([]), usage: completion.usage });
  return chunks;
}

function choiceChunks(choice: CompletionChoice): ChunkChoice[] {
  const message = choice.message ?? { role: 'assistant', content: null, refusal: null };
  const index = choice.index;
  const toolCalls = message.tool_calls ?? [];
  const hasContent = typeof message.content === 'string' && message.content !== '';
  const out: ChunkChoice[] = [];
  const push = (delta: ChunkDelta, extra: Partial<ChunkChoice> = {}): void => {
    out.push({ index, delta, logprobs: null, finish_reason: null, ...extra });
  };
  push({ role: message.role || 'assistant', content: toolCalls.length > 0 && !hasContent ? null : '', refusal: null });
  const extensions: ChunkDelta = {};
  let hasExtensions = false;
  for (const key in message) {
    if (MESSAGE_KEYS.has(key) || message[key] === null || message[key] === undefined) continue;
    extensions[key] = message[key];
    hasExtensions = true;
  }
  // Reasoning and other extensions come before the answer, as reasoning models stream them.
  if (hasExtensions) push(extensions);
  const logprobs = choice.logprobs;
  if (hasContent || (logprobs && Array.isArray(logprobs.content) && logprobs.content.length > 0)) {
    push({ content: message.content ?? '' }, logprobs?.content ? { logprobs: { content: logprobs.content, refusal: null } } : {});
  }
  if (typeof message.refusal === 'string' && message.refusal !== '') {
    push({ refusal: message.refusal }, logprobs?.refusal ? { logprobs: { content: null, refusal: logprobs.refusal } } : {});
  }
  toolCalls.forEach((call, i) => {
    const { id, type, function: fn, ...rest } = call;
    push({ tool_calls: [{ ...rest, index: i, id, type, function: { name: fn.name, arguments: fn.arguments } }] });
  });
  if (message.function_call) push({ function_call: { name: message.function_call.name, arguments: message.function_call.arguments } });
  const choiceExtra: Record<string, unknown> = {};
  for (const key in choice) if (key !== 'index' && key !== 'message' && key !== 'logprobs' && key !== 'finish_reason') choiceExtra[key] = choice[key];
  push({}, { ...choiceExtra, finish_reason: choice.finish_reason ?? 'stop' });
  return out;
}
