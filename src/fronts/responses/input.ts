import { badRequest } from '../../core/errors.js';
import type { ChatMessage, ToolCall } from '../../core/types.js';
import { flatName, LOCAL_SHELL_FUNCTION } from './tools.js';

export type InputItem = { type?: string; role?: string; [key: string]: unknown };

/**
 * Items a Responses conversation can hold that only OpenAI's side can use (hosted tool calls and
 * their results, server-side compaction): a chat upstream gets the conversation without them.
 */
const SERVER_SIDE_ITEMS: ReadonlySet<string> = new Set([
  'web_search_call',
  'file_search_call',
  'code_interpreter_call',
  'image_generation_call',
  'computer_call',
  'computer_call_output',
  'mcp_list_tools',
  'mcp_call',
  'mcp_approval_request',
  'mcp_approval_response',
  'tool_search_call',
  'tool_search_output',
  'compaction',
  'compaction_summary',
]);

type Part = { type?: unknown; text?: unknown; image_url?: unknown; detail?: unknown; refusal?: unknown };

function partsOf(content: unknown, param: string): Part[] {
  if (!Array.isArray(content)) throw badRequest('Message content must be a string or a list of content parts.', param);
  return content.map((raw, j) => {
    if (raw === null || typeof raw !== 'object' || typeof (raw as Part).type !== 'string') throw badRequest('Every content part needs a type.', `${param}[${j}]`);
    return raw as Part;
  });
}

function imageUrl(part: Part, param: string): string {
  const url = typeof part.image_url === 'string' ? part.image_url : (part.image_url as { url?: unknown } | undefined)?.url;
  if (typeof url !== 'string') throw badRequest('input_image needs an image_url (file_id needs stored files, which Sluice does not keep).', param);
  return url;
}

/** User content: a string, or chat parts (text, image_url). */
function userContent(content: unknown, param: string): unknown {
  if (typeof content === 'string') return content;
  return partsOf(content, param).map((p, j) => {
    if (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') return { type: 'text', text: String(p.text ?? '') };
    if (p.type === 'input_image') {
      const url = imageUrl(p, `${param}[${j}]`);
      return { type: 'image_url', image_url: p.detail ? { url, detail: p.detail } : { url } };
    }
    throw badRequest(`Content part type '${String(p.type)}' is not supported by Sluice.`, `${param}[${j}].type`);
  });
}

/** The text of instruction or assistant content; the parts of an instruction are separate sections. */
function textContent(content: unknown, param: string, separator: string): string {
  if (typeof content === 'string') return content;
  return partsOf(content, param)
    .map((p, j) => {
      if (p.type === 'refusal') return String(p.refusal ?? '');
      if (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') return String(p.text ?? '');
      throw badRequest(`Content part type '${String(p.type)}' is not supported here by Sluice.`, `${param}[${j}].type`);
    })
    .join(separator);
}

/** A tool output (a string, or text and image parts): the text for the tool message, images apart. */
function toolOutput(output: unknown, param: string): { text: string; images: string[] } {
  if (typeof output === 'string') return { text: output, images: [] };
  if (!Array.isArray(output)) return { text: JSON.stringify(output ?? ''), images: [] };
  const texts: string[] = [];
  const images: string[] = [];
  partsOf(output, param).forEach((p, j) => {
    if (p.type === 'input_image') images.push(imageUrl(p, `${param}[${j}]`));
    else if (typeof p.text === 'string') texts.push(p.text);
  });
  return { text: texts.join('\n'), images };
}

function reasoningText(item: InputItem): string {
  const pick = (list: unknown): string =>
    Array.isArray(list) ? list.map((p) => (p !== null && typeof p === 'object' && typeof (p as Part).text === 'string' ? ((p as Part).text as string) : '')).filter((t) => t !== '').join('\n') : '';
  return pick(item.content) || pick(item.summary);
}

function jsonArguments(value: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) out[k] = v;
  return JSON.stringify(out);
}

/** The chat tool call an output item of a function, custom or local shell call stands for. */
function callOf(item: InputItem, index: number): ToolCall {
  const callId = String(item.call_id ?? item.id ?? '');
  if (callId === '') throw badRequest(`A ${String(item.type)} item needs a call_id.`, `input[${index}].call_id`);
  const namespace = typeof item.namespace === 'string' ? item.namespace : undefined;
  switch (item.type) {
    case 'function_call':
      return { id: callId, type: 'function', function: { name: flatName(namespace, String(item.name ?? '')), arguments: String(item.arguments ?? '') } };
    case 'custom_tool_call':
      return { id: callId, type: 'function', function: { name: flatName(namespace, String(item.name ?? '')), arguments: JSON.stringify({ input: String(item.input ?? '') }) } };
    default: {
      const action = (item.action ?? {}) as { command?: unknown; working_directory?: unknown; timeout_ms?: unknown };
      return { id: callId, type: 'function', function: { name: LOCAL_SHELL_FUNCTION, arguments: jsonArguments({ command: action.command, workdir: action.working_directory, timeout_ms: action.timeout_ms }) } };
    }
  }
}

/**
 * Responses input items -> chat history, statelessly: `developer` is `system` (the leading
 * instructions become one system message); assistant text, the calls that follow it and the
 * reasoning before it are one assistant turn; every call output is a `tool` message (an image a tool
 * returned follows the tool messages as a user message, as chat tool messages hold text only).
 * Reasoning travels as `reasoning_content` on its assistant turn, and only after the last user
 * message: the reasoning models that read it back want it within the current agent loop only.
 */
export function translateInput(input: string | InputItem[], instructions: string | null | undefined): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (instructions) messages.push({ role: 'system', content: instructions });
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
    return messages;
  }
  let reasoning: string[] = [];
  let images: string[] = [];
  const flushImages = (): void => {
    if (images.length === 0) return;
    messages.push({ role: 'user', content: images.map((url) => ({ type: 'image_url', image_url: { url } })) });
    images = [];
  };
  const assistant = (): ChatMessage => {
    const last = messages.at(-1);
    const turn: ChatMessage = last !== undefined && last.role === 'assistant' ? last : { role: 'assistant', content: null };
    if (turn !== last) messages.push(turn);
    if (reasoning.length > 0) {
      turn.reasoning_content = [turn.reasoning_content, ...reasoning].filter((r) => typeof r === 'string' && r !== '').join('\n');
      reasoning = [];
    }
    return turn;
  };
  input.forEach((item, i) => {
    const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
    const isOutput = type === 'function_call_output' || type === 'custom_tool_call_output' || type === 'local_shell_call_output';
    if (!isOutput) flushImages();
    switch (type) {
      case 'message': {
        const role = item.role ?? 'user';
        if (role === 'assistant') {
          const turn = assistant();
          const text = textContent(item.content, `input[${i}].content`, '');
          turn.content = typeof turn.content === 'string' ? turn.content + text : text;
        } else if (role === 'system' || role === 'developer') {
          messages.push({ role: 'system', content: textContent(item.content, `input[${i}].content`, '\n\n') });
        } else {
          reasoning = [];
          messages.push({ role, content: userContent(item.content, `input[${i}].content`) });
        }
        return;
      }
      case 'function_call':
      case 'custom_tool_call':
      case 'local_shell_call': {
        const turn = assistant();
        turn.tool_calls = [...(turn.tool_calls ?? []), callOf(item, i)];
        return;
      }
      case 'function_call_output':
      case 'custom_tool_call_output':
      case 'local_shell_call_output': {
        const callId = String(item.call_id ?? item.id ?? '');
        if (callId === '') throw badRequest(`A ${type} item needs a call_id.`, `input[${i}].call_id`);
        const out = toolOutput(item.output, `input[${i}].output`);
        images.push(...out.images);
        messages.push({ role: 'tool', tool_call_id: callId, content: out.text });
        return;
      }
      case 'reasoning': {
        const text = reasoningText(item);
        if (text !== '') reasoning.push(text);
        return;
      }
      default:
        if (type !== undefined && SERVER_SIDE_ITEMS.has(type)) return;
        throw badRequest(`Input item type '${String(type)}' is not supported by Sluice.`, `input[${i}].type`);
    }
  });
  flushImages();
  return tidy(messages);
}

/** Leading system messages as one (chat templates often allow a single one, first); reasoning only after the last user turn. */
function tidy(messages: ChatMessage[]): ChatMessage[] {
  let lead = 0;
  while (messages[lead]?.role === 'system') lead++;
  const out = lead > 1 ? [{ role: 'system', content: messages.slice(0, lead).map((m) => m.content as string).join('\n\n') }, ...messages.slice(lead)] : messages;
  let lastUser = -1;
  out.forEach((m, i) => {
    if (m.role === 'user') lastUser = i;
  });
  for (let i = 0; i < lastUser; i++) delete (out[i] as ChatMessage).reasoning_content;
  return out;
}
