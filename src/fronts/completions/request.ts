import { z } from 'zod';
import { badRequest } from '../../core/errors.js';
import type { ChatRequest } from '../../core/types.js';
import { issueError } from '../../core/zod-path.js';

const tokens = z.array(z.number().int('token ids must be integers'));

// A loose object: every field Sluice does not know (echo, best_of, suffix, vLLM's extras) is kept.
const textCompletionSchema = z.looseObject({
  model: z.string({ error: 'is required and must be a string' }).min(1, 'must not be empty'),
  prompt: z.union([z.string(), z.array(z.string()), tokens, z.array(tokens)], { error: 'is required: a string, a list of strings, a list of token ids, or a list of such lists' }),
  stream: z.boolean({ error: 'must be a boolean' }).nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean({ error: 'must be a boolean' }).optional() }).nullish(),
  n: z.number({ error: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(128, 'must be at most 128').nullish(),
});

function promptText(prompt: unknown): string {
  if (typeof prompt === 'string') return prompt;
  if (Array.isArray(prompt)) return prompt.map((p) => (Array.isArray(p) ? p.join(' ') : String(p))).join(' ');
  return '';
}

/**
 * A legacy completions body, in the pipeline's request type. `messages` holds the prompt's text
 * for the usage estimate and traces only: it is not enumerable, so the upstream body (built from
 * the request's own fields) never gets it.
 */
export function parseTextCompletionRequest(body: unknown): ChatRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The request body must be a JSON object with "model" and "prompt".');
  }
  const result = textCompletionSchema.safeParse(body);
  if (!result.success) throw issueError(result.error.issues[0]);
  const request = result.data as Record<string, unknown>;
  Object.defineProperty(request, 'messages', { value: [{ role: 'user', content: promptText(request.prompt) }], enumerable: false });
  return request as ChatRequest;
}
