import type { ServerResponse } from 'node:http';
const PING_COMMENT = ': ping\n\n';
// No `connection` header: node:http sets it from the request (keep-alive, or close when the client
// asked to close), and a fixed `keep-alive` here kept such a client's socket open.
const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/**
 * A stream response's headers: `headers` (a fresh object, added to) and the SSE ones. Object.assign
 * rather than a spread with quoted keys, which V8 makes slow (bench/PROFILE.md, "SSE headers").
 */
export function withSseHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.assign(headers, SSE_HEADERS);
}

/**
 * The one writer of every stream response, for every front (chat, Responses, Messages, a native
 * passthrough): the status and SSE headers, pings, events already framed by the front's sink, and
 * the last write. Events are flushed as they come; a write that fills the socket buffer makes the
 * caller wait for 'drain' (backpressure), so a slow client holds the upstream instead of growing
 * memory. Once the status is out the writer has committed: a failure can only be an in-stream event.
 *
 * Plain `write()` and `end()`, never `res.cork()`: node:http already corks the socket for the rest
 * of the tick on each chunked write (so the writes of one upstream read leave together). And since
 * Node 22, `res.cork()` holds chunks in the response's own buffer, which an `end()` while corked
 * flushes after the terminating `0` chunk: the stream ends early. Only the socket's own cork is
 * undone, for the first events (sendNow).
 */
export class SseWriter {
  private opened = false;
  private finished = false;
  private wroteEvents = false;
  /** Set by `end`: whether the end reached the socket (watchFlush). */
  private flush: (() => Promise<boolean>) | undefined;

  constructor(
    private readonly res: ServerResponse,
    /** Read when the status goes out, so it can name the provider that finally served; a fresh object each call. */
    private readonly extraHeaders: () => Record<string, string>,
    /** Whether nothing else is in flight, asked at the first write (see sendNow). */
    private readonly idle: () => boolean = () => false,
  ) {}

  get committed(): boolean {
    return this.opened;
  }

  /** Sends the status and headers (with the upstream's own content type for a native passthrough). */
  open(contentType?: string): void {
    if (this.opened) return;
    this.opened = true;
    const headers = withSseHeaders(this.extraHeaders());
    if (contentType !== undefined) headers['content-type'] = contentType;
    this.res.writeHead(200, headers);
    // No flushHeaders(): the status goes out with the first event (or ping), in one packet.
  }

  ping(): void {
    this.open();
    if (!this.finished) this.res.write(PING_COMMENT);
  }

  /**
   * Writes pre-framed events (or a native stream's bytes, or the reads of one long frame, in
   * order); resolves when the client can take more.
   */
  write(framed: string | Uint8Array | readonly Uint8Array[]): Promise<void> | undefined {
    this.open();
    if (this.finished || this.res.writableEnded || this.res.destroyed) return undefined;
    const drained = typeof framed === 'string' || framed instanceof Uint8Array ? writeOrWait(this.res, framed) : writeAllOrWait(this.res, framed);
    if (!this.wroteEvents) {
      this.wroteEvents = true;
      if (this.idle()) this.sendNow();
    }
    return drained;
  }

  /**
   * The first events leave at once, not at the end of the tick: that is the time to first token,
   * and when an upstream's whole answer is already buffered, the rest of it is processed before the
   * tick ends. node:http corks the socket for each chunked write until the next tick; the socket
   * (never the response: see above) is uncorked here. Only when nothing else is in flight: under
   * load that is one more syscall per stream, and the tick is busy anyway (bench/PROFILE.md,
   * "first events").
   */
  private sendNow(): void {
    const socket = this.res.socket;
    if (socket !== null && socket.writableCorked > 0) socket.uncork();
  }

  /**
   * The last write (the front's closing events: `[DONE]`, `response.completed`, an error event) and
   * the end, even if the upstream keeps its socket open.
   */
  end(last = ''): void {
    if (this.finished) return;
    this.open();
    this.finished = true;
    if (this.res.destroyed) return;
    this.flush = watchFlush(this.res);
    this.res.end(last);
  }

  /** Whether the end (`end`) reached the socket, once that is known; false if the stream was never ended here. */
  flushed(): Promise<boolean> {
    return this.flush?.() ?? Promise.resolve(false);
  }
}

/** Writes; when the socket buffer is full, a promise for 'drain' (or close) to wait on. */
export function writeOrWait(res: ServerResponse, data: string | Uint8Array): Promise<void> | undefined {
  if (res.write(data)) return undefined;
  return drained(res);
}

/** writeOrWait for several pieces: each written, and one wait if the buffer filled on the way. */
function writeAllOrWait(res: ServerResponse, pieces: readonly Uint8Array[]): Promise<void> | undefined {
  let room = true;
  for (let i = 0; i < pieces.length; i++) room = res.write(pieces[i] as Uint8Array) && room;
  return room ? undefined : drained(res);
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Watches a response, from before its last write, for whether its end reached the socket (was
 * handed to the kernel): then a stream's `[DONE]` left Sluice; a client gone while it was still
 * buffered never got it. The returned function resolves once that is known: at 'finish' or at
 * 'close', whichever comes first.
 *
 * 'finish' alone is not proof on Node 20 and 22: when the socket is destroyed with the end still
 * buffered, the failed write's callback emits 'finish' anyway (Node 24 emits only 'close'), from
 * within the socket's destroy. So a 'finish' counts only while the response's socket is not
 * destroyed; on success it is still open then (even a `connection: close` one ends after it).
 */
export function watchFlush(res: ServerResponse): () => Promise<boolean> {
  const socket = res.socket;
  let flushed: boolean | undefined;
  let settle: ((flushed: boolean) => void) | undefined;
  const decide = (value: boolean): void => {
    if (flushed !== undefined) return;
    flushed = value;
    res.off('finish', onFinish);
    res.off('close', onClose);
    settle?.(value);
  };
  const onFinish = (): void => decide(socket === null || !socket.destroyed);
  const onClose = (): void => decide(false);
  res.on('finish', onFinish);
  res.on('close', onClose);
  return () => (flushed !== undefined ? Promise.resolve(flushed) : new Promise((resolve) => (settle = resolve)));
}

export function frame(json: string): string {
  return `data: ${json}\n\n`;
}
