import type { ChatCompletionChunk, ChunkChoice } from './types.js';

/**
 * The passthrough scanner: the one place that says what an OpenAI chunk's JSON text is without
 * parsing it. Everything else parses.
 *
 * Most upstreams write every token's chunk alike but for its `content` string (and OpenAI's
 * per-chunk `obfuscation` padding). So a stream's scanner learns a shape from a chunk that was
 * parsed anyway: the chunk's text with those strings' values cut out, when the chunk is a plain
 * content chunk (one choice whose delta is only a non-empty `content` and `role`, no finish_reason, logprobs,
 * usage or error). A stream's opening role chunk (an empty `content` and a `role`) is learned with
 * its `role` member cut out of the text (withoutRole): many upstreams write the content chunks after
 * it just so, and then the first of them needs no parse either. A later chunk whose text is that shape with valid JSON strings in the holes is
 * vouched for: it is valid JSON, it is the learned chunk with another content (and padding), and
 * its content is what the hole holds. What the scanner cannot vouch for is parsed by the caller,
 * and a plain content chunk parsed there becomes the new shape.
 *
 * Why a hole is where the shape says: the learned text has exactly one `"content":` and at most one
 * `"obfuscation":` token, and no backslash outside the holes. Then no key is written with escapes,
 * and inside a JSON string every quote is escaped, so each token is the one key of that name
 * anywhere in the chunk; and the parse confirmed both values.
 */
export class ChunkScanner {
  private shape: Shape | undefined;
  /**
   * What to learn from next, taken from a parsed chunk: its shape is made when the next text is
   * checked, so that the chunk that commits a stream is written before its shape is worked out.
   */
  private next: Learned | undefined;

  /** The learned chunk's choice index (the one choice of every chunk vouched for). */
  get index(): number {
    return this.shape?.index ?? 0;
  }

  /**
   * Learns the shape of `chunk` (parsed from `text`) if it is a plain content chunk with some
   * content, or a stream's opening role chunk (empty, with a role: the content chunks after it carry
   * none, so it is learned without it); else keeps the last.
   */
  learn(chunk: ChatCompletionChunk, text: string): void {
    const content = plainContent(chunk);
    if (content === undefined) return;
    const learned = content === '' ? withoutRole(chunk, text) : text;
    if (learned === undefined) return;
    this.current();
    const choice = chunk.choices[0] as ChunkChoice;
    const obfuscation = chunk.obfuscation;
    this.next = new Learned(learned, content, typeof choice.index === 'number' ? choice.index : 0, typeof obfuscation === 'string' ? obfuscation : undefined);
  }

  /** The shape texts are checked against, made now from the chunk learned last if it was not yet. */
  private current(): Shape | undefined {
    const next = this.next;
    if (next !== undefined) {
      this.next = undefined;
      this.shape = Shape.of(next) ?? this.shape;
    }
    return this.shape;
  }

  /** A chunk text's content if the scanner vouches for it (see the class), else undefined. */
  content(text: string): string | undefined {
    const shape = this.current();
    if (shape === undefined) return undefined;
    const { texts, contentHole } = shape;
    const last = texts.length - 1;
    let at = 0;
    let content: string | undefined;
    for (let h = 0; h < last; h++) {
      const segment = texts[h] as string;
      // slice + === rather than startsWith, which is slow on eventsource-parser's strings (bench/PROFILE.md, "startsWith").
      if (text.slice(at, at + segment.length) !== segment) return undefined;
      at += segment.length;
      const end = textStringEnd(text, at);
      if (end < 0) return undefined;
      if (h === contentHole) content = decodeString(text, at, end);
      at = end;
    }
    const tail = texts[last] as string;
    if (text.length - at !== tail.length || text.slice(at) !== tail) return undefined;
    return content;
  }

  /**
   * For a frame's undecoded JSON bytes (`buf` from `from` to `to`; `view` a DataView over the same
   * bytes as `buf`): the byte length of its content string (escapes as written) if the scanner
   * vouches for it, else -1. Offsets and one view per read: no allocation per frame.
   */
  contentBytes(buf: Buffer, view: DataView, from: number, to: number): number {
    const shape = this.current();
    if (shape === undefined) return -1;
    const { bytes, starts } = shape.encoding();
    const contentHole = shape.contentHole;
    const last = starts.length - 2;
    let at = from;
    let content = -1;
    for (let h = 0; h < last; h++) {
      const start = starts[h] as number;
      const length = (starts[h + 1] as number) - start;
      if (to - at < length || !sameBytes(view, at, bytes, start, length)) return -1;
      at += length;
      const end = bytesStringEnd(buf, at, to);
      if (end < 0) return -1;
      if (h === contentHole) content = end - at;
      at = end;
    }
    const start = starts[last] as number;
    const length = (starts[last + 1] as number) - start;
    if (to - at !== length || !sameBytes(view, at, bytes, start, length)) return -1;
    return content;
  }
}

/** The keys whose string values are the holes of a shape. `content` is required, the others optional. */
const CONTENT_TOKEN = '"content"';
const OBFUSCATION_TOKEN = '"obfuscation"';

/**
 * A learned chunk text cut around its holes: segment, hole, segment, ... , segment.
 *
 * A shape lives as long as its stream, so its parts are made by `new`, not by `[]` or
 * `{}` literals: V8 may pretenure a literal whose objects outlive a scavenge, and a pretenured
 * shape keeps young objects alive until the next full GC (bench/PROFILE.md, "pretenuring").
 */
class Shape {
  private encoded: Encoding | undefined;

  private constructor(
    readonly index: number,
    /** The segments between the holes; each hole's quotes belong to the segments around it. */
    readonly texts: string[],
    /** Which hole is the content string. */
    readonly contentHole: number,
  ) {}

  /**
   * The segments as UTF-8, one after the other, and where each starts (plus the end): made when a
   * frame is first checked as bytes, which is after the stream's first write (text is checked before).
   */
  encoding(): Encoding {
    return (this.encoded ??= new Encoding(this.texts));
  }

  /**
   * The shape of a learned chunk text, from what `learn` took out of the parsed chunk: strings and
   * a number only, so this runs the same whichever kind of chunk object they came from.
   */
  static of({ text, content, index, obfuscation }: Learned): Shape | undefined {
    const contentHole = holeAt(text, CONTENT_TOKEN, content);
    if (contentHole === undefined) return undefined;
    let padding: Hole | undefined;
    if (obfuscation !== undefined) {
      padding = holeAt(text, OBFUSCATION_TOKEN, obfuscation);
      if (padding === undefined) return undefined;
    } else if (text.includes(OBFUSCATION_TOKEN)) return undefined;
    // The segments around the one or two holes, in the text's order.
    const first = padding !== undefined && padding.start < contentHole.start ? padding : contentHole;
    const second = first === contentHole ? padding : contentHole;
    const texts = new Array<string>(second === undefined ? 2 : 3);
    texts[0] = text.slice(0, first.start);
    if (second === undefined) texts[1] = text.slice(first.end);
    else {
      texts[1] = text.slice(first.end, second.start);
      texts[2] = text.slice(second.end);
    }
    for (const segment of texts) if (segment.includes('\\')) return undefined;
    return new Shape(index, texts, first === contentHole ? 0 : 1);
  }
}

/** What a shape is made from: the chunk text to cut (without its role, for a role chunk) and the parsed values of its holes. */
class Learned {
  constructor(
    readonly text: string,
    readonly content: string,
    readonly index: number,
    readonly obfuscation: string | undefined,
  ) {}
}

/** A plain content chunk's content: one choice, its delta only `content` (a string) and `role`; nothing that ends or accounts. */
function plainContent(chunk: ChatCompletionChunk): string | undefined {
  if (chunk.usage != null || chunk.error != null) return undefined;
  const choices = chunk.choices;
  if (!Array.isArray(choices) || choices.length !== 1) return undefined;
  const choice = choices[0] as ChunkChoice;
  if (choice.logprobs != null || choice.finish_reason != null) return undefined;
  const delta = choice.delta;
  if (delta === null || typeof delta !== 'object' || typeof delta.content !== 'string') return undefined;
  for (const key in delta) if (key !== 'content' && key !== 'role') return undefined;
  return delta.content;
}

const ROLE_TOKEN = '"role"';

/**
 * A plain chunk's text with its delta's `role` member cut out, or undefined when it has no role or
 * the cut is not certain. With no backslash in the text no key is written with escapes and no
 * string holds a quote, so a single `"role"` token is the delta's key, and its value is written as
 * the role between quotes. What is left is valid JSON: the chunk without its role.
 */
function withoutRole(chunk: ChatCompletionChunk, text: string): string | undefined {
  const role = (chunk.choices[0] as ChunkChoice).delta.role;
  if (typeof role !== 'string' || text.includes('\\')) return undefined;
  const hole = holeAt(text, ROLE_TOKEN, role);
  if (hole === undefined) return undefined;
  const end = hole.end + 1;
  const after = skipSpaces(text, end);
  // Followed by another member: the member and its comma go. The last one: the comma before it.
  if (text.charCodeAt(after) === COMMA) return text.slice(0, hole.key) + text.slice(skipSpaces(text, after + 1));
  let before = hole.key - 1;
  while (before > 0 && isSpace(text.charCodeAt(before))) before--;
  return text.charCodeAt(before) === COMMA ? text.slice(0, before) + text.slice(end) : undefined;
}

interface Hole {
  /** Where its key's token starts. */
  key: number;
  /** The string value's first character, after its opening quote. */
  start: number;
  /** Its closing quote. */
  end: number;
}

/** Where the one `token` key of `text` has its string value, if there is exactly one and its value is `value`. */
function holeAt(text: string, token: string, value: string): Hole | undefined {
  const key = text.indexOf(token);
  if (key < 0 || text.indexOf(token, key + 1) >= 0) return undefined;
  let open = skipSpaces(text, key + token.length);
  if (text.charCodeAt(open) !== COLON) return undefined;
  open = skipSpaces(text, open + 1);
  if (text.charCodeAt(open) !== QUOTE) return undefined;
  const end = textStringEnd(text, open + 1);
  if (end < 0 || decodeString(text, open + 1, end) !== value) return undefined;
  return { key, start: open + 1, end };
}

const QUOTE = 34;
const BACKSLASH = 92;
const COLON = 58;
const COMMA = 44;

/**
 * The index of the quote that closes a JSON string whose characters start at `from`, or -1 if the
 * string is not valid JSON (a control character, an unknown escape) or does not close.
 */
function textStringEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) return i;
    if (c < 32) return -1;
    if (c === BACKSLASH) {
      const escaped = text.charCodeAt(i + 1);
      if (escaped === 117 /* u */) {
        if (!isHex(text.charCodeAt(i + 2)) || !isHex(text.charCodeAt(i + 3)) || !isHex(text.charCodeAt(i + 4)) || !isHex(text.charCodeAt(i + 5))) return -1;
        i += 5;
      } else if (isEscape(escaped)) i++;
      else return -1;
    }
  }
  return -1;
}

/** textStringEnd over UTF-8 bytes (bytes of multi-byte characters are all >= 0x80 and pass as they are). */
function bytesStringEnd(buf: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const c = buf[i] as number;
    if (c === QUOTE) return i;
    if (c < 32) return -1;
    if (c === BACKSLASH) {
      const escaped = buf[i + 1] as number;
      if (escaped === 117 /* u */) {
        if (i + 5 >= to || !isHex(buf[i + 2] as number) || !isHex(buf[i + 3] as number) || !isHex(buf[i + 4] as number) || !isHex(buf[i + 5] as number)) return -1;
        i += 5;
      } else if (isEscape(escaped)) i++;
      else return -1;
    }
  }
  return -1;
}

/** `"`, `\`, `/`, b, f, n, r, t: the one-character escapes. */
function isEscape(c: number): boolean {
  return c === QUOTE || c === BACKSLASH || c === 47 || c === 98 || c === 102 || c === 110 || c === 114 || c === 116;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** A valid JSON string's characters (from textStringEnd) decoded. */
function decodeString(text: string, from: number, end: number): string {
  const raw = text.slice(from, end);
  return raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function skipSpaces(text: string, from: number): number {
  let i = from;
  while (isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** A shape's segments as UTF-8, one after the other, and where each starts (plus the end). */
class Encoding {
  readonly bytes: DataView;
  readonly starts: Uint32Array;

  constructor(texts: readonly string[]) {
    const starts = new Uint32Array(texts.length + 1);
    for (let i = 0; i < texts.length; i++) starts[i + 1] = (starts[i] as number) + Buffer.byteLength(texts[i] as string);
    // Memory of its own, not a slice of Buffer's shared pool: a stream's shape would pin a pool page.
    const bytes = new Uint8Array(starts[texts.length] as number);
    for (let i = 0; i < texts.length; i++) bytes.set(Buffer.from(texts[i] as string), starts[i]);
    this.bytes = new DataView(bytes.buffer);
    this.starts = starts;
  }
}

/** Whether `n` bytes of `view` from `at` equal those of `other` from `otherAt`, four at a time. */
function sameBytes(view: DataView, at: number, other: DataView, otherAt: number, n: number): boolean {
  let i = 0;
  for (; i + 4 <= n; i += 4) if (view.getUint32(at + i) !== other.getUint32(otherAt + i)) return false;
  for (; i < n; i++) if (view.getUint8(at + i) !== other.getUint8(otherAt + i)) return false;
  return true;
}

/** Strings this long or longer are left out of a long frame's skeleton. */
const HOLE_MIN = 4096;
/** A long frame whose JSON outside its long strings is larger than this is not vouched for. */
const SKELETON_MAX = 64 * 1024;

/**
 * One frame too large to join, decode and parse in one go without stalling every other client (a
 * base64 image as a content string, tens of MB): its JSON is checked as it arrives, piece by
 * piece. Every string's syntax is checked as JSON.parse would; strings of HOLE_MIN bytes or more
 * are left out of a skeleton (written as `""`), the rest is kept. At the end the skeleton, small,
 * is parsed: a plain content chunk (as ChunkScanner learns them) whose content is the one
 * left-out string is vouched for, and may go on as the upstream's bytes.
 */
export class LongFrameScan {
  private readonly skeleton = Buffer.allocUnsafe(SKELETON_MAX);
  private length = 0;
  private inString = false;
  /** The current string: where its characters start in the skeleton, its bytes so far, whether it is left out. */
  private stringStart = 0;
  private stringBytes = 0;
  private leftOut = false;
  /** 1 just after a backslash; hex digits still due after `\u`. */
  private escape = 0;
  private hex = 0;
  private holes = 0;
  private holeQuote = -1;
  private holeBytes = 0;
  private broken = false;

  /** The frame's next JSON bytes; false once it cannot be vouched for (it need not be fed further). */
  feed(buf: Uint8Array, from: number, to: number): boolean {
    if (this.broken) return false;
    let i = from;
    while (i < to) {
      if (!this.inString) {
        const c = buf[i++] as number;
        if (c === LF || c === CR || !this.put(c)) return this.fail();
        if (c === QUOTE) this.openString();
        continue;
      }
      if (this.escape === 1 || this.hex > 0) {
        const c = buf[i++] as number;
        if (this.escape === 1) {
          this.escape = 0;
          if (c === 117 /* u */) this.hex = 4;
          else if (!isEscape(c)) return this.fail();
        } else if (!isHex(c)) return this.fail();
        else this.hex--;
        if (!this.stringByte(c)) return false;
        continue;
      }
      // The run of plain characters up to the next quote, backslash or control character.
      let j = i;
      while (j < to) {
        const c = buf[j] as number;
        if (c === QUOTE || c === BACKSLASH || c < 32) break;
        j++;
      }
      if (!this.stringRun(buf, i, j)) return false;
      i = j;
      if (i >= to) break;
      const c = buf[i++] as number;
      if (c < 32) return this.fail();
      if (c === BACKSLASH) {
        this.escape = 1;
        if (!this.stringByte(c)) return false;
        continue;
      }
      this.closeString();
      if (!this.put(QUOTE)) return this.fail();
    }
    return true;
  }

  /** At the frame's end: its content's byte length (escapes as written) if it is vouched for, else -1. */
  finish(): number {
    if (this.broken || this.inString || this.holes !== 1) return -1;
    const text = this.skeleton.toString('utf8', 0, this.length);
    if (text.includes('\\')) return -1;
    let chunk: unknown;
    try {
      chunk = JSON.parse(text);
    } catch {
      return -1;
    }
    if (chunk === null || typeof chunk !== 'object' || plainContent(chunk as ChatCompletionChunk) !== '') return -1;
    const hole = holeAt(text, CONTENT_TOKEN, '');
    if (hole === undefined || Buffer.byteLength(text.slice(0, hole.start - 1)) !== this.holeQuote) return -1;
    return this.holeBytes;
  }

  private openString(): void {
    this.inString = true;
    this.stringStart = this.length;
    this.stringBytes = 0;
    this.leftOut = false;
  }

  private closeString(): void {
    this.inString = false;
    if (!this.leftOut) return;
    this.holes++;
    this.holeQuote = this.stringStart - 1;
    this.holeBytes = this.stringBytes;
  }

  /** A string's bytes `buf` from `from` to `to`, kept in the skeleton unless the string is long. */
  private stringRun(buf: Uint8Array, from: number, to: number): boolean {
    if (this.grow(to - from)) return true;
    if (this.length + to - from > SKELETON_MAX) return this.fail();
    this.skeleton.set(buf.subarray(from, to), this.length);
    this.length += to - from;
    return true;
  }

  private stringByte(c: number): boolean {
    if (this.grow(1)) return true;
    return this.put(c) || this.fail();
  }

  /** Counts `n` more bytes of the current string; whether it is (now) left out of the skeleton. */
  private grow(n: number): boolean {
    this.stringBytes += n;
    if (!this.leftOut && this.stringBytes >= HOLE_MIN) {
      this.leftOut = true;
      this.length = this.stringStart;
    }
    return this.leftOut;
  }

  private put(c: number): boolean {
    if (this.length >= SKELETON_MAX) return false;
    this.skeleton[this.length++] = c;
    return true;
  }

  private fail(): false {
    this.broken = true;
    return false;
  }
}

const LF = 10;
const CR = 13;
