import { pipeline, type Readable } from 'node:stream';
import { createBrotliDecompress, createUnzip } from 'node:zlib';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import type { EgressConfig, ProviderConfig } from '../config/schema.js';
import { idleTimeout, SluiceError, truncated, upstreamTimeout, upstreamUnreachable } from '../core/errors.js';
import type { BodySource } from '../core/body.js';
import type { UpstreamRequest } from '../providers/adapter.js';
import type { Cancellation } from './cancellation.js';
import { egressFailure, proxyDispatcher, upstreamTls, type PoolSettings } from './egress.js';

const RELEASE_LIMIT_BYTES = 64 * 1024;
const RELEASE_WAIT_MS = 1000;
/** Upstream URLs remembered parsed; a bound, since some providers put the model in the path. */
const MAX_PARSED_URLS = 1024;

export type HeaderValue = string | string[] | undefined;

export interface UpstreamResponse extends BodySource {
  status: number;
  headers: Record<string, HeaderValue>;
  /** Stop reading and drop the connection (the upstream sees its socket closed if mid-body). */
  destroy(): void;
  /**
   * Done with the body (the stream said [DONE]): read what is left in the background so that the
   * keep-alive connection can be reused, dropping it if the upstream does not end within a second.
   */
  release(): void;
}

/** The only network I/O in Sluice. One per provider. */
export interface UpstreamClient {
  send(request: UpstreamRequest, signal: Cancellation): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/**
 * A keep-alive pool per provider origin. Connect, first-byte (response headers) and idle (between
 * body reads) timeouts are undici's own; the total timeout is the caller's Cancellation.
 */
export class UndiciClient implements UpstreamClient {
  private readonly pools = new Map<string, Dispatcher>();
  private readonly targets = new Map<string, { pool: Dispatcher; origin: string; path: string }>();
  private readonly settings: PoolSettings;
  /** Set when a proxy carries this provider's requests; it keeps its own pools per origin. */
  private readonly proxy: Dispatcher | undefined;

  constructor(
    private readonly provider: ProviderConfig,
    egress: EgressConfig = {},
  ) {
    this.settings = { headersTimeout: provider.timeouts.first_byte_ms, bodyTimeout: provider.timeouts.idle_ms, keepAliveTimeout: 30_000, pipelining: 1 };
    this.proxy = proxyDispatcher(provider, egress, this.settings);
  }

  private pool(origin: string): Dispatcher {
    if (this.proxy !== undefined) return this.proxy;
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, { ...this.settings, connect: { ...upstreamTls(this.provider), timeout: this.provider.timeouts.connect_ms } });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** The pool and request path for a URL, parsed once (`new URL` and the pool lookup cost ~6 µs per request in situ). */
  private target(url: string): { pool: Dispatcher; origin: string; path: string } {
    let target = this.targets.get(url);
    if (target === undefined) {
      const parsed = new URL(url);
      target = { pool: this.pool(parsed.origin), origin: parsed.origin, path: parsed.pathname + parsed.search };
      if (this.targets.size >= MAX_PARSED_URLS) this.targets.clear();
      this.targets.set(url, target);
    }
    return target;
  }

  async send(request: UpstreamRequest, signal: Cancellation): Promise<UpstreamResponse> {
    const { pool, origin, path } = this.target(request.url);
    // Without Accept-Encoding an upstream may use any coding (RFC 9110); identity keeps the
    // passthrough byte for byte. One that compresses anyway is decoded (decoded() below).
    if (request.headers['accept-encoding'] === undefined && request.headers['Accept-Encoding'] === undefined) request.headers['accept-encoding'] = 'identity';
    try {
      const response = await pool.request({
        origin,
        path,
        method: request.method,
        headers: request.headers,
        body: request.body ?? null,
        signal,
      });
      const body = response.body;
      const coding = response.headers['content-encoding'];
      if (typeof coding === 'string' && coding !== 'identity') {
        const decoded = this.decoded(response.statusCode, body, coding, response.headers);
        if (decoded !== undefined) return decoded;
      }
      return {
        status: response.statusCode,
        headers: response.headers,
        body,
        destroy: () => body.destroy(),
        buffered: () => body.readableLength > 0,
        release: () => {
          if (body.readableEnded) return;
          // A plain timer, not AbortSignal.timeout: that one builds a DOMException per request.
          const timer = setTimeout(() => body.destroy(), RELEASE_WAIT_MS);
          body.dump({ limit: RELEASE_LIMIT_BYTES }).then(
            () => clearTimeout(timer),
            () => {
              clearTimeout(timer);
              body.destroy();
            },
          );
        },
        bodyError: (err) => this.classify(err, true),
      };
    } catch (err) {
      throw (signal.aborted ? undefined : egressFailure(this.provider, err)) ?? this.classify(err, false);
    }
  }

  /** A compressed upstream body, decompressed as it is read (rare: Sluice asks for identity). */
  private decoded(status: number, body: Readable, coding: string, headers: Record<string, HeaderValue>): UpstreamResponse | undefined {
    const name = coding.trim().toLowerCase();
    const decoder = name === 'gzip' || name === 'x-gzip' || name === 'deflate' ? createUnzip() : name === 'br' ? createBrotliDecompress() : undefined;
    if (decoder === undefined) return undefined;
    // pipeline forwards a read error of the body (an idle timeout, a reset) to the decoder, so the
    // reader sees the same error it would have seen on the raw body.
    pipeline(body, decoder, () => undefined);
    delete headers['content-encoding'];
    delete headers['content-length'];
    return {
      status,
      headers,
      body: decoder,
      destroy: () => decoder.destroy(),
      buffered: () => decoder.readableLength > 0,
      release: () => decoder.destroy(),
      bodyError: (err) => this.classify(err, true),
    };
  }

  classify(err: unknown, inBody: boolean): unknown {
    if (err instanceof SluiceError) return err;
    const name = this.provider.name;
    const t = this.provider.timeouts;
    if (err instanceof undiciErrors.ConnectTimeoutError) return upstreamTimeout(name, 'connect', t.connect_ms);
    if (err instanceof undiciErrors.HeadersTimeoutError) return upstreamTimeout(name, 'first byte', t.first_byte_ms);
    if (err instanceof undiciErrors.BodyTimeoutError) return idleTimeout(name, t.idle_ms);
    if (err instanceof undiciErrors.RequestAbortedError || (err as { name?: string }).name === 'AbortError') return err;
    if (inBody) return truncated(name, `the connection failed (${(err as { code?: string }).code ?? String(err)})`);
    return upstreamUnreachable(name, err);
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values(), ...(this.proxy === undefined ? [] : [this.proxy])].map((p) => p.close()));
    this.pools.clear();
    this.targets.clear();
  }
}
