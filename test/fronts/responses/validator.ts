import { accumulateResponse } from 'openai/lib/responses/ResponseAccumulator';
import type { Response, ResponseStreamEvent } from 'openai/resources/responses/responses';
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
  summary: string[];
  args: string;
  done: boolean;
}

/**
 * The official check: the openai SDK's own accumulator (what `responses.stream()` runs on every
 * event), which throws on an event that does not fit the snapshot so far. Its final snapshot must
 * hold the same output as the terminal event's response.
 */
export function officialAccumulate(events: ResponsesEvent[]): Response {
  let snapshot: Response | undefined;
  for (const event of events.slice(0, -1)) snapshot = accumulateResponse(event as unknown as ResponseStreamEvent, snapshot);
  const last = events.at(-1) as ResponsesEvent;
  const final = (last.response ?? {}) as { output?: unknown[] };
  expect(snapshot).toBeDefined();
  if (last.type !== 'response.failed') expect(JSON.parse(JSON.stringify((snapshot as Response).output))).toEqual(final.output);
  return accumulateResponse(last as unknown as ResponseStreamEvent, snapshot);
}

/**
 * Checks a whole event sequence the way the official SDK and API behave: created first; sequence
 * numbers 0..n; output_index 0,1,2.. in order of `added`; every added has its done; content parts
 * added before their deltas; deltas concatenate to the done text/arguments; the final response's
 * output holds the same items with the same ids; it ends with completed, incomplete or failed. Then
 * the SDK's own accumulator (officialAccumulate) must accept the sequence too.
 */
export function validateSequence(events: ResponsesEvent[]): Record<string, unknown> {
  officialAccumulate(events);
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
        items.set(index, { type: item.type, id: item.id, parts: new Map(), text: new Map(), summary: [], args: '', done: false });
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
      case 'response.reasoning_summary_part.added': {
        const item = items.get(index);
        expect(item?.type).toBe('reasoning');
        expect(item?.done).toBe(false);
        expect(e.item_id).toBe(item?.id);
        expect(e.summary_index).toBe(item?.summary.length);
        item?.summary.push('');
        break;
      }
      case 'response.reasoning_summary_text.delta': {
        const item = items.get(index) as Open;
        expect(item.done).toBe(false);
        expect(e.item_id).toBe(item.id);
        const at = e.summary_index as number;
        expect(item.summary[at]).toBeDefined();
        item.summary[at] += e.delta as string;
        break;
      }
      case 'response.reasoning_summary_text.done':
        expect(e.text).toBe(items.get(index)?.summary[e.summary_index as number]);
        break;
      case 'response.reasoning_summary_part.done':
        expect(e.part).toEqual({ type: 'summary_text', text: items.get(index)?.summary[e.summary_index as number] });
        break;
      case 'response.custom_tool_call_input.delta': {
        const item = items.get(index) as Open;
        expect(item.type).toBe('custom_tool_call');
        expect(item.done).toBe(false);
        expect(e.item_id).toBe(item.id);
        item.args += e.delta as string;
        break;
      }
      case 'response.custom_tool_call_input.done':
        expect(e.input).toBe(items.get(index)?.args);
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
  const response = last.response as { status: string; output: Array<{ id: string; type: string; arguments?: string; input?: string; content?: Array<{ text: string }>; summary?: Array<{ text: string }> }> };
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
      else if (o.type === 'custom_tool_call') expect(o.input).toBe(open.args);
      else if (o.type === 'reasoning' && open.summary.length > 0) expect(o.summary?.map((p) => p.text)).toEqual(open.summary);
      else expect(o.content?.[0]?.text).toBe(open.text.get(0));
    });
  }
  return last.response as Record<string, unknown>;
}
