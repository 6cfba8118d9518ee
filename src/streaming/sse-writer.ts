import type { ServerResponse } from 'node:http';
import type { SluiceError } from '../core/errors.js';

const DONE_EVENT = 'data: [DONE]\n\n';
const PING_COMMENT = ': ping\n\n';
// No `connection` header: node:http sets it from the request (keep-alive, or close when the client
// asked to close), and a fixed `keep-alive` here kept such a client's socket open.
const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/**
 * A stream response's headers: `headers` (a fresh object, added to) and the SSE ones. Not
 * `{ ...headers, 'content-type': ... }`: V8 spends about 1 µs on each quoted key after a spread,
 * measured 4 µs for four headers, against 0.2 µs for this.
 */
export function withSseHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.assign(headers, SSE_HEADERS);
}

/**
 * Sink A: the only place SSE text is written. Events are `data: <json>\n\n`, flushed as they come;
 * a write that fills the socket buffer makes the caller wait for 'drain' (backpressure), so a slow
 * client holds the upstream instead of growing memory.
 */
export class SseWriter {
  private opened = false;
  private finished = false;
  private wroteEvents = false;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.res.uncork();
  };

  constructor(
    private readonly res: ServerResponse,
    /** Read when the status goes out, so it can name the provider that finally served; a fresh object each call. */
    private readonly extraHeaders: () => Record<string, string>,
    /** Whether nothing else is in flight, asked at the first write (see writeNow). */
    private readonly idle: () => boolean,
  ) {}

  get headersSent(): boolean {
    return this.opened;
  }

  open(): void {
    if (this.opened) return;
    this.opened = true;
    this.res.writeHead(200, withSseHeaders(this.extraHeaders()));
    // No flushHeaders(): the status goes out with the first event (or ping), in one packet.
  }

  ping(): void {
    this.open();
    if (!this.finished) this.res.write(PING_COMMENT);
  }

  /** Writes pre-framed events; resolves when the client can take more. */
  write(framed: string | Buffer): Promise<void> | undefined {
    this.open();
    if (this.finished || this.res.writableEnded || this.res.destroyed) return undefined;
    if (!this.wroteEvents) {
      this.wroteEvents = true;
      if (this.idle()) return this.writeNow(framed);
    }
    // Upstream reads already buffered are handled in one run of microtasks: cork until the next
    // tick so that they leave in one writev instead of one syscall each.
    if (!this.corked) {
      this.corked = true;
      this.res.cork();
      process.nextTick(this.uncork);
    }
    return writeOrWait(this.res, framed);
  }

  /**
   * The first events leave at once, not at the next tick: that is the time to first token, and
   * when an upstream's whole answer is already buffered, the rest is processed before the next
   * tick (measured: ~100 µs of a 5-chunk stream). node:http corks the socket for every chunked
   * write until the next tick, so that cork is undone here. Only when nothing else is in flight,
   * as TCP autocorking sends at once only onto an idle link: under load that write is one more
   * syscall per stream (a third more on the benchmark's streams), and the tick is busy anyway.
   */
  private writeNow(framed: string | Buffer): Promise<void> | undefined {
    const drained = writeOrWait(this.res, framed);
    const socket = this.res.socket;
    if (socket !== null && socket.writableCorked > 0) socket.uncork();
    return drained;
  }

  /** `[DONE]` and close, even if the upstream keeps its socket open. */
  end(): void {
    if (this.finished) return;
    this.open();
    this.finished = true;
    this.res.end(DONE_EVENT);
  }

  /** One error event the official SDKs throw on, then `[DONE]`. */
  fail(error: SluiceError): void {
    if (this.finished) return;
    this.open();
    this.finished = true;
    this.res.end(`data: ${JSON.stringify(error.toBody())}\n\n${DONE_EVENT}`);
  }
}

/** Writes; when the socket buffer is full, a promise for 'drain' (or close) to wait on. */
export function writeOrWait(res: ServerResponse, data: string | Uint8Array): Promise<void> | undefined {
  if (res.write(data)) return undefined;
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

export function frame(json: string): string {
  return `data: ${json}\n\n`;
}
