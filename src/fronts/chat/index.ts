import type { ChatCompletion } from '../../core/types.js';
import type { Front, FrontRequest } from '../front.js';
import { openaiClientKey, openaiErrorReply } from '../openai.js';
import { parseChatRequest } from './request.js';
import { ChatSseSink, chatErrorEvent } from './sink.js';

/** POST /v1/chat/completions: the canonical request itself, so parsing is validation only. */
export const chatFront: Front = {
  name: 'chat',
  paths: ['/v1/chat/completions'],
  clientKey: openaiClientKey,
  parse(body: unknown): FrontRequest {
    const chat = parseChatRequest(body);
    return {
      chat,
      sink: (writer, tally) => new ChatSseSink(writer, chat.stream_options?.include_usage === true, tally),
      // What the adapter did not change goes out as the upstream sent it, not re-serialised.
      complete: (completion: ChatCompletion, upstreamText: string | undefined) => upstreamText ?? JSON.stringify(completion),
    };
  },
  errorReply: openaiErrorReply,
  errorEvent: chatErrorEvent,
};
