import type { Adapter } from '../adapter.js';
import { Aggregator } from '../../streaming/aggregate.js';
import type { ChatCompletion } from '../../core/types.js';
import { parseGeminiError } from './error.js';
import { buildGeminiRequest, geminiHeaders } from './request.js';
import { endGeminiStream, initGeminiStream, parseGeminiEvent, type GeminiStreamState } from './stream.js';
import { upstreamInvalid } from '../../core/errors.js';

/** A whole GenerateContentResponse is one stream event: translate it the same way and fold it. */
function parseGeminiResponse(body: unknown): ChatCompletion {
  if (body === null || typeof body !== 'object') throw upstreamInvalid('the Gemini response is not a JSON object');
  const state = initGeminiStream();
  const events = [...parseGeminiEvent({ data: JSON.stringify(body) }, state), ...endGeminiStream(state)];
  const aggregator = new Aggregator();
  for (const event of events) {
    if (event.type === 'error') throw event.error;
    if (event.type === 'chunk' && event.chunk !== undefined) aggregator.add(event.chunk);
  }
  if (!aggregator.allChoicesFinished) throw upstreamInvalid('the Gemini response has no finished candidate');
  return aggregator.result();
}

/** `type: gemini`: generateContent and streamGenerateContent?alt=sse. */
export const geminiAdapter: Adapter<GeminiStreamState> = {
  buildRequest: buildGeminiRequest,
  headers: geminiHeaders,
  initStream: initGeminiStream,
  parseEvent: parseGeminiEvent,
  endStream: endGeminiStream,
  parseResponse: parseGeminiResponse,
  parseError: parseGeminiError,
};
