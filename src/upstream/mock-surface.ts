import { createHash } from 'node:crypto';
import type { UpstreamRequest } from '../providers/adapter.js';
import { float32Base64 } from '../providers/embeddings.js';
import type { Cancellation } from './cancellation.js';
import type { UpstreamResponse } from './client.js';

const encoder = new TextEncoder();
const DEFAULT_DIMENSIONS = 8;

/** A whole JSON answer. */
export function jsonResponse(status: number, value: unknown): UpstreamResponse {
  const bytes = encoder.encode(JSON.stringify(value));
  return {
    status,
    headers: { 'content-type': 'application/json' },
    body: (async function* (): AsyncGenerator<Uint8Array> {
      yield bytes;
    })(),
    destroy: () => undefined,
    release: () => undefined,
    buffered: () => false,
    bodyError: (err) => err,
  };
}

function invalid(message: string, param: string | null): UpstreamResponse {
  return jsonResponse(400, { error: { message: `mock: ${message}`, type: 'invalid_request_error', param, code: null } });
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== '');
}

/**
 * A unit vector that depends only on the text and the dimension count: the same input always
 * embeds the same, different inputs (almost surely) differently.
 */
export function mockVector(text: string, dimensions: number): number[] {
  const values: number[] = [];
  let block = Buffer.alloc(0);
  for (let i = 0; values.length < dimensions; i++) {
    if (i % 8 === 0) block = createHash('sha256').update(`${i / 8}:${text}`).digest();
    values.push(block.readInt32LE((i % 8) * 4) / 2 ** 31);
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((v) => v / norm);
}

/** The mock's POST /embeddings: deterministic vectors, float or base64, usage as word counts. */
export function mockEmbeddings(request: UpstreamRequest): UpstreamResponse {
  let body: { model?: unknown; input?: unknown; encoding_format?: unknown; dimensions?: unknown };
  try {
    body = JSON.parse(request.body ?? '{}') as typeof body;
  } catch {
    return invalid('the body is not JSON', null);
  }
  const input = body.input;
  const items: unknown[] = Array.isArray(input) && (input.length === 0 || typeof input[0] !== 'number') ? input : [input];
  if (items.length === 0 || !items.every((item) => typeof item === 'string' || (Array.isArray(item) && item.every((t) => typeof t === 'number')))) {
    return invalid("'input' must be a string, a list of strings or token ids", 'input');
  }
  const dimensions = typeof body.dimensions === 'number' && body.dimensions > 0 ? Math.floor(body.dimensions) : DEFAULT_DIMENSIONS;
  let tokens = 0;
  const data = items.map((item, index) => {
    const text = typeof item === 'string' ? item : (item as number[]).join(' ');
    tokens += typeof item === 'string' ? words(item).length : (item as number[]).length;
    const vector = mockVector(text, dimensions);
    const embedding = body.encoding_format === 'base64' ? float32Base64(vector) : vector;
    return { object: 'embedding', index, embedding };
  });
  return jsonResponse(200, { object: 'list', data, model: typeof body.model === 'string' ? body.model : 'mock', usage: { prompt_tokens: tokens, total_tokens: tokens } });
}

/** The mock's legacy POST /completions: echoes the prompt word by word, as SSE or one JSON text_completion. */
export function mockTextCompletion(request: UpstreamRequest, signal: Cancellation, delayMs: number): UpstreamResponse {
  let body: { model?: unknown; prompt?: unknown; stream?: unknown };
  try {
    body = JSON.parse(request.body ?? '{}') as typeof body;
  } catch {
    return invalid('the body is not JSON', null);
  }
  const prompt = Array.isArray(body.prompt) ? body.prompt.join(' ') : typeof body.prompt === 'string' ? body.prompt : '';
  const pieces = words(prompt).map((w, i) => (i === 0 ? w : ` ${w}`));
  const usage = { prompt_tokens: pieces.length, completion_tokens: pieces.length, total_tokens: 2 * pieces.length };
  const id = `cmpl-mock-${pieces.length}`;
  const created = 1_700_000_000;
  const model = typeof body.model === 'string' ? body.model : 'mock';
  if (body.stream !== true) {
    return jsonResponse(200, { id, object: 'text_completion', created, model, choices: [{ text: pieces.join(''), index: 0, logprobs: null, finish_reason: 'stop' }], usage });
  }
  const frame = (text: string, finish: string | null): string => `data: ${JSON.stringify({ id, object: 'text_completion', created, model, choices: [{ text, index: 0, logprobs: null, finish_reason: finish }] })}\n\n`;
  async function* events(): AsyncGenerator<Uint8Array> {
    for (const piece of pieces) {
      if (delayMs > 0) await signal.sleep(delayMs);
      yield encoder.encode(frame(piece, null));
    }
    yield encoder.encode(frame('', 'stop'));
    yield encoder.encode(`data: ${JSON.stringify({ id, object: 'text_completion', created, model, choices: [], usage })}\n\ndata: [DONE]\n\n`);
  }
  return { status: 200, headers: { 'content-type': 'text/event-stream' }, body: events(), destroy: () => undefined, release: () => undefined, buffered: () => false, bodyError: (err) => err };
}
