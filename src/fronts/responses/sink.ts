import type { SluiceError } from '../../core/errors.js';
import type { ChunkEvent } from '../../core/events.js';
import type { ChunkSink, UsageTally } from '../../core/sink.js';
import { reasoningText, type ChunkChoice, type Usage } from '../../core/types.js';
import { chunkValue } from '../../streaming/inspect.js';
import type { SseWriter } from '../../streaming/sse-writer.js';
import type { ResponsesRequest } from './request.js';
import { callIdPrefix, callItem, customInput, ending, messageItem, newId, outputTextPart, reasoningItem, responseShell, responsesUsage, wantsSummary, type JsonRecord } from './response.js';
import type { ToolNames, ToolOrigin } from './tools.js';

interface TextItem {
  kind: 'reasoning' | 'message';
  outputIndex: number;
  id: string;
  parts: string[];
}

interface CallItem {
  /** Undefined until the name is known: a call is announced only once it has a name. */
  outputIndex: number | undefined;
  /** Set when announced, from the kind of tool the name stands for. */
  id: string;
  /** The client's tool behind the chat function name; undefined for a plain function. */
  origin: ToolOrigin | undefined;
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
 * one open item at a time; function calls stay open (by chat tool index) until the end. Reasoning
 * goes out as summary parts when the client asked for a summary, else as reasoning_text content.
 * Calls of tools the client declared as namespace members, custom or local_shell tools go back as
 * such (tools.ts); a custom tool's input and a shell action are only known whole, at the end.
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
  private readonly summary: boolean;

  constructor(
    private readonly writer: SseWriter,
    private readonly request: ResponsesRequest,
    private readonly record: UsageTally,
    private readonly tools: ToolNames = new Map(),
  ) {
    this.model = request.model;
    this.summary = wantsSummary(request);
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
    const reasoning = reasoningText(delta);
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
      out += this.event('response.output_item.added', { output_index: this.open.outputIndex, item: added });
      const at = { item_id: id, output_index: this.open.outputIndex };
      if (kind === 'reasoning' && this.summary) out += this.event('response.reasoning_summary_part.added', { ...at, summary_index: 0, part: { type: 'summary_text', text: '' } });
      else out += this.event('response.content_part.added', { ...at, content_index: 0, part: kind === 'reasoning' ? { type: 'reasoning_text', text: '' } : outputTextPart('') });
    }
    const open = this.open as TextItem;
    open.parts.push(delta);
    const at = { item_id: open.id, output_index: open.outputIndex };
    if (kind === 'message') return out + this.event('response.output_text.delta', { ...at, content_index: 0, delta, logprobs: [] });
    if (this.summary) return out + this.event('response.reasoning_summary_text.delta', { ...at, summary_index: 0, delta });
    return out + this.event('response.reasoning_text.delta', { ...at, content_index: 0, delta });
  }

  private closeText(): string {
    const open = this.open;
    if (open === undefined) return '';
    this.open = undefined;
    const text = open.parts.join('');
    const at = { item_id: open.id, output_index: open.outputIndex, content_index: 0 };
    const item = open.kind === 'reasoning' ? reasoningItem(open.id, text, this.summary) : messageItem(open.id, text);
    this.items.push({ index: open.outputIndex, item });
    if (open.kind === 'reasoning' && this.summary) {
      const summary = { item_id: open.id, output_index: open.outputIndex, summary_index: 0 };
      return (
        this.event('response.reasoning_summary_text.done', { ...summary, text }) +
        this.event('response.reasoning_summary_part.done', { ...summary, part: { type: 'summary_text', text } }) +
        this.event('response.output_item.done', { output_index: open.outputIndex, item })
      );
    }
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
      call = { outputIndex: undefined, id: '', origin: undefined, callId: id || newId('call'), name: '', args: [], done: false };
      this.calls.set(index, call);
    }
    if (id && call.outputIndex === undefined) call.callId = id;
    if (name && call.name === '') call.name = name;
    if (args) call.args.push(args);
    if (call.outputIndex === undefined) {
      if (call.name === '') return out; // a name that comes late: hold the arguments until it does
      out += this.announce(call);
      const held = call.args.join('');
      return held === '' || !streamsArguments(call) ? out : out + this.event('response.function_call_arguments.delta', { item_id: call.id, output_index: call.outputIndex, delta: held });
    }
    return args && streamsArguments(call) ? out + this.event('response.function_call_arguments.delta', { item_id: call.id, output_index: call.outputIndex, delta: args }) : out;
  }

  private announce(call: CallItem): string {
    call.outputIndex = this.nextIndex++;
    call.origin = this.tools.get(call.name);
    call.id = newId(callIdPrefix(call.origin));
    return this.event('response.output_item.added', { output_index: call.outputIndex, item: callItem(call.id, call.callId, call.name, '', call.origin, 'in_progress') });
  }

  private closeAll(): string {
    let out = this.closeText();
    for (const call of this.calls.values()) {
      if (call.done) continue;
      call.done = true;
      if (call.outputIndex === undefined) out += this.announce(call);
      const args = call.args.join('');
      const item = callItem(call.id, call.callId, call.name, args, call.origin);
      this.items.push({ index: call.outputIndex as number, item });
      const at = { item_id: call.id, output_index: call.outputIndex };
      if (streamsArguments(call)) out += this.event('response.function_call_arguments.done', { ...at, arguments: args });
      else if (call.origin?.kind === 'custom') {
        const input = customInput(args);
        if (input !== '') out += this.event('response.custom_tool_call_input.delta', { ...at, delta: input });
        out += this.event('response.custom_tool_call_input.done', { ...at, input });
      }
      out += this.event('response.output_item.done', { output_index: call.outputIndex, item });
    }
    return out;
  }
}

/** Function calls stream their arguments; a custom tool's input and a shell action are read whole at the end. */
function streamsArguments(call: CallItem): boolean {
  return call.origin === undefined || call.origin.kind === 'function';
}
