import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseSplitter } from '../../src/streaming/parse.js';

type Seen = { data: string; event: string | undefined } | { frames: string; count: number };

/** What eventsource-parser alone makes of the whole stream. */
function reference(text: string): Seen[] {
  const out: Seen[] = [];
  const parser = createParser({ onEvent: (m: EventSourceMessage) => out.push({ data: m.data, event: m.event }) });
  parser.feed(text);
  return out;
}

/** The splitter over the same bytes cut at `cuts`, with frames forwarded when `forward` says so. */
function split(bytes: Buffer, cuts: number[], forward: ((json: string) => boolean) | undefined, oneMessage: boolean): Seen[] {
  const out: Seen[] = [];
  const splitter = new SseSplitter(
    (m) => out.push({ data: m.data, event: m.event }),
    (frames, count) => out.push({ frames: frames.toString('utf8'), count }),
  );
  if (forward !== undefined) splitter.forward = (buf, _view, start, end) => (forward(buf.toString('utf8', start, end)) ? 0 : -1);
  let at = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    if (cut <= at) continue;
    splitter.push(bytes.subarray(at, cut));
    while (splitter.split(oneMessage));
    at = cut;
  }
  splitter.end();
  return out;
}

/** Forwarded frames turned back into the messages they stand for, so both runs compare. */
function asMessages(seen: Seen[]): Array<{ data: string; event: string | undefined }> {
  return seen.flatMap((s) => ('frames' in s ? s.frames.split('\n').filter((l) => l !== '').map((l) => ({ data: l.slice('data: '.length), event: undefined })) : [s]));
}

const value = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom('é', '😀', '"', '\\', ':', 'data: x'));
const json = value.map((v) => JSON.stringify({ choices: [{ index: 0, delta: { content: v } }] }));
const block = fc.oneof(
  json.map((j) => `data: ${j}\n\n`),
  json.map((j) => `data:${j}\n\n`),
  fc.constant('data: [DONE]\n\n'),
  fc.constant(': ping\n\n'),
  fc.constant('\n'),
  json.map((j) => `event: message\ndata: ${j}\n\n`),
  fc.tuple(json, json).map(([a, b]) => `data: ${a}\ndata: ${b}\n\n`),
  fc.constant('data:\n\n'),
  fc.constant('id: 7\nretry: 10\n\n'),
  fc.constant('data: {"partial":'),
);

describe('SseSplitter', () => {
  it('gives the same messages as eventsource-parser, frames or not, wherever the reads are cut', () => {
    fc.assert(
      fc.property(
        fc.array(block, { maxLength: 12 }),
        fc.array(fc.nat({ max: 400 }), { maxLength: 10 }),
        fc.constantFrom('none', 'all', 'odd'),
        fc.boolean(),
        fc.constantFrom('\n', '\r\n'),
        (blocks, cuts, mode, oneMessage, eol) => {
          const text = blocks.join('').replaceAll('\n', eol);
          const forward = mode === 'none' ? undefined : mode === 'all' ? () => true : (j: string) => j.length % 2 === 1;
          const seen = split(Buffer.from(text), cuts, forward, oneMessage);
          const expected = reference(text);
          expect(asMessages(seen).filter((m) => m.data !== '')).toEqual(expected.filter((m) => 'data' in m && m.data !== ''));
          for (const s of seen) if ('frames' in s) expect(s.frames.split('\n').filter((l) => l !== '').length).toBe(s.count);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('forwards a plain data frame as the upstream bytes, even across a cut inside a UTF-8 character', () => {
    const text = 'data: {"choices":[{"delta":{"content":"é😀"}}]}\n\ndata: {"choices":[{"delta":{"content":"b"}}]}\n\n';
    const bytes = Buffer.from(text);
    const cut = bytes.indexOf(Buffer.from('😀')) + 2;
    const seen = split(bytes, [cut], () => true, false);
    // The first read holds no whole event; the second completes both, forwarded as one run.
    expect(seen).toEqual([{ frames: text, count: 2 }]);
  });

  it('leaves a stream that opens with a BOM to eventsource-parser', () => {
    const text = '\uFEFFdata: {"a":1}\n\n';
    expect(split(Buffer.from(text), [], () => true, false)).toEqual([{ data: '{"a":1}', event: undefined }]);
  });
});
