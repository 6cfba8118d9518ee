import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkScanner } from '../../src/core/chunk-scan.js';
import type { ChatCompletionChunk } from '../../src/core/types.js';

/** Both of the scanner's readings of one frame: as text, and as bytes at an offset inside a larger buffer. */
function read(scanner: ChunkScanner, frame: string, pad = 0): { text: string | undefined; bytes: number } {
  const buf = Buffer.from(`${' '.repeat(pad)}data: ${frame}\n\ndata: {"x":1}\n\n`);
  const from = pad + 'data: '.length;
  const bytes = scanner.contentBytes(buf, new DataView(buf.buffer, buf.byteOffset, buf.byteLength), from, from + Buffer.byteLength(frame));
  return { text: scanner.content(frame), bytes };
}

/** What the OpenAI adapter does with a frame the scanner cannot vouch for: parse it and learn from it. */
function learnFrom(scanner: ChunkScanner, frame: string): void {
  scanner.learn(JSON.parse(frame) as ChatCompletionChunk, frame);
}

/** A JSON string's characters as written (escapes included), in bytes. */
const writtenBytes = (s: string): number => Buffer.byteLength(JSON.stringify(s)) - 2;

const chunk = (content: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1700000000,
  model: 'm',
  choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }],
  ...extra,
});

describe('ChunkScanner', () => {
  it('vouches for a chunk of the learned shape with another content, and gives it', () => {
    const scanner = new ChunkScanner();
    expect(read(scanner, JSON.stringify(chunk('a')))).toEqual({ text: undefined, bytes: -1 });
    learnFrom(scanner, JSON.stringify(chunk('a')));
    expect(read(scanner, JSON.stringify(chunk('héllo')))).toEqual({ text: 'héllo', bytes: 6 });
    expect(read(scanner, JSON.stringify(chunk('a"b\n\\')))).toEqual({ text: 'a"b\n\\', bytes: 8 });
    expect(read(scanner, '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":"\\u00e9"},"logprobs":null,"finish_reason":null}]}')).toEqual({ text: 'é', bytes: 6 });
  });

  it('does not vouch for a string that would close early, a bad escape, a raw control character or a cut frame', () => {
    const scanner = new ChunkScanner();
    learnFrom(scanner, JSON.stringify(chunk('a')));
    const around = (raw: string): string => `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":"${raw}"},"logprobs":null,"finish_reason":null}]}`;
    // The same bytes around the string, but a quote inside it ends the string and makes a finish_reason.
    const forged = around('x"},"finish_reason":"stop","y":{"z":"');
    expect(() => JSON.parse(forged) as unknown).not.toThrow();
    expect(read(scanner, forged)).toEqual({ text: undefined, bytes: -1 });
    for (const raw of ['x\\', '\\x', '\\u12', '\\u12g4', 'a\u0001b', 'a\nb']) expect(read(scanner, around(raw))).toEqual({ text: undefined, bytes: -1 });
    const whole = around('abc');
    for (const cut of [whole.length - 1, whole.length - 10, 120]) expect(read(scanner, whole.slice(0, cut))).toEqual({ text: undefined, bytes: -1 });
  });

  it('lets OpenAI\'s obfuscation padding differ from chunk to chunk', () => {
    const scanner = new ChunkScanner();
    learnFrom(scanner, JSON.stringify(chunk('a', { obfuscation: 'Xy1' })));
    expect(read(scanner, JSON.stringify(chunk('bc', { obfuscation: 'q' })))).toEqual({ text: 'bc', bytes: 2 });
    expect(read(scanner, JSON.stringify(chunk('bc')))).toEqual({ text: undefined, bytes: -1 });
  });

  it('finds the content hole when the padding is written before it', () => {
    const scanner = new ChunkScanner();
    const paddedFirst = (content: string, padding: string): string => JSON.stringify({ obfuscation: padding, ...chunk(content) });
    learnFrom(scanner, paddedFirst('a', 'Xy1'));
    expect(read(scanner, paddedFirst('héllo', 'q'))).toEqual({ text: 'héllo', bytes: 6 });
    expect(read(scanner, paddedFirst('bc', 'a longer padding'))).toEqual({ text: 'bc', bytes: 2 });
  });

  it('learns only a plain content chunk whose keys are written plainly, and keeps the last shape otherwise', () => {
    const plain = new ChunkScanner();
    learnFrom(plain, JSON.stringify(chunk('a')));
    const notPlain = [
      chunk('a', { usage: { total_tokens: 1 } }),
      chunk('a', { error: { message: 'x' } }),
      { ...chunk('a'), choices: [{ index: 0, delta: { content: 'a' }, finish_reason: 'stop' }] },
      { ...chunk('a'), choices: [{ index: 0, delta: { content: 'a', tool_calls: [] }, finish_reason: null }] },
      { ...chunk('a'), choices: [{ index: 0, delta: { content: 'a' } }, { index: 1, delta: { content: 'b' } }] },
      chunk('a', { model: 'with "quotes"' }),
      chunk('a', { x_content: { content: 'a' } }),
      chunk(null),
    ];
    for (const value of notPlain) {
      const scanner = new ChunkScanner();
      learnFrom(scanner, JSON.stringify(value));
      expect(read(scanner, JSON.stringify(value))).toEqual({ text: undefined, bytes: -1 });
      learnFrom(plain, JSON.stringify(value));
    }
    expect(read(plain, JSON.stringify(chunk('z'))).text).toBe('z');
    // A key written with an escape is not learned: the content token could then be another key.
    const escaped = new ChunkScanner();
    const text = JSON.stringify(chunk('a')).replace('"model"', '"mod\\u0065l"');
    learnFrom(escaped, text);
    expect(read(escaped, text).text).toBeUndefined();
  });

  // Frames as upstreams write them: a few shapes, each repeated with other content strings, mixed
  // with frames that must be parsed and frames whose other fields change.
  const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 4 }), fc.constantFrom('"', '\\', '\\"', '","finish_reason":"stop', '"},"usage":{"a":1},"x":{"y":"', '', 'é😀', '\u2028'));
  const shape = fc.record({
    id: fc.constantFrom('c1', 'c2', 'chatcmpl-a"b'),
    created: fc.constantFrom(1700000000, 1700000001, 1700000010),
    flag: fc.constantFrom('usage', 'usagx', 'error', 'errox'),
    finish: fc.constantFrom(null, null, 'stop'),
    usage: fc.constantFrom(undefined, null, { total_tokens: 2 }),
    obfuscation: fc.constantFrom(undefined, 'pad', 'x'.repeat(5), 'a\\"'),
    key: fc.constantFrom('content', 'content', 'reasoning_content'),
    space: fc.constantFrom(undefined, undefined, 1),
  });
  type Shape = { id: string; created: number; flag: string; finish: string | null; usage: unknown; obfuscation: string | undefined; key: string; space: number | undefined };
  const frameOf = (s: Shape, content: string | null, padding: string | undefined): string => {
    const value = {
      id: s.id,
      object: 'chat.completion.chunk',
      created: s.created,
      [s.flag]: { a: 1 },
      choices: [{ index: 0, delta: { [s.key]: content }, finish_reason: s.finish }],
      ...(s.usage === undefined ? {} : { usage: s.usage }),
      ...(s.obfuscation === undefined ? {} : { obfuscation: padding ?? s.obfuscation }),
    };
    return JSON.stringify(value, null, s.space).replaceAll('\n', '');
  };
  // A base shape and variants of it that differ in one field each.
  const field = fc.constantFrom<keyof Shape>('id', 'created', 'flag', 'finish', 'usage', 'obfuscation', 'key', 'space');
  const shapes = fc.tuple(shape, fc.array(fc.tuple(field, shape), { maxLength: 3 })).map(([base, variants]) => [base, ...variants.map(([f, other]) => ({ ...base, [f]: other[f] }))]);
  const stream = fc.tuple(shapes, fc.array(fc.tuple(fc.nat(), fc.oneof(text, fc.constant(null)), fc.option(text)), { minLength: 1, maxLength: 40 }));

  it('vouches only for what JSON.parse says is the learned chunk with another content and padding, reading text and bytes alike', () => {
    fc.assert(
      fc.property(stream, fc.nat(7), ([shapes, picks], pad) => {
        const scanner = new ChunkScanner();
        let learned: Record<string, unknown> | undefined;
        for (const [i, content, padding] of picks) {
          const frame = frameOf(shapes[i % shapes.length] as Shape, content, padding ?? undefined);
          const seen = read(scanner, frame, pad);
          const parsed = JSON.parse(frame) as Record<string, unknown>;
          expect(seen.bytes >= 0).toBe(seen.text !== undefined);
          if (seen.text === undefined) {
            learnFrom(scanner, frame);
            const choice = (parsed.choices as Array<{ delta: Record<string, unknown>; finish_reason: unknown }>)[0];
            const plain = parsed.usage == null && parsed.error == null && choice?.finish_reason === null && typeof choice.delta.content === 'string' && choice.delta.content !== '';
            if (plain && !/\\/.test(frame.replace(/"(content|obfuscation)":\s?"(?:[^"\\]|\\.)*"/g, ''))) learned = parsed;
            continue;
          }
          // Vouched: the learned chunk, with this frame's content and padding.
          expect(learned).toBeDefined();
          const expected = structuredClone(learned) as { choices: Array<{ delta: { content: string } }>; obfuscation?: unknown };
          (expected.choices[0] as { delta: { content: string } }).delta.content = seen.text;
          if ('obfuscation' in parsed) expected.obfuscation = parsed.obfuscation;
          expect(parsed).toEqual(expected);
          expect(seen.bytes).toBe(writtenBytes(seen.text));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never vouches for a damaged frame that JSON.parse would reject or read otherwise', () => {
    const damage = fc.tuple(fc.nat(), fc.nat(6), fc.constantFrom('', '"', '\\', '\\u', '}', ',"finish_reason":"stop"', '\u0000', '\n', 'é'));
    fc.assert(
      fc.property(shape, text, text, fc.array(damage, { minLength: 1, maxLength: 3 }), (s, first, second, damages) => {
        const plainShape = { ...s, key: 'content', finish: null, usage: undefined, flag: 'errox' };
        const scanner = new ChunkScanner();
        learnFrom(scanner, frameOf(plainShape, first, undefined));
        let frame = frameOf(plainShape, second, undefined);
        for (const [at, cut, insert] of damages) {
          const i = at % (frame.length + 1);
          frame = frame.slice(0, i) + insert + frame.slice(i + cut);
        }
        const seen = read(scanner, frame);
        expect(seen.bytes >= 0).toBe(seen.text !== undefined);
        if (seen.text === undefined) return;
        const parsed = JSON.parse(frame) as { choices: Array<{ delta: { content: unknown }; finish_reason: unknown }> };
        expect(parsed.choices).toHaveLength(1);
        expect(parsed.choices[0]?.delta.content).toBe(seen.text);
        expect(parsed.choices[0]?.finish_reason).toBeNull();
      }),
      { numRuns: 3000 },
    );
  });

  // The opening role chunk, written as upstreams write it: the role first or last, with more in its
  // delta or not, with padding or spaces, and with values that put a quote or a second `"role"` in the text.
  type RoleShape = { id: string; role: string; last: boolean; refusal: boolean; obfuscation: string | undefined; space: number | undefined };
  const roleShape = fc.record({
    id: fc.constantFrom('c1', 'c2', 'role', 'a"b'),
    role: fc.constantFrom('assistant', 'assistant', 'role'),
    last: fc.boolean(),
    refusal: fc.constantFrom(false, false, true),
    obfuscation: fc.constantFrom(undefined, 'pad'),
    space: fc.constantFrom(undefined, undefined, 1),
  });
  const roleFrame = (s: RoleShape, delta: Record<string, unknown>, padding?: string): string =>
    JSON.stringify({ id: s.id, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: null }], ...(s.obfuscation === undefined ? {} : { obfuscation: padding ?? s.obfuscation }) }, null, s.space).replaceAll('\n', '');
  const roleDelta = (s: RoleShape): Record<string, unknown> => {
    const more = s.refusal ? { refusal: null } : {};
    return s.last ? { content: '', ...more, role: s.role } : { role: s.role, content: '', ...more };
  };

  it('learns the content chunks of a stream from its opening role chunk, with the role cut out', () => {
    const plain: RoleShape = { id: 'c1', role: 'assistant', last: false, refusal: false, obfuscation: undefined, space: undefined };
    for (const s of [plain, { ...plain, last: true }, { ...plain, space: 1 }, { ...plain, obfuscation: 'pad' }]) {
      const scanner = new ChunkScanner();
      learnFrom(scanner, roleFrame(s, roleDelta(s)));
      expect(read(scanner, roleFrame(s, { content: 'héllo' }, 'x'))).toEqual({ text: 'héllo', bytes: 6 });
    }
    // Not a content chunk's shape (OpenAI's role chunk has `refusal`), or not a certain cut: no shape, the chunk is parsed.
    for (const s of [{ ...plain, refusal: true }, { ...plain, id: 'role' }, { ...plain, id: 'a"b' }]) {
      const scanner = new ChunkScanner();
      learnFrom(scanner, roleFrame(s, roleDelta(s)));
      expect(read(scanner, roleFrame(s, { content: 'a' }))).toEqual({ text: undefined, bytes: -1 });
    }
  });

  it('vouches, after a role chunk, only for what JSON.parse says is that chunk without its role, with another content and padding', () => {
    const field = fc.constantFrom<keyof RoleShape>('id', 'last', 'refusal', 'obfuscation', 'space');
    const frames = fc.array(fc.tuple(fc.option(fc.tuple(field, roleShape)), fc.oneof(text, fc.constant(null)), fc.option(text)), { minLength: 1, maxLength: 20 });
    fc.assert(
      fc.property(roleShape, frames, fc.nat(7), (s, picks, pad) => {
        const scanner = new ChunkScanner();
        const role = roleFrame(s, roleDelta(s));
        learnFrom(scanner, role);
        const learned = JSON.parse(role) as { choices: Array<{ delta: Record<string, unknown> }>; obfuscation?: unknown };
        delete learned.choices[0]?.delta.role;
        const certain = s.role === 'assistant' && s.id !== 'role' && !s.id.includes('"') && !s.refusal;
        for (const [variant, content, padding] of picks) {
          const frame = roleFrame(variant === null ? s : { ...s, [variant[0]]: variant[1][variant[0]] }, { content }, padding ?? undefined);
          const seen = read(scanner, frame, pad);
          expect(seen.bytes >= 0).toBe(seen.text !== undefined);
          // The same writer, another content: vouched for whenever the cut was certain.
          if (variant === null && certain && typeof content === 'string') expect(seen.text).toBe(content);
          if (seen.text === undefined) continue;
          const parsed = JSON.parse(frame) as Record<string, unknown>;
          const expected = structuredClone(learned);
          (expected.choices[0] as { delta: Record<string, unknown> }).delta.content = seen.text;
          if ('obfuscation' in parsed) expected.obfuscation = parsed.obfuscation;
          expect(parsed).toEqual(expected);
          expect(seen.bytes).toBe(writtenBytes(seen.text));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
