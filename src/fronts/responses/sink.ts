import type { SluiceError } from '../../core/errors.js';
import type { ChunkEvent } from '../../core/events.js';
import type { ChunkSink, UsageTally } from '../../core/sink.js';
import type { ChunkChoice, Usage } from '../../core/types.js';
import { chunkValue } from '../../streaming/inspect.js';
import type { SseWriter } from '../../streaming/sse-writer.js';
import type { ResponsesRequest } from './request.js';
import { ending, functionCallItem, messageItem, newId, outputTextPart, reasoningItem, responseShell, responsesUsage, type JsonRecord } from './response.js';

interface TextItem {
  kind: 'reasoning' | 'message';
  outputIndex: number;
  id: string;
  parts: string[];
}

interface CallItem {
  /** Undefined until the name is known: a call is announced only once it has a name. */
  outputIndex: number | undefined;
  id: string;
  callId: string;
  name: string;
  args: string[];
  done: boolean;
}

/** One Responses stream event: `event: <type>` and its JSON. */
function responsesEvent(type: string, body: JsonRecord): string {
  return `event: ${type}\ndata: ${JSON.stringify(body)}\n\n`;
}

function errorEventBody(error: SluiceError): JsonRecord {
  return { code: error.openaiCode ?? error.type, message: error.message, param: error.param };
}

/** The `error` event alone, for a stream that is not this sink's (a native passthrough's). */
export function responsesErrorEvent(error: SluiceError): string {
  return responsesEvent('error', { type: 'error', ...errorEventBody(error) });
}

/**
 * Sink for `/v1/responses` streams: canonical chat chunks -> the Responses event sequence, framed
 * `event: <type>` + `data: {"type",...,"sequence_number"}` with no `[DONE]`. Reasoning and text are
 * one open item at a time; function calls stay open (by chat tool index) until the end.
 */
export class ResponsesSink implements ChunkSink {
  private sequence = 0;
  private started = false;
  private finished = false;
  private nextIndex = 0;
  private readonly items: Array<{ index: number; item: JsonRecord }> = [];
  private open: TextItem | undefined;
  private readonly calls = new Map<number, CallItem>();
  private finishReason: string | null = null;
  private usage: Usage | undefined;
  private model: string;
  private readonly response: JsonRecord;

  constructor(
    private readonly writer: SseWriter,
    private readonly request: ResponsesRequest,
    private readonly record: UsageTally,
  ) {
    this.model = request.model;
    this.response = responseShell(request, newId('resp'), Math.floor(Date.now() / 1000), request.model);
  }

  get committed(): boolean {
    return this.writer.committed;
  }

  get finishedChoices(): number {
    return this.finishReason === null ? 0 : 1;
  }

  ping(): void {
    this.writer.ping();
  }

  write(events: ChunkEvent[]): Promise<void> | undefined {
    let out = this.start();
    for (const event of events) {
      const chunk = chunkValue(event);
      if (chunk.model && this.model === this.request.model) this.model = chunk.model;
      if (chunk.usage) this.usage = chunk.usage;
      for (const choice of chunk.choices) if (choice.index === 0) out += this.choice(choice);
    }
    return this.send(out);
  }

  end(): void {
    if (this.finished) return;
    let out = this.start() + this.closeAll();
    if (this.usage !== undefined) this.record.usage = this.usage;
    const { status, incomplete_details } = ending(this.finishReason);
    out += this.event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: this.snapshot({ status, incomplete_details, usage: responsesUsage(this.usage) }) });
    this.finish(out);
  }

  fail(error: SluiceError): void {
    if (this.finished) return;
    let out = this.start();
    out += this.event('error', errorEventBody(error));
    out += this.event('response.failed', { response: this.snapshot({ status: 'failed', error: { code: error.openaiCode ?? error.type, message: error.message } }) });
    this.finish(out);
  }

  private start(): string {
    if (this.started) return '';
    this.started = true;
    return this.event('response.created', { response: this.snapshot({}) }) + this.event('response.in_progress', { response: this.snapshot({}) });
  }

  private snapshot(extra: JsonRecord): JsonRecord {
    const output = [...this.items].sort((a, b) => a.index - b.index).map((entry) => entry.item);
    return { ...this.response, model: this.model, output, ...extra };
  }

  private event(type: string, body: JsonRecord): string {
    return responsesEvent(type, { type, sequence_number: this.sequence++, ...body });
  }

  private send(out: string): Promise<void> | undefined {
    if (out === '') return undefined;
    return this.writer.write(out);
  }

  private finish(out: string): void {
    this.finished = true;
    this.writer.end(out);
  }

  private choice(choice: ChunkChoice): string {
    let out = '';
    const delta = choice.delta ?? {};
    const reasoning = typeof delta.reasoning_content === 'string' ? delta.reasoning_content : typeof delta.reasoning === 'string' ? delta.reasoning : '';
    if (reasoning !== '') out += this.text('reasoning', reasoning);
    if (typeof delta.content === 'string' && delta.content !== '') {
      this.record.completionChars += delta.content.length;
      out += this.text('message', delta.content);
    }
    for (const call of delta.tool_calls ?? []) out += this.toolCall(call.index, call.id, call.function?.name, call.function?.arguments);
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    return out;
  }

  /** Text for the open reasoning or message item; a change of kind closes one item and opens the next. */
  private text(kind: TextItem['kind'], delta: string): string {
    let out = '';
    if (this.open?.kind !== kind) {
      out += this.closeText();
      const id = newId(kind === 'reasoning' ? 'rs' : 'msg');
      this.open = { kind, outputIndex: this.nextIndex++, id, parts: [] };
      const added = kind === 'reasoning' ? { id, type: 'reasoning', summary: [] } : messageItem(id, '', 'in_progress');
      const part = kind === 'reasoning' ? { type: 'reasoning_text', text: '' } : outputTextPart('');
      out += this.event('response.output_item.added', { output_index: this.open.outputIndex, item: added });
      out += this.event('response.content_part.added', { item_id: id, output_index: this.open.outputIndex, content_index: 0, part });
    }
    const open = this.open as TextItem;
    open.parts.push(delta);
    const body: JsonRecord = { item_id: open.id, output_index: open.outputIndex, content_index: 0, delta };
    if (kind === 'message') body.logprobs = [];
    return out + this.event(kind === 'reasoning' ? 'response.reasoning_text.delta' : 'response.output_text.delta', body);
  }

  private closeText(): string {
    const open = this.open;
    if (open === undefined) return '';
    this.open = undefined;
    const text = open.parts.join('');
    const at = { item_id: open.id, output_index: open.outputIndex, content_index: 0 };
    const item = open.kind === 'reasoning' ? reasoningItem(open.id, text) : messageItem(open.id, text);
    this.items.push({ index: open.outputIndex, item });
    if (open.kind === 'reasoning') {
      return (
        this.event('response.reasoning_text.done', { ...at, text }) +
        this.event('response.content_part.done', { ...at, part: { type: 'reasoning_text', text } }) +
        this.event('response.output_item.done', { output_index: open.outputIndex, item })
      );
    }
    return (
      this.event('response.output_text.done', { ...at, text, logprobs: [] }) +
      this.event('response.content_part.done', { ...at, part: outputTextPart(text) }) +
      this.event('response.output_item.done', { output_index: open.outputIndex, item })
    );
  }

  private toolCall(index: number, id: string | undefined, name: string | undefined, args: string | undefined): string {
    let out = '';
    let call = this.calls.get(index);
    if (call === undefined) {
      out += this.closeText();
      call = { outputIndex: undefined, id: newId('fc'), callId: id || newId('call'), name: '', args: [], done: false };
      this.calls.set(index, call);
    }
    if (id && call.outputIndex === undefined) call.callId = id;
    if (name && call.name === '') call.name = name;
    if (args) call.args.push(args);
    if (call.outputIndex === undefined) {
      if (call.name === '') return out; // a name that comes late: hold the arguments until it does
      out += this.announce(call);
      const held = call.args.join('');
      return held === '' ? out : out + this.event('response.function_call_arguments.delta', { item_id: call.id, output_index: call.outputIndex, delta: held });
    }
    return args ? out + this.event('response.function_call_arguments.delta', { item_id: call.id, output_index: call.outputIndex, delta: args }) : out;
  }

  private announce(call: CallItem): string {
    call.outputIndex = this.nextIndex++;
    return this.event('response.output_item.added', { output_index: call.outputIndex, item: functionCallItem(call.id, call.callId, call.name, '', 'in_progress') });
  }

  private closeAll(): string {
    let out = this.closeText();
    for (const call of this.calls.values()) {
      if (call.done) continue;
      call.done = true;
      if (call.outputIndex === undefined) out += this.announce(call);
      const args = call.args.join('');
      const item = functionCallItem(call.id, call.callId, call.name, args);
      this.items.push({ index: call.outputIndex as number, item });
      out += this.event('response.function_call_arguments.done', { item_id: call.id, output_index: call.outputIndex, arguments: args });
      out += this.event('response.output_item.done', { output_index: call.outputIndex, item });
    }
    return out;
  }
}
