/**
 * The one redaction step for error texts that reach a client (and the logs through them): every
 * configured provider key, `Bearer` tokens and `key=` / `token=` query values. Upstreams echo what
 * they were sent (a key in an "invalid key" message, a URL with `?key=` in a proxy's error page),
 * so any upstream text that becomes an error message passes through here before it is cut or
 * shown. Runs on error texts only, never per chunk.
 */

const MASK = '[redacted]';
/** Any run this long of a key is masked, wherever it stands: a key cut anywhere still leaks nothing useful. */
const RUN = 8;
/** Keys shorter than this are not masked at all (too many false hits). */
const MIN_KEY = 4;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
const QUERY_SECRET = /((?:key|token|secret|signature|sig)=)[^&#\s"'<>\\]+/gi;

/** A key as it may appear in an upstream's text: raw, inside a JSON string, URL-encoded. */
function forms(key: string): string[] {
  const out = new Set([key, JSON.stringify(key).slice(1, -1), encodeURIComponent(key)]);
  return [...out];
}

export class Redactor {
  private readonly runs = new Set<string>();
  /** Every form of every key at least RUN long. */
  private readonly long = new Set<string>();
  /** Forms shorter than RUN: masked whole only. */
  private readonly short = new Set<string>();

  constructor(secrets: Iterable<string> = []) {
    for (const secret of secrets) this.add(secret);
  }

  add(secret: string): void {
    if (secret.length < MIN_KEY) return;
    for (const form of forms(secret)) {
      (form.length < RUN ? this.short : this.long).add(form);
      for (let i = 0; i + RUN <= form.length; i++) this.runs.add(form.slice(i, i + RUN));
    }
  }

  redact(text: string): string {
    // Runs first, on the text as received: masking a short key first could split a long one into
    // pieces that each look like a word.
    let out = this.runs.size > 0 && text.length >= RUN ? this.maskRuns(text) : text;
    for (const form of this.short) if (out.includes(form)) out = out.split(form).join(MASK);
    return out.replace(BEARER, `$1${MASK}`).replace(QUERY_SECRET, `$1${MASK}`);
  }

  /**
   * Every stretch of `text` covered by RUN-long pieces of a key (a whole key, or a key cut
   * anywhere), masked. A stretch that is only part of a key and a whole word of letters inside the
   * text is left: a partial match on a word ("upstream" against a key `sk-upstream-test`) is a
   * key's own wording, not its secret part, and provider keys are random. A stretch at the text's
   * end is masked even so: that is a cut key.
   */
  private maskRuns(text: string): string {
    let out = '';
    let copied = 0;
    let start = -1;
    let end = -1;
    const flush = (): void => {
      if (start < 0 || (isWord(text, start, end) && !this.holdsKey(text.slice(start, end)))) return;
      out += text.slice(copied, start) + MASK;
      copied = end;
    };
    for (let i = 0; i + RUN <= text.length; i++) {
      if (!this.runs.has(text.slice(i, i + RUN))) continue;
      if (i > end) {
        flush();
        start = i;
      }
      end = i + RUN;
    }
    flush();
    return copied === 0 ? text : out + text.slice(copied);
  }

  private holdsKey(stretch: string): boolean {
    for (const form of this.long) if (stretch.includes(form)) return true;
    return false;
  }
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Whether `text` from `start` to `end` is all letters, with no letter on either side, and not at the text's end. */
function isWord(text: string, start: number, end: number): boolean {
  if (end >= text.length || isLetter(text.charCodeAt(end)) || (start > 0 && isLetter(text.charCodeAt(start - 1)))) return false;
  for (let i = start; i < end; i++) if (!isLetter(text.charCodeAt(i))) return false;
  return true;
}

/** Every provider key any loaded config named (old ones too: a stream of a reloaded config may still fail). */
const secrets = new Set<string>();
const current = new Redactor();

export function addSecrets(keys: Iterable<string>): void {
  for (const key of keys) {
    if (secrets.has(key)) continue;
    secrets.add(key);
    current.add(key);
  }
}

/** An error text with every known secret masked; call before any cut. */
export function redactSecrets(text: string): string {
  return current.redact(text);
}

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i;

/** A URL to print (`sluice check`, logs): credentials in its userinfo and secret query values masked. */
export function maskUrlCredentials(url: string): string {
  return url.replace(USERINFO, '$1***:***@').replace(QUERY_SECRET, `$1${MASK}`);
}
