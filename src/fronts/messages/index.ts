import type { IncomingHttpHeaders } from 'node:http';
import type { SluiceError } from '../../core/errors.js';
import type { ChatCompletion } from '../../core/types.js';
import { estimateUsage } from '../../observability/usage.js';
import { bearerKey, headerKey, type ErrorReply, type Front, type FrontRequest, type NativeRequest } from '../front.js';
import { estimateInputTokens } from './count-tokens.js';
import { anthropicErrorReply } from './errors.js';
import { completionToMessage, type AnswerOptions } from './message.js';
import { countTokensNative, messagesNative, NO_USAGE } from './native.js';
import { parseMessagesRequest, type ParsedMessages } from './request.js';
import { MessagesSink, messagesErrorEvent } from './stream.js';

/** `x-api-key`, as Anthropic's clients send it, or `Authorization: Bearer`. */
function clientKey(headers: IncomingHttpHeaders): string | undefined {
  return headerKey(headers, 'x-api-key') ?? bearerKey(headers);
}

function errorReply(error: SluiceError): ErrorReply {
  const out = anthropicErrorReply(error);
  return { status: out.status, headers: out.headers, body: JSON.stringify(out.body) };
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** What a native passthrough sends: the client's body (model replaced), Anthropic's headers as the client sent them, the query string (`?beta=true` from Claude Code). */
function nativeRequest(parsed: ParsedMessages, headers: IncomingHttpHeaders, url: string): NativeRequest {
  const passed: Record<string, string> = {};
  const version = header(headers, 'anthropic-version');
  const beta = header(headers, 'anthropic-beta');
  if (version !== undefined) passed['anthropic-version'] = version;
  if (beta !== undefined) passed['anthropic-beta'] = beta;
  const at = url.indexOf('?');
  return { body: (model) => JSON.stringify({ ...parsed.body, model }), headers: passed, query: at < 0 ? '' : url.slice(at) };
}

/**
 * POST /v1/messages: the Anthropic Messages API. Routes whose every target is an Anthropic-type
 * upstream are passed through natively (byte for byte); any other is translated to the canonical
 * chat request and its answer back into Anthropic's message and event shapes.
 */
export const messagesFront: Front = {
  name: 'messages',
  paths: ['/v1/messages'],
  prefix: '/v1/messages',
  clientKey,
  parse(body: unknown, headers: IncomingHttpHeaders, url: string): FrontRequest {
    const parsed = parseMessagesRequest(body);
    const options: AnswerOptions = {
      model: parsed.request.model,
      showThinking: parsed.showThinking,
      stopSequences: parsed.request.stop_sequences ?? [],
      estimate: (chars) => estimateUsage(parsed.chat, chars),
    };
    return {
      chat: parsed.chat,
      untranslatable: parsed.translationError,
      sink: (writer, tally) => new MessagesSink(writer, options, tally),
      complete: (completion: ChatCompletion) => JSON.stringify(completionToMessage(completion, options)),
      native: nativeRequest(parsed, headers, url),
    };
  },
  errorReply,
  errorEvent: messagesErrorEvent,
  native: messagesNative,
};

/**
 * POST /v1/messages/count_tokens: exact from an Anthropic-type upstream's own endpoint when the
 * route goes only there, else an estimate (see estimateInputTokens) in the same shape.
 */
export const countTokensFront: Front = {
  name: 'messages/count_tokens',
  paths: ['/v1/messages/count_tokens'],
  clientKey,
  parse(body: unknown, headers: IncomingHttpHeaders, url: string): FrontRequest {
    const parsed = parseMessagesRequest(body, true);
    parsed.chat.stream = false;
    return {
      chat: parsed.chat,
      sink: () => {
        throw new Error('count_tokens never streams');
      },
      complete: () => {
        throw new Error('count_tokens is answered locally or natively');
      },
      local: () => ({ body: JSON.stringify({ input_tokens: estimateInputTokens(parsed.request) }), usage: NO_USAGE }),
      native: nativeRequest(parsed, headers, url),
    };
  },
  errorReply,
  errorEvent: messagesErrorEvent,
  native: countTokensNative,
};
