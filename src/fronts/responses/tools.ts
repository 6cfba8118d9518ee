import { badRequest } from '../../core/errors.js';

/** The Responses tool a chat function stands for, so that its calls go back as the client declared them. */
export type ToolOrigin =
  | { kind: 'function'; name: string; namespace?: string }
  | { kind: 'custom'; name: string; namespace?: string }
  | { kind: 'local_shell' };

/** Chat function name -> the tool the client declared. Names not in it are plain functions. */
export type ToolNames = Map<string, ToolOrigin>;

/** Tools the Responses API runs on OpenAI's side; a chat upstream cannot run them. */
export const HOSTED_TOOL_TYPES: ReadonlySet<string> = new Set([
  'web_search',
  'web_search_2025_08_26',
  'web_search_preview',
  'web_search_preview_2025_03_11',
  'file_search',
  'code_interpreter',
  'image_generation',
  'computer',
  'computer_use',
  'computer_use_preview',
  'mcp',
  'tool_search',
]);

/** The chat function that stands for `local_shell` (the Responses API's own shell tool, run by the client). */
export const LOCAL_SHELL_FUNCTION = 'local_shell';

/**
 * A namespaced tool's flat chat name, the way Codex itself flattens namespaces when a wire format
 * has none (`namespace__name`, stray underscores at the join trimmed): chat function names are flat.
 */
export function flatName(namespace: string | undefined, name: string): string {
  if (namespace === undefined || namespace === '') return name;
  return `${namespace.replace(/_+$/, '')}__${name.replace(/^_+/, '')}`;
}

type RawTool = { type: string; [key: string]: unknown };
type ChatTool = { type: 'function'; function: Record<string, unknown> };

export interface TranslatedTools {
  tools: ChatTool[];
  names: ToolNames;
  /** Hosted tool types left out (each once, in request order). */
  dropped: string[];
}

const LOCAL_SHELL_PARAMETERS = {
  type: 'object',
  properties: {
    command: { type: 'array', items: { type: 'string' }, description: 'The command and its arguments, e.g. ["bash", "-lc", "ls"].' },
    workdir: { type: 'string', description: 'Working directory; the session default when omitted.' },
    timeout_ms: { type: 'number', description: 'Time limit in milliseconds.' },
  },
  required: ['command'],
  additionalProperties: false,
};

function customFunction(tool: RawTool, name: string): ChatTool {
  const format = tool.format as { type?: string; syntax?: string; definition?: string } | undefined;
  let description = typeof tool.description === 'string' ? tool.description : '';
  // A freeform tool takes raw text; as a chat function that text is the one `input` argument.
  if (format?.type === 'grammar' && typeof format.definition === 'string') {
    description += `${description === '' ? '' : '\n\n'}The input must follow this ${format.syntax ?? ''} grammar:\n${format.definition}`;
  }
  const fn: Record<string, unknown> = {
    name,
    parameters: { type: 'object', properties: { input: { type: 'string', description: 'The raw input for this tool, as plain text.' } }, required: ['input'], additionalProperties: false },
  };
  if (description !== '') fn.description = description;
  return { type: 'function', function: fn };
}

function plainFunction(tool: RawTool, name: string): ChatTool {
  const fn: Record<string, unknown> = { name };
  if (typeof tool.description === 'string') fn.description = tool.description;
  if (tool.parameters !== undefined && tool.parameters !== null) fn.parameters = tool.parameters;
  if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
  return { type: 'function', function: fn };
}

/**
 * Responses tools -> chat functions. `function` stays a function; each member of a `namespace` becomes
 * a function named `namespace__member`; a `custom` (freeform) tool becomes a function with one string
 * argument `input`; `local_shell` becomes a function `local_shell` taking the exec action. Hosted
 * tools are left out and listed in `dropped`; any other type is a 400.
 */
export function translateTools(tools: RawTool[]): TranslatedTools {
  const out: TranslatedTools = { tools: [], names: new Map(), dropped: [] };
  const add = (tool: RawTool, param: string, namespace?: string): void => {
    const name = typeof tool.name === 'string' ? tool.name : '';
    if (tool.type === 'function' || tool.type === 'custom') {
      if (name === '') throw badRequest(`A ${tool.type} tool needs a name.`, `${param}.name`);
      const flat = flatName(namespace, name);
      if (out.names.has(flat) || out.tools.some((t) => t.function.name === flat)) {
        throw badRequest(`Two tools would both be called '${flat}' for a chat upstream; rename one.`, param, 'duplicate_tool_name');
      }
      out.tools.push(tool.type === 'custom' ? customFunction(tool, flat) : plainFunction(tool, flat));
      if (tool.type === 'custom') out.names.set(flat, namespace === undefined ? { kind: 'custom', name } : { kind: 'custom', name, namespace });
      else if (namespace !== undefined) out.names.set(flat, { kind: 'function', name, namespace });
      return;
    }
    if (namespace !== undefined) throw badRequest(`A namespace holds function and custom tools, not '${tool.type}'.`, `${param}.type`, 'unsupported_tool');
    if (tool.type === 'namespace') {
      if (name === '' || !Array.isArray(tool.tools)) throw badRequest('A namespace tool needs a name and a list of tools.', param);
      (tool.tools as unknown[]).forEach((member, j) => {
        if (member === null || typeof member !== 'object' || typeof (member as RawTool).type !== 'string') throw badRequest('Every tool needs a type.', `${param}.tools[${j}]`);
        add(member as RawTool, `${param}.tools[${j}]`, name);
      });
      return;
    }
    if (tool.type === 'local_shell') {
      out.tools.push({ type: 'function', function: { name: LOCAL_SHELL_FUNCTION, description: 'Run a shell command on the user\'s machine and return its output.', parameters: LOCAL_SHELL_PARAMETERS } });
      out.names.set(LOCAL_SHELL_FUNCTION, { kind: 'local_shell' });
      return;
    }
    if (HOSTED_TOOL_TYPES.has(tool.type)) {
      if (!out.dropped.includes(tool.type)) out.dropped.push(tool.type);
      return;
    }
    throw badRequest(`Tool type '${tool.type}' is not supported by Sluice for this model's provider.`, `${param}.type`, 'unsupported_tool');
  };
  tools.forEach((tool, i) => add(tool, `tools[${i}]`));
  return out;
}

/** A Responses `tool_choice` in chat terms. */
export function translateToolChoice(choice: unknown): unknown {
  if (typeof choice === 'string') return choice;
  if (choice === null || typeof choice !== 'object') return undefined;
  const c = choice as { type?: string; name?: string; namespace?: string; mode?: string };
  if ((c.type === 'function' || c.type === 'custom') && typeof c.name === 'string') return { type: 'function', function: { name: flatName(c.namespace, c.name) } };
  if (c.type === 'local_shell') return { type: 'function', function: { name: LOCAL_SHELL_FUNCTION } };
  // A subset of the tools: chat has no such filter; its mode is what is left.
  if (c.type === 'allowed_tools') return c.mode === 'required' ? 'required' : 'auto';
  // Forcing a hosted tool, which is left out: let the model choose among the rest.
  if (c.type !== undefined && HOSTED_TOOL_TYPES.has(c.type)) return 'auto';
  throw badRequest(`tool_choice type '${String(c.type)}' is not supported by Sluice for this model's provider.`, 'tool_choice', 'unsupported_tool');
}
