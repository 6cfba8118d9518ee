/** Helpers for OpenAI message content, which is a string or a list of typed parts. */

/** The text of a message's content: the string, or its text parts joined. */
export function textOf(content: unknown, separator = ''): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (part !== null && typeof part === 'object' && typeof part.text === 'string' ? part.text : '')).join(separator);
}

/** The URL of an `image_url` part (given as a string or as `{url}`). */
export function imageUrlOf(part: { image_url?: unknown }): string | undefined {
  const value = part.image_url;
  if (typeof value === 'string') return value;
  const url = (value as { url?: unknown } | null | undefined)?.url;
  return typeof url === 'string' ? url : undefined;
}

/** A `data:<type>;base64,<data>` URL split into its media type and data; undefined for other URLs. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return match ? { mediaType: match[1] as string, data: match[2] as string } : undefined;
}

/** A chat `reasoning_effort` as a provider's thinking-token budget, from that provider's table; undefined when none was asked or the effort is not in it. */
export function thinkingBudget(effort: unknown, budgets: Readonly<Record<string, number>>): number | undefined {
  return typeof effort === 'string' && Object.hasOwn(budgets, effort) ? budgets[effort] : undefined;
}
