import { isJsonObject, tryParseJson } from '../../core/json.js';
import { upstreamErrorEvent, upstreamInvalid } from '../../core/errors.js';
import type { ChatCompletionChunk, ChunkDelta, Usage } from '../../core/types.js';
import { geminiStreamError } from './error.js';
import type { SseEvent, StreamEvent } from '../../core/events.js';

interface Candidate {
  index?: number;
  content?: { parts?: Array<{ text?: string; thought?: boolean; functionCall?: { name?: string; args?: unknown } }> };
  finishReason?: string;
}

interface GenerateContentResponse {
  candidates?: Candidate[];
  usageMetadata?: { promptTokenCount?: number; candidatesTokenCount?: number; thoughtsTokenCount?: number; cachedContentTokenCount?: number; totalTokenCount?: number };
  modelVersion?: string;
  responseId?: string;
  error?: unknown;
}

export interface GeminiStreamState {
  id: string;
  created: number;
  model: string;
  /** Per candidate: role chunk sent, tool calls so far, finished. */
  started: Set<number>;
  toolCalls: Map<number, number>;
  finished: Set<number>;
  usage: Usage | undefined;
}

export function initGeminiStream(): GeminiStreamState {
  return { id: '', created: 0, model: '', started: new Set(), toolCalls: new Map(), finished: new Set(), usage: undefined };
}

const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'LANGUAGE']);

function chunkOf(state: GeminiStreamState, index: number, delta: ChunkDelta, finish: string | null = null): StreamEvent {
  const chunk: ChatCompletionChunk = { id: state.id, object: 'chat.completion.chunk', created: state.created, model: state.model, choices: [{ index, delta, logprobs: null, finish_reason: finish }] };
  return { type: 'chunk', chunk };
}

/** One `data:` GenerateContentResponse -> canonical chunks. usageMetadata is cumulative (last wins). */
export function parseGeminiEvent(event: SseEvent, state: GeminiStreamState): StreamEvent[] {
  const parsed = tryParseJson(event.data);
  if (!isJsonObject(parsed)) return [{ type: 'error', error: upstreamInvalid('a Gemini stream event is not a JSON object') }];
  const response = parsed as GenerateContentResponse;
  if (response.error) return [{ type: 'error', error: geminiStreamError(response.error) }];
  if (state.id === '') {
    state.id = `chatcmpl-${response.responseId ?? `gemini-${Date.now().toString(36)}`}`;
    state.created = Math.floor(Date.now() / 1000);
  }
  if (response.modelVersion) state.model = response.modelVersion;
  const out: StreamEvent[] = [];
  for (const candidate of response.candidates ?? []) {
    const index = candidate.index ?? 0;
    if (!state.started.has(index)) {
      state.started.add(index);
      out.push(chunkOf(state, index, { role: 'assistant', content: '' }));
    }
    for (const part of candidate.content?.parts ?? []) {
      if (part.functionCall) {
        const ordinal = state.toolCalls.get(index) ?? 0;
        state.toolCalls.set(index, ordinal + 1);
        // Gemini sends a call whole and without an id: a stable one is derived from the response.
        const id = `call_${state.id.slice('chatcmpl-'.length)}_${index}_${ordinal}`;
        out.push(chunkOf(state, index, { tool_calls: [{ index: ordinal, id, type: 'function', function: { name: part.functionCall.name ?? '', arguments: JSON.stringify(part.functionCall.args ?? {}) } }] }));
      } else if (typeof part.text === 'string' && part.text !== '') {
        out.push(chunkOf(state, index, part.thought ? { reasoning_content: part.text } : { content: part.text }));
      }
    }
    if (candidate.finishReason && candidate.finishReason !== 'FINISH_REASON_UNSPECIFIED') {
      if (candidate.finishReason === 'MALFORMED_FUNCTION_CALL') {
        out.push({ type: 'error', error: upstreamErrorEvent('Gemini produced a malformed function call.', 'server_error', 'malformed_function_call', 502, true) });
        continue;
      }
      state.finished.add(index);
      out.push(chunkOf(state, index, {}, finishReason(candidate.finishReason, (state.toolCalls.get(index) ?? 0) > 0)));
    }
  }
  if (response.usageMetadata) state.usage = openaiUsage(response.usageMetadata);
  return out;
}

/** No [DONE] in Gemini's SSE: EOF after a finishReason is the end; usage goes in its own chunk. */
export function endGeminiStream(state: GeminiStreamState): StreamEvent[] {
  if (state.finished.size === 0) return [];
  const out: StreamEvent[] = [];
  if (state.usage !== undefined) {
    out.push({ type: 'chunk', chunk: { id: state.id, object: 'chat.completion.chunk', created: state.created, model: state.model, choices: [], usage: state.usage } });
  }
  out.push({ type: 'done' });
  return out;
}

function finishReason(reason: string, calledTools: boolean): string {
  if (reason === 'MAX_TOKENS') return 'length';
  if (FILTERED.has(reason)) return 'content_filter';
  return calledTools ? 'tool_calls' : 'stop';
}

function openaiUsage(meta: NonNullable<GenerateContentResponse['usageMetadata']>): Usage {
  const prompt = meta.promptTokenCount ?? 0;
  const thoughts = meta.thoughtsTokenCount ?? 0;
  const completion = (meta.candidatesTokenCount ?? 0) + thoughts;
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: meta.totalTokenCount ?? prompt + completion };
  if (meta.cachedContentTokenCount !== undefined) usage.prompt_tokens_details = { cached_tokens: meta.cachedContentTokenCount };
  if (thoughts > 0) usage.completion_tokens_details = { reasoning_tokens: thoughts };
  return usage;
}
