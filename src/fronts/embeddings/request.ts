import { z } from 'zod';
import { badRequest } from '../../core/errors.js';
import { issueError } from '../../core/zod-path.js';
import type { EmbeddingsRequest } from '../../providers/embeddings.js';

const tokens = z.array(z.number().int('token ids must be integers'));

// A loose object: fields Sluice does not know (user, a provider's extra options) go upstream as sent.
const embeddingsRequestSchema = z.looseObject({
  model: z.string({ error: 'is required and must be a string' }).min(1, 'must not be empty'),
  input: z.union([z.string(), z.array(z.string()).min(1, 'must not be empty'), tokens.min(1, 'must not be empty'), z.array(tokens.min(1)).min(1, 'must not be empty')], {
    error: 'is required: a string, a list of strings, a list of token ids, or a list of such lists',
  }),
  encoding_format: z.enum(['float', 'base64'], { error: "must be 'float' or 'base64'" }).optional(),
  dimensions: z.number({ error: 'must be a number' }).int('must be an integer').positive('must be positive').optional(),
});

/** A request body -> EmbeddingsRequest, or a 400 whose `param` names the first bad field. */
export function parseEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The request body must be a JSON object with "model" and "input".');
  }
  const result = embeddingsRequestSchema.safeParse(body);
  if (result.success) return result.data as EmbeddingsRequest;
  throw issueError(result.error.issues[0]);
}

/** The input's text, for estimating tokens (characters / 4) when an upstream reports no usage. */
export function inputText(input: EmbeddingsRequest['input']): string {
  if (typeof input === 'string') return input;
  return input.map((item) => (typeof item === 'string' ? item : Array.isArray(item) ? item.join(' ') : String(item))).join(' ');
}
