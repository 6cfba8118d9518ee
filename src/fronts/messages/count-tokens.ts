import type { MessagesRequest } from './request.js';

/**
 * Tokens an image costs in the estimate: Anthropic's figure for an image of about 1.15 megapixels,
 * the largest it takes without resizing (width × height / 750).
 */
export const IMAGE_TOKENS = 1600;

/** Characters per token in the estimate: the same rule as the access log's usage estimate. */
const CHARS_PER_TOKEN = 4;

/**
 * `/v1/messages/count_tokens` for a route that does not go to an Anthropic-type upstream: an
 * estimate, not a tokenizer's count. Characters / 4 over the system prompt, every block's text,
 * tool-use inputs and tool results, thinking text and the tool definitions (as JSON), plus
 * IMAGE_TOKENS per image. Good for budgeting a context window, not for billing.
 */
export function estimateInputTokens(request: MessagesRequest): number {
  let chars = 0;
  let images = 0;
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      chars += value.length;
      return;
    }
    if (!Array.isArray(value)) return;
    for (const raw of value) {
      if (raw === null || typeof raw !== 'object') continue;
      const b = raw as Record<string, unknown>;
      if (b.type === 'image') images++;
      else if (b.type === 'text') visit(b.text);
      else if (b.type === 'thinking') visit(b.thinking);
      else if (b.type === 'tool_use') chars += JSON.stringify(b.input ?? {}).length + String(b.name ?? '').length;
      else if (b.type === 'tool_result') visit(b.content);
    }
  };
  visit(request.system ?? undefined);
  for (const message of request.messages) visit(message.content);
  if (request.tools) chars += JSON.stringify(request.tools).length;
  return Math.ceil(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS;
}
