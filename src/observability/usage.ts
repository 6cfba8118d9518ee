import { textOf } from '../providers/content.js';
import type { ChatCompletion, ChatRequest, Usage } from '../core/types.js';

/**
 * Upstream usage is the truth (Sluice always asks for it). When an upstream gives none, tokens are
 * estimated as characters / 4, and the log line says `usage_estimated`, never a silent zero.
 */
export function estimateUsage(request: ChatRequest, completionChars: number): Usage {
  let promptChars = 0;
  for (const message of request.messages) promptChars += textOf(message.content).length;
  const prompt = Math.ceil(promptChars / 4);
  const completion = Math.ceil(completionChars / 4);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Characters of generated text in a whole completion (content, reasoning, tool arguments). */
export function completionChars(completion: ChatCompletion): number {
  let n = 0;
  for (const choice of completion.choices) {
    const m = choice.message;
    n += (m.content?.length ?? 0) + (typeof m.reasoning_content === 'string' ? m.reasoning_content.length : 0) + (typeof m.reasoning === 'string' ? m.reasoning.length : 0);
    for (const call of m.tool_calls ?? []) n += call.function.arguments.length;
  }
  return n;
}
