import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseSplitter } from '../../src/streaming/parse.js';
import { FrameShape, plainChunkContentBytes } from '../../src/streaming/inspect.js';

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
  if (forward !== undefined) splitter.forward = (buf, _view, start, end) => forward(buf.toString('utf8', start, end));
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

describe('plainChunkContentBytes', () => {
  const whole = (text: string): number => plainChunkContentBytes(Buffer.from(text), 0, Buffer.byteLength(text));
  const bytes = (value: unknown): number => whole(JSON.stringify(value));

  it('counts the bytes of content strings as written, escapes included', () => {
    expect(bytes({ choices: [{ delta: { content: 'héllo' } }] })).toBe(6);
    expect(bytes({ choices: [{ delta: { content: 'a"b' } }] })).toBe(4);
    expect(bytes({ choices: [{ delta: { reasoning_content: 'abc' } }] })).toBe(0);
  });

  it('sends a chunk with a non-null usage or finish_reason to be parsed, and only a key counts', () => {
    expect(bytes({ choices: [{ delta: {}, finish_reason: null }], usage: null })).toBe(0);
    expect(bytes({ choices: [{ delta: {}, finish_reason: 'stop' }] })).toBe(-1);
    expect(bytes({ choices: [], usage: { total_tokens: 3 } })).toBe(-1);
    const tricky = '"usage": 1, "finish_reason": "stop"';
    expect(bytes({ choices: [{ delta: { content: tricky } }] })).toBe(JSON.stringify(tricky).length - 2);
    expect(whole('{"choices":[{"finish_reason" : "stop"}]}')).toBe(-1);
  });

  it('sends an error payload and anything but a JSON object to be parsed', () => {
    expect(bytes({ error: { message: 'overloaded', type: 'server_error' } })).toBe(-1);
    expect(bytes({ choices: [{ delta: { content: 'ok' } }], error: null })).toBe(2);
    expect(whole('[DONE]')).toBe(-1);
    expect(whole('keep-alive')).toBe(-1);
    expect(whole(' {"choices":[]}')).toBe(-1);
  });

  // Chunk-like JSON with the inspected keys at any depth, holding null or not, and strings that mimic them.
  const tricky = fc.constantFrom('"usage": 1', '\\', '"', '"content":"x"', 'finish_reason', 'é😀', '');
  const leaf = fc.oneof(fc.constant(null), fc.integer(), fc.boolean(), fc.string({ unit: 'grapheme', maxLength: 8 }), tricky);
  const names = (withQuotes: boolean) =>
    fc.oneof(
      fc.constantFrom('content', 'usage', 'error', 'finish_reason', 'reasoning_content', 'delta', 'choices', 'contents', 'index', 'x_usage'),
      withQuotes ? fc.constantFrom('a"usage', '"error', 'content"', '\\') : fc.string({ unit: 'grapheme-ascii', maxLength: 6 }).filter((k) => !/["\\]/.test(k)),
    );
  const tree = (withQuotes: boolean) =>
    fc.letrec<{ node: unknown; object: Record<string, unknown> }>((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, tie('object'), fc.array(tie('node'), { maxLength: 3 })),
      object: fc.dictionary(names(withQuotes), tie('node'), { maxKeys: 5 }),
    })).object;
  const indent = fc.constantFrom(undefined, 1, '\t');

  /** What a JSON parse says: whether a key must send the frame to be parsed, and the content strings' bytes as written. */
  function oracle(value: unknown): { mustParse: boolean; content: number } {
    let mustParse = false;
    let content = 0;
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v !== null && typeof v === 'object') {
        for (const [k, inner] of Object.entries(v)) {
          if ((k === 'usage' || k === 'error' || k === 'finish_reason') && inner !== null) mustParse = true;
          if (k === 'content' && typeof inner === 'string') content += Buffer.byteLength(JSON.stringify(inner)) - 2;
          walk(inner);
        }
      }
    };
    walk(value);
    return { mustParse, content };
  }

  it('agrees with JSON.parse: -1 for every frame that must be parsed, else the content bytes', () => {
    fc.assert(
      fc.property(tree(false), indent, (object, space) => {
        const { mustParse, content } = oracle(object);
        expect(whole(JSON.stringify(object, null, space))).toBe(mustParse ? -1 : content);
      }),
      { numRuns: 2000 },
    );
  });

  it('never lets a frame that must be parsed through, whatever its keys hold', () => {
    fc.assert(
      fc.property(tree(true), indent, (object, space) => {
        if (oracle(object).mustParse) expect(whole(JSON.stringify(object, null, space))).toBe(-1);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads only its own range of a larger buffer', () => {
    const text = 'data: {"choices":[{"delta":{"content":"ab"}}]}\n\ndata: {"usage":{"total_tokens":1}}\n\n';
    const buf = Buffer.from(text);
    const start = 'data: '.length;
    expect(plainChunkContentBytes(buf, start, text.indexOf('\n'))).toBe(2);
    // A string left open at the end of the range stops at the range, not in the next frame.
    expect(plainChunkContentBytes(buf, start, start + '{"choices":[{"delta":{"content":"a'.length)).toBe(1);
  });
});

describe('FrameShape', () => {
  // Frames as upstreams write them: a few shapes, each repeated with other content strings, mixed
  // with frames that must be parsed and frames whose other fields change.
  const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 6 }), fc.constantFrom('"', '\\', '\\"', '","finish_reason":"stop', '"},"usage":{"a":1},"x":{"y":"', '', 'é😀'));
  const shape = fc.record({
    id: fc.constantFrom('c1', 'c2', 'chatcmpl-a"b'),
    // Shapes one byte apart, at different offsets; a flag's one byte decides whether it must be
    // parsed, before the content string (flag) and after it (late).
    created: fc.constantFrom(1700000000, 1700000001, 1700000010, 1700000100, 1700001000),
    flag: fc.constantFrom('usage', 'usagx', 'error', 'errox'),
    late: fc.constantFrom('usage', 'usagx', 'error', 'errox'),
    finish: fc.constantFrom(null, null, 'stop'),
    usage: fc.constantFrom(undefined, null, { total_tokens: 2 }),
    extra: fc.constantFrom(undefined, 'pad', 'x'.repeat(5)),
    key: fc.constantFrom('content', 'content', 'reasoning_content'),
  });
  type Shape = { id: string; created: number; flag: string; late: string; finish: string | null; usage: unknown; extra: string | undefined; key: string };
  const chunk = (s: Shape, content: string | null): unknown => ({
    id: s.id,
    object: 'chat.completion.chunk',
    created: s.created,
    [s.flag]: { a: 1 },
    choices: [{ index: 0, delta: { [s.key]: content }, finish_reason: s.finish }],
    ...(s.usage === undefined ? {} : { usage: s.usage }),
    ...(s.extra === undefined ? {} : { obfuscation: s.extra }),
    [s.late]: { b: 2 },
  });
  // A base shape and variants of it that differ in one field each.
  const field = fc.constantFrom<keyof Shape>('id', 'created', 'flag', 'late', 'finish', 'usage', 'extra', 'key');
  const shapes = fc.tuple(shape, fc.array(fc.tuple(field, shape), { maxLength: 3 })).map(([base, variants]) => [base, ...variants.map(([f, other]) => ({ ...base, [f]: other[f] }))]);
  const stream = fc.tuple(shapes, fc.array(fc.tuple(fc.nat(), fc.oneof(text, fc.constant(null))), { minLength: 1, maxLength: 40 }));

  it('agrees with plainChunkContentBytes on every frame of a stream, in one buffer at any offset', () => {
    fc.assert(
      fc.property(stream, fc.nat(7), ([shapes, picks], pad) => {
        const frames = picks.map(([i, content]) => JSON.stringify(chunk(shapes[i % shapes.length] as Shape, content)));
        const buf = Buffer.from(`${' '.repeat(pad)}${frames.map((f) => `data: ${f}\n\n`).join('')}`);
        const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
        const frameShape = new FrameShape();
        let at = pad;
        for (const f of frames) {
          const start = at + 'data: '.length;
          const end = start + Buffer.byteLength(f);
          expect(frameShape.contentBytes(buf, view, start, end)).toBe(plainChunkContentBytes(buf, start, end));
          at = end + 2;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('takes a frame of the kept shape with a string that would close it early to the key search', () => {
    const frameShape = new FrameShape();
    const frame = (content: string): Buffer => Buffer.from(JSON.stringify({ choices: [{ delta: { content }, finish_reason: null }] }));
    const check = (buf: Buffer): number => frameShape.contentBytes(buf, new DataView(buf.buffer, buf.byteOffset, buf.byteLength), 0, buf.length);
    expect(check(frame('ab'))).toBe(2);
    expect(check(frame('cde'))).toBe(3);
    // The same bytes around the string, but a quote inside it ends the string and makes a finish_reason.
    const forged = Buffer.from('{"choices":[{"delta":{"content":"x"},"finish_reason":"stop","y":{"z":""},"finish_reason":null}]}');
    expect(check(forged)).toBe(-1);
    expect(plainChunkContentBytes(forged, 0, forged.length)).toBe(-1);
  });
});
