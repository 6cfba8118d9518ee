import { afterEach, describe, expect, it, vi } from 'vitest';
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
