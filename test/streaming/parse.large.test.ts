import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { LongFrameScan } from '../../src/core/chunk-scan.js';
import { SseSplitter } from '../../src/streaming/parse.js';
import { SluiceError } from '../../src/core/errors.js';

/** Bytes every Buffer.concat / Buffer.from call made while `run` ran: what the splitter copied. */
function bytesCopied(run: () => void): number {
  let copied = 0;
  const concat = Buffer.concat.bind(Buffer);
  const from = Buffer.from.bind(Buffer) as (...args: unknown[]) => Buffer;
  vi.spyOn(Buffer, 'concat').mockImplementation((list, total) => {
    const out = concat(list, total);
    copied += out.length;
    return out;
  });
  vi.spyOn(Buffer, 'from').mockImplementation(((...args: unknown[]) => {
    const out = from(...args);
    copied += out.length;
    return out;
  }) as typeof Buffer.from);
  try {
    run();
  } finally {
    vi.restoreAllMocks();
  }
  return copied;
}

afterEach(() => vi.restoreAllMocks());

describe('SseSplitter on large events', () => {
  const head = 'data: {"choices":[{"index":0,"delta":{"content":"';
  const tail = '"}}]}\n\n';

  it('copies each byte of an 8 MB event a bounded number of times, however finely it is read', () => {
    const size = 8 * 1024 * 1024;
    const event = Buffer.from(head + 'x'.repeat(size) + tail);
    const seen: string[] = [];
    const splitter = new SseSplitter(
      (m) => seen.push(m.data),
      () => undefined,
    );
    const copied = bytesCopied(() => {
      for (let at = 0; at < event.length; at += 64 * 1024) {
        splitter.push(event.subarray(at, Math.min(event.length, at + 64 * 1024)));
        while (splitter.split(false));
      }
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.length).toBe(event.length - 'data: '.length - 2);
    // Joined once when its end comes, plus at most one read-sized copy per read: never the whole
    // rest again per read (that was 128 re-joins of up to 8 MB here).
    expect(copied).toBeLessThan(3 * event.length);
  });

  it('ends with eventTooLarge once an event passes the cap, LF or CRLF, and never for events under it', () => {
    for (const eol of ['\n', '\r\n']) {
      const splitter = new SseSplitter(
        () => undefined,
        () => undefined,
        1024 * 1024,
      );
      const small = Buffer.from(`data: {"a":"${'y'.repeat(500 * 1024)}"}${eol}${eol}`);
      splitter.push(small);
      while (splitter.split(false));
      let thrown: unknown;
      try {
        for (let i = 0; i < 40; i++) {
          splitter.push(Buffer.from(i === 0 ? head : 'x'.repeat(64 * 1024)));
          while (splitter.split(false));
        }
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(SluiceError);
      expect((thrown as SluiceError).openaiCode).toBe('upstream_event_too_large');
    }
  });

  it('counts an event that arrives whole in one read against the cap too', () => {
    const splitter = new SseSplitter(
      () => undefined,
      () => undefined,
      1024 * 1024,
    );
    splitter.push(Buffer.from(head + 'x'.repeat(900 * 1024)));
    splitter.split(false);
    expect(() => splitter.push(Buffer.from('x'.repeat(200 * 1024) + tail))).toThrow(/max_event_mb/);
  });
});

describe('SseSplitter with longFrames', () => {
  const head = 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"';
  const tail = '"},"finish_reason":null}]}\n\n';
  type Seen = { data: string } | { pieces: number; bytes: Buffer; content: number };

  function run(stream: Buffer, read = 64 * 1024): Seen[] {
    const seen: Seen[] = [];
    const splitter = new SseSplitter(
      (m) => seen.push({ data: m.data }),
      (bytes, _count, content) => seen.push(Buffer.isBuffer(bytes) ? { pieces: 1, bytes, content } : { pieces: bytes.length, bytes: Buffer.concat(bytes), content }),
    );
    splitter.longFrames = true;
    for (let at = 0; at < stream.length; at += read) {
      splitter.push(stream.subarray(at, Math.min(stream.length, at + read)));
      while (splitter.split(true));
    }
    splitter.end();
    return seen;
  }

  it('hands a long plain content frame on as the reads it came in, never joined, between parsed events', () => {
    const body = 'x'.repeat(3 * 1024 * 1024) + '\\n\\u00e9';
    const frame = Buffer.from(head + body + tail);
    const stream = Buffer.concat([Buffer.from('data: {"a":1}\n\n'), frame, Buffer.from('data: [DONE]\n\n')]);
    const seen = run(stream);
    expect(seen).toHaveLength(3);
    expect(seen[0]).toEqual({ data: '{"a":1}' });
    const long = seen[1] as { pieces: number; bytes: Buffer; content: number };
    expect(long.pieces).toBeGreaterThan(40);
    expect(long.bytes.equals(frame)).toBe(true);
    expect(long.content).toBe(Buffer.byteLength(body));
    expect(seen[2]).toEqual({ data: '[DONE]' });
  });

  it('parses a long frame it cannot vouch for: a finish_reason, a bad escape, a second long string, a second line', () => {
    const long = 'x'.repeat(2 * 1024 * 1024);
    for (const text of [
      `${head}${long}"},"finish_reason":"stop"}]}\n\n`,
      `${head}${long}\\q"},"finish_reason":null}]}\n\n`,
      `${head}${long}"},"finish_reason":null}],"x":"${'y'.repeat(5000)}"}\n\n`,
      `${head}${long}"},"finish_reason":null}]}\ndata: {}\n\n`,
    ]) {
      const seen = run(Buffer.from(text));
      expect(seen).toEqual([{ data: text.slice('data: '.length, -2).replace('\ndata: ', '\n') }]);
    }
  });
});

describe('LongFrameScan', () => {
  const writtenBytes = (s: string): number => Buffer.byteLength(JSON.stringify(s)) - 2;
  const longText = fc.tuple(fc.string({ unit: 'binary', maxLength: 30 }), fc.integer({ min: 4100, max: 9000 })).map(([s, n]) => s + 'b'.repeat(n) + s);
  const extra = fc.constantFrom<Record<string, unknown>>({}, { usage: null }, { usage: { total_tokens: 1 } }, { error: { message: 'x' } }, { obfuscation: 'pad' }, { x: 'y'.repeat(5000) }, { model: 'm\\' });
  const delta = fc.constantFrom<Record<string, unknown>>({}, { role: 'assistant' }, { tool_calls: [] }, { reasoning_content: 'r' });
  const finish = fc.constantFrom(null, null, 'stop');

  it('vouches only for what JSON.parse says is a plain content chunk, with its content bytes, however the frame is cut', () => {
    fc.assert(
      fc.property(longText, extra, delta, finish, fc.array(fc.nat(), { maxLength: 6 }), fc.array(fc.tuple(fc.nat(), fc.constantFrom('', '"', '\\', '\u0001', '}', 'é')), { maxLength: 2 }), (content, more, deltaMore, finishReason, cuts, damages) => {
        let json = JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { ...deltaMore, content }, finish_reason: finishReason }], ...more });
        for (const [at, insert] of damages) {
          // Never between the halves of a surrogate pair: upstream bytes are UTF-8, with no lone surrogates.
          let i = at % json.length;
          if (i > 0 && json.charCodeAt(i - 1) >= 0xd800 && json.charCodeAt(i - 1) <= 0xdbff) i++;
          json = json.slice(0, i) + insert + json.slice(i);
        }
        const bytes = Buffer.from(json);
        const scan = new LongFrameScan();
        let at = 0;
        let ok = true;
        for (const cut of [...cuts.map((c) => c % bytes.length).sort((a, b) => a - b), bytes.length]) {
          if (ok && cut > at) ok = scan.feed(bytes, at, cut);
          at = Math.max(at, cut);
        }
        const result = ok ? scan.finish() : -1;
        let parsed: { choices?: Array<{ delta?: Record<string, unknown>; finish_reason?: unknown }>; usage?: unknown; error?: unknown } | undefined;
        try {
          parsed = JSON.parse(json) as typeof parsed;
        } catch {
          parsed = undefined;
        }
        if (result >= 0) {
          expect(parsed).toBeDefined();
          const choice = parsed?.choices?.[0];
          expect(parsed?.choices).toHaveLength(1);
          expect(choice?.finish_reason ?? null).toBeNull();
          expect(parsed?.usage ?? null).toBeNull();
          expect(parsed?.error ?? null).toBeNull();
          expect(Object.keys(choice?.delta ?? {}).every((k) => k === 'content' || k === 'role')).toBe(true);
          expect(result).toBe(writtenBytes(choice?.delta?.content as string));
        } else if (damages.length === 0 && finishReason === null && Object.keys(deltaMore).every((k) => k === 'role') && ['{}', '{"usage":null}', '{"obfuscation":"pad"}'].includes(JSON.stringify(more))) {
          // An undamaged plain content chunk with one long string is always vouched for.
          expect(result).toBe(writtenBytes(content));
        }
      }),
      { numRuns: 300 },
    );
  });
});
