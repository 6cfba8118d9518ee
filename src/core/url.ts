/** `base` + `path` (which starts with `/`), without a doubled slash when `base` ends in one. */
export function joinUrl(base: string, path: string): string {
  return base.endsWith('/') ? base + path.slice(1) : base + path;
}
