import { expect } from 'vitest';

export interface AnthropicEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Splits Anthropic SSE text into events; every event has an `event:` line equal to its JSON `type`. */
export function parseEvents(text: string): AnthropicEvent[] {
  const out: AnthropicEvent[] = [];
  for (const frame of text.split('\n\n')) {
    if (frame.trim() === '') continue;
    const lines = frame.split('\n');
    const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
    const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
    expect(event, `frame without an event line: ${frame}`).toBeDefined();
    expect(data, `frame without data: ${frame}`).toBeDefined();
    const parsed = JSON.parse(data as string) as Record<string, unknown>;
    expect(parsed.type).toBe(event);
    out.push({ event: event as string, data: parsed });
  }
  return out;
}

const DELTA_FOR: Record<string, string[]> = { text: ['text_delta', 'citations_delta'], thinking: ['thinking_delta', 'signature_delta'], tool_use: ['input_json_delta'] };

/**
 * Checks Anthropic's event grammar: message_start first; blocks one at a time with indexes 0, 1, 2...;
 * each delta of its block's kind; message_delta then message_stop last (or an error event last).
 * Returns the message the events build, as the SDK's accumulator would.
 */
export function validateSequence(events: AnthropicEvent[]): Record<string, unknown> {
  const kinds = events.filter((e) => e.event !== 'ping').map((e) => e.event);
  expect(kinds[0]).toBe('message_start');
  const message = structuredClone((events[0] as AnthropicEvent).data.message) as Record<string, unknown> & { content: Array<Record<string, unknown>>; usage: Record<string, unknown> };
  let open: number | undefined;
  let next = 0;
  let ended = false;
  const json: string[] = [];
  for (const { event, data } of events.slice(1)) {
    expect(ended, `${event} after the end`).toBe(false);
    switch (event) {
      case 'ping':
        break;
      case 'content_block_start':
        expect(open, 'a block started while another is open').toBeUndefined();
        expect(data.index).toBe(next);
        open = next++;
        message.content.push(structuredClone(data.content_block) as Record<string, unknown>);
        json[open] = '';
        break;
      case 'content_block_delta': {
        expect(data.index).toBe(open);
        const block = message.content[open as number] as Record<string, unknown>;
        const delta = data.delta as Record<string, string>;
        expect(DELTA_FOR[block.type as string]).toContain(delta.type);
        if (delta.type === 'text_delta') block.text = (block.text as string) + delta.text;
        if (delta.type === 'thinking_delta') block.thinking = (block.thinking as string) + delta.thinking;
        if (delta.type === 'signature_delta') block.signature = delta.signature;
        if (delta.type === 'input_json_delta') json[open as number] = `${json[open as number] ?? ''}${delta.partial_json ?? ''}`;
        break;
      }
      case 'content_block_stop': {
        expect(data.index).toBe(open);
        const block = message.content[open as number] as Record<string, unknown>;
        if (block.type === 'tool_use' && json[open as number] !== '') block.input = JSON.parse(json[open as number] as string);
        open = undefined;
        break;
      }
      case 'message_delta':
        expect(open, 'message_delta with a block open').toBeUndefined();
        Object.assign(message, data.delta);
        Object.assign(message.usage, data.usage);
        break;
      case 'message_stop':
      case 'error':
        ended = true;
        if (event === 'error') message.error = data.error;
        break;
      default:
        throw new Error(`unexpected event ${event}`);
    }
  }
  expect(ended, 'the stream has no message_stop or error').toBe(true);
  return message;
}
