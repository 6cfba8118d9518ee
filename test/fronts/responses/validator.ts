import { expect } from 'vitest';

export interface ResponsesEvent {
  type: string;
  sequence_number: number;
  [key: string]: unknown;
}

/** Parses `event: <type>\ndata: {...}` frames; the event line and the JSON type must agree. */
export function parseResponsesStream(text: string): ResponsesEvent[] {
  expect(text).not.toContain('[DONE]');
  return text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '' && !frame.startsWith(':'))
    .map((frame) => {
      const [eventLine, dataLine, ...rest] = frame.split('\n');
      expect(rest).toEqual([]);
      expect(eventLine).toMatch(/^event: /);
      expect(dataLine).toMatch(/^data: /);
      const event = JSON.parse((dataLine as string).slice('data: '.length)) as ResponsesEvent;
      expect(event.type).toBe((eventLine as string).slice('event: '.length));
      return event;
    });
}

interface Open {
  type: string;
  id: string;
  parts: Map<number, string>;
  text: Map<number, string>;
  args: string;
  done: boolean;
}

/**
 * Checks a whole event sequence the way the official SDK and API behave: created first; sequence
 * numbers 0..n; output_index 0,1,2.. in order of `added`; every added has its done; content parts
 * added before their deltas; deltas concatenate to the done text/arguments; the final response's
 * output holds the same items with the same ids; it ends with completed, incomplete or failed.
 */
export function validateSequence(events: ResponsesEvent[]): Record<string, unknown> {
  expect(events[0]?.type).toBe('response.created');
  expect(events[1]?.type).toBe('response.in_progress');
  events.forEach((e, i) => expect(e.sequence_number).toBe(i));
  const items = new Map<number, Open>();
  let failed = false;
  for (const e of events.slice(2, -1)) {
    const index = e.output_index as number;
    switch (e.type) {
      case 'response.output_item.added': {
        expect(index).toBe(items.size);
        const item = e.item as { id: string; type: string };
        items.set(index, { type: item.type, id: item.id, parts: new Map(), text: new Map(), args: '', done: false });
        break;
      }
      case 'response.content_part.added': {
        const item = items.get(index);
        expect(item?.done).toBe(false);
        expect(e.item_id).toBe(item?.id);
        item?.parts.set(e.content_index as number, (e.part as { type: string }).type);
        item?.text.set(e.content_index as number, '');
        break;
      }
      case 'response.output_text.delta':
      case 'response.reasoning_text.delta': {
        const item = items.get(index);
        expect(item?.done).toBe(false);
        expect(e.item_id).toBe(item?.id);
        expect(item?.parts.get(e.content_index as number)).toBe(e.type === 'response.output_text.delta' ? 'output_text' : 'reasoning_text');
        item?.text.set(e.content_index as number, (item.text.get(e.content_index as number) ?? '') + (e.delta as string));
        break;
      }
      case 'response.output_text.done':
      case 'response.reasoning_text.done':
        expect(e.text).toBe(items.get(index)?.text.get(e.content_index as number));
        break;
      case 'response.content_part.done':
        expect((e.part as { text: string }).text).toBe(items.get(index)?.text.get(e.content_index as number));
        break;
      case 'response.function_call_arguments.delta': {
        const item = items.get(index);
        expect(item?.type).toBe('function_call');
        expect(item?.done).toBe(false);
        expect(e.item_id).toBe(item?.id);
        (item as Open).args += e.delta as string;
        break;
      }
      case 'response.function_call_arguments.done':
        expect(e.arguments).toBe(items.get(index)?.args);
        break;
      case 'response.output_item.done': {
        const item = items.get(index);
        expect(item?.done).toBe(false);
        expect((e.item as { id: string }).id).toBe(item?.id);
        (item as Open).done = true;
        break;
      }
      case 'error':
        failed = true;
        break;
      default:
        throw new Error(`unexpected event ${e.type}`);
    }
  }
  const last = events.at(-1) as ResponsesEvent;
  const response = last.response as { status: string; output: Array<{ id: string; type: string; arguments?: string; content?: Array<{ text: string }> }> };
  if (failed) {
    expect(last.type).toBe('response.failed');
    expect(response.status).toBe('failed');
  } else {
    expect(['response.completed', 'response.incomplete']).toContain(last.type);
    for (const item of items.values()) expect(item.done).toBe(true);
    expect(response.output.map((o) => o.id)).toEqual([...items.values()].map((i) => i.id));
    response.output.forEach((o, i) => {
      const open = items.get(i) as Open;
      if (o.type === 'function_call') expect(o.arguments).toBe(open.args);
      else expect(o.content?.[0]?.text).toBe(open.text.get(0));
    });
  }
  return last.response as Record<string, unknown>;
}
