import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addSecrets, Redactor } from '../../src/core/redact.js';
import { errorFieldsFromBody } from '../../src/providers/upstream-error.js';

const RUN = 8;

/** The first RUN-long piece of `key` found in `text`, if any. */
function leakedRun(text: string, key: string): string | undefined {
  for (let i = 0; i + RUN <= key.length; i++) {
    const run = key.slice(i, i + RUN);
    if (text.includes(run)) return run;
  }
  return undefined;
}

// Keys as providers issue them, plus characters that JSON strings and URLs escape.
const keyChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'.split(''), '"', '\\', '/', '+', '=', '.', '~');
const key = fc.string({ unit: keyChar, minLength: RUN, maxLength: 60 });
// Filler that cannot itself hold a run of a key: no key character at all.
const filler = fc.string({ unit: fc.constantFrom(' ', ',', ':', '!', '?', '(', ')', 'é', 'ü', '\n'), maxLength: 700 });

type Wrap = 'plain' | 'bearer' | 'query' | 'json' | 'json-bearer' | 'html';
const wrap = (k: string, how: Wrap, before: string, after: string): string => {
  switch (how) {
    case 'plain':
      return `${before}${k}${after}`;
    case 'bearer':
      return `${before}Authorization: Bearer ${k}${after}`;
    case 'query':
      return `${before}GET https://up.example/v1/models?alt=sse&key=${encodeURIComponent(k)}&x=1${after}`;
    case 'json':
      return JSON.stringify({ error: { message: `${before}${k}${after}`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    case 'json-bearer':
      return JSON.stringify({ error: { message: `${before}header Bearer ${k}${after}` } });
    case 'html':
      return `<html><head><title>${before}${k}</title></head><body>${after}</body></html>`;
  }
};

describe('redaction (property)', () => {
  it('leaves no 8-character run of a key in an error message, whatever wraps it and wherever it is cut', () => {
    fc.assert(
      fc.property(
        fc.array(key, { minLength: 1, maxLength: 3 }),
        fc.nat(2),
        fc.constantFrom<Wrap>('plain', 'bearer', 'query', 'json', 'json-bearer', 'html'),
        filler,
        filler,
        fc.option(fc.nat({ max: 1600 }), { nil: undefined }),
        (keys, which, how, before, after, cut) => {
          const secret = keys[which % keys.length] as string;
          addSecrets(keys);
          let body = wrap(secret, how, before, after);
          // The upstream's own cut (a truncated body) may fall anywhere, inside the key too.
          if (cut !== undefined) body = body.slice(0, cut);
          const { message } = errorFieldsFromBody(400, body);
          expect(leakedRun(message, secret)).toBeUndefined();
          expect(leakedRun(new Redactor(keys).redact(body), secret)).toBeUndefined();
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('masks Bearer tokens and key= query values it was never told about', () => {
    const r = new Redactor([]);
    expect(r.redact('sent Authorization: Bearer abc.DEF-123_x then')).toBe('sent Authorization: Bearer [redacted] then');
    expect(r.redact('GET /v1beta/models?key=AIzaSyA-1234&alt=sse')).toBe('GET /v1beta/models?key=[redacted]&alt=sse');
    expect(r.redact('see https://x/y?api_key=zzz')).toBe('see https://x/y?api_key=[redacted]');
  });

  it('leaves a text with no secret in it as it was', () => {
    const r = new Redactor(['sk-live-0123456789abcdef']);
    const text = 'The model `gpt-4o` does not exist or you do not have access to it.';
    expect(r.redact(text)).toBe(text);
  });
});
