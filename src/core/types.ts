// The canonical OpenAI Chat Completions shapes every adapter translates to and from.
// Unknown fields are kept (index signatures): upstream extensions must pass through untouched.

export type JsonObject = Record<string, unknown>;

export interface FunctionCallDelta {
  name?: string;
  arguments?: string;
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: string;
  function?: FunctionCallDelta;
  [key: string]: unknown;
}

export interface ChunkDelta {
  role?: string;
  content?: string | null;
  refusal?: string | null;
  tool_calls?: ToolCallDelta[];
  function_call?: FunctionCallDelta;
  reasoning_content?: string;
  reasoning?: string;
  [key: string]: unknown;
}

/**
 * A delta's or message's reasoning text, under either name upstreams use (`reasoning_content`:
 * DeepSeek, older vLLM; `reasoning`: newer vLLM, OpenRouter); '' when there is none.
 */
export function reasoningText(part: Readonly<Record<string, unknown>>): string {
  if (typeof part.reasoning_content === 'string') return part.reasoning_content;
  return typeof part.reasoning === 'string' ? part.reasoning : '';
}

export interface Logprobs {
  content?: unknown[] | null;
  refusal?: unknown[] | null;
  [key: string]: unknown;
}

export interface ChunkChoice {
  index: number;
  delta: ChunkDelta;
  logprobs?: Logprobs | null;
  finish_reason: string | null;
  [key: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: JsonObject;
  completion_tokens_details?: JsonObject;
  [key: string]: unknown;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint?: string | null;
  service_tier?: string | null;
  choices: ChunkChoice[];
  usage?: Usage | null;
  [key: string]: unknown;
}

export interface ToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string };
  [key: string]: unknown;
}

export interface AssistantMessage {
  role: string;
  content: string | null;
  refusal: string | null;
  tool_calls?: ToolCall[];
  function_call?: { name: string; arguments: string };
  [key: string]: unknown;
}

export interface CompletionChoice {
  index: number;
  message: AssistantMessage;
  finish_reason: string | null;
  logprobs: Logprobs | null;
  [key: string]: unknown;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: Usage;
  system_fingerprint?: string | null;
  service_tier?: string | null;
  [key: string]: unknown;
}

export interface ChatMessage {
  role: string;
  content?: unknown;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  [key: string]: unknown;
}

/** A validated client request. Unknown fields are kept and forwarded. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean; [key: string]: unknown } | null;
  n?: number;
  [key: string]: unknown;
}

/** The shape every error takes on the wire, as OpenAI sends it. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
