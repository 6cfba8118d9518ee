import { z } from 'zod';
import { badRequest } from '../../core/errors.js';
import type { ChatRequest } from '../../core/types.js';
import { issueError } from '../../core/zod-path.js';

// Loose objects: every field Sluice does not know (top_k, chat_template_kwargs, ...) is kept and forwarded.
const message = z.looseObject({ role: z.string().min(1, 'must be a non-empty string') });

const chatRequestSchema = z.looseObject({
  model: z.string({ error: 'is required and must be a string' }).min(1, 'must not be empty'),
  messages: z.array(message, { error: 'is required and must be an array of messages' }).min(1, 'must contain at least one message'),
  stream: z.boolean({ error: 'must be a boolean' }).nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean({ error: 'must be a boolean' }).optional() }).nullish(),
  n: z.number({ error: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(128, 'must be at most 128').nullish(),
});

/** A request body -> ChatRequest, or a 400 whose `param` names the first bad field. */
export function parseChatRequest(body: unknown): ChatRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The request body must be a JSON object with "model" and "messages".');
  }
  const result = chatRequestSchema.safeParse(body);
  if (result.success) return result.data as ChatRequest;
  throw issueError(result.error.issues[0]);
}
