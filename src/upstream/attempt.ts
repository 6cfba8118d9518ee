import { resolveProviderModel, type Target } from '../config/routes.js';
import { nextBytes } from '../core/body.js';
import { asSluiceError, SluiceError, upstreamInvalid } from '../core/errors.js';
import type { ChatRequest } from '../core/types.js';
import { providerLimited } from '../limits/limiter.js';
import type { AccessRecord } from '../observability/access.js';
import { keyDigest } from '../routing/health.js';
import type { RequestTrace } from '../observability/tracing.js';
import type { UpstreamRequest } from '../providers/adapter.js';
import type { Resolution } from '../routing/route.js';
import type { Cancellation } from './cancellation.js';
import type { HeaderValue, UpstreamResponse } from './client.js';
import type { ProviderRuntime, UpstreamState } from './runtime.js';

/** What the attempt loop needs of one request: not the whole request context. */
export interface AttemptContext {
  state: UpstreamState;
  request: ChatRequest;
  resolution: Resolution;
  /** Where each attempt, the provider that served and its status are recorded. */
  record: Pick<AccessRecord, 'attempts' | 'provider' | 'upstreamModel' | 'upstreamStatus' | 'servedBy'>;
  signal: Cancellation;
  log: { debug(fields: object, message: string): void };
  /** Sent upstream as x-request-id. */
  requestId: string;
  /** The client's W3C traceparent, propagated upstream unchanged when tracing is off. */
  traceparent: string | undefined;
  /** The request's span when tracing is on: each attempt gets a child span. */
  trace: RequestTrace | undefined;
}

/** One try against one provider: the runtime, the target, the key to use, the abort signal. */
export interface Attempt {
  runtime: ProviderRuntime;
  target: Target;
  apiKey: string | undefined;
  signal: Cancellation;
  /** The attempt span's context as a header, when tracing is on. */
  traceparent?: string | undefined;
}

const RETRY_AFTER_CAP_MS = 10_000;
const PASSED_HEADERS = /^(retry-after|retry-after-ms|x-ratelimit-.*)$/i;

function runtimeOf(ctx: AttemptContext, target: Target): ProviderRuntime {
  const runtime = ctx.state.providers.get(target.provider.name);
  if (runtime === undefined) throw new SluiceError('SLUICE_ERR_INTERNAL', 500, 'server_error', `provider '${target.provider.name}' is not running`);
  return runtime;
}

function isContextOverflow(error: SluiceError): boolean {
  return error.status === 400 && (error.openaiCode === 'context_length_exceeded' || /context (length|window)|maximum context|too many tokens/i.test(error.message));
}

/**
 * Tries the request's targets in the balancer's order. Before the first byte reaches the client, a
 * failed target (connect error, timeout, 5xx, 429, a route's `fallback_on` status) moves to the
 * next, after that target's own retries. A provider whose circuit is open is skipped.
 */
export async function runTargets<T>(ctx: AttemptContext, attempt: (a: Attempt) => Promise<T>): Promise<T> {
  const { route, targets } = ctx.resolution;
  const queue = ctx.state.balancer.order(route, targets, (name) => ctx.state.providers.get(name)?.active ?? 0);
  let lastError: SluiceError | undefined;
  let overflowTried = false;
  while (queue.length > 0) {
    const target = queue.shift() as Target;
    const runtime = runtimeOf(ctx, target);
    const admitted = runtime.breaker.admit();
    if (!(typeof admitted === 'boolean' ? admitted : await admitted)) {
      ctx.record.attempts.push({ provider: runtime.config.name, model: target.upstreamModel, outcome: 'circuit_open', ms: 0 });
      lastError ??= new SluiceError('SLUICE_ERR_UPSTREAM_UNREACHABLE', 503, 'server_error', `Provider '${runtime.config.name}' is cooling down after repeated failures; try again shortly.`, {
        retryable: true,
        outcome: 'unreachable',
        openaiCode: 'provider_unavailable',
      });
      continue;
    }
    try {
      return await withRetries(ctx, runtime, target, attempt);
    } catch (err) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const error = asSluiceError(err);
      lastError = error;
      if (route?.on_context_overflow !== undefined && !overflowTried && isContextOverflow(error)) {
        overflowTried = true;
        const bigger = resolveProviderModel(ctx.state.config, route.on_context_overflow);
        if (bigger !== undefined) queue.unshift(bigger);
        continue;
      }
      if (!(error.retryable || (route?.fallback_on.includes(error.status) ?? false))) throw error;
    }
  }
  throw lastError ?? new SluiceError('SLUICE_ERR_INTERNAL', 500, 'server_error', 'No target to try.');
}

/** One target, retried while nothing reached the client, with jittered backoff honouring Retry-After. */
async function withRetries<T>(ctx: AttemptContext, runtime: ProviderRuntime, target: Target, attempt: (a: Attempt) => Promise<T>): Promise<T> {
  let retries = 0;
  let keySwitches = 0;
  const limited = ctx.state.limits.hasProviderLimits(runtime.config);
  for (;;) {
    const apiKey = limited ? await admittedKey(ctx, runtime, target) : runtime.keys.take();
    const started = Date.now();
    ctx.record.provider = runtime.config.name;
    ctx.record.upstreamModel = target.upstreamModel;
    runtime.active++;
    const span = ctx.trace?.attempt(runtime.config, target.upstreamModel);
    try {
      const result = await attempt({ runtime, target, apiKey, signal: ctx.signal, traceparent: span?.traceparent });
      runtime.breaker.success();
      ctx.record.servedBy = { provider: runtime.config, keyId: apiKey !== undefined && runtime.config.key_tpm !== undefined ? keyDigest(apiKey) : undefined };
      ctx.record.attempts.push({ provider: runtime.config.name, model: target.upstreamModel, status: ctx.record.upstreamStatus, outcome: 'ok', ms: Date.now() - started });
      if (span !== undefined) ctx.trace?.succeeded(span, ctx.record.upstreamStatus);
      return result;
    } catch (err) {
      span?.failed(asSluiceError(ctx.signal.aborted ? ctx.signal.reason : err), ctx.record.upstreamStatus);
      if (ctx.signal.aborted) {
        runtime.breaker.settle('unknown');
        throw ctx.signal.reason;
      }
      const error = asSluiceError(err);
      ctx.record.attempts.push({ provider: runtime.config.name, model: target.upstreamModel, status: error.code === 'SLUICE_ERR_UPSTREAM_STATUS' ? error.status : undefined, outcome: error.outcome, ms: Date.now() - started });
      // A key the upstream refused (429/401) rests, and the next key is tried at once.
      if (error.code === 'SLUICE_ERR_UPSTREAM_STATUS' && (error.status === 429 || error.status === 401) && apiKey !== undefined) {
        runtime.keys.rest(apiKey, error.retryAfterMs ?? runtime.config.key_cooldown_ms);
        if (keySwitches < runtime.keys.size - 1) {
          keySwitches++;
          continue;
        }
      }
      if (error.retryable && error.status !== 429) runtime.breaker.failure();
      else runtime.breaker.settle(error.status === 429 ? 'refused' : error.code === 'SLUICE_ERR_UPSTREAM_STATUS' ? 'up' : 'unknown');
      const retryAfter = error.retryAfterMs ?? 0;
      if (!error.retryable || retries >= runtime.config.max_retries || retryAfter > RETRY_AFTER_CAP_MS) throw error;
      retries++;
      ctx.log.debug({ provider: runtime.config.name, retry: retries, code: error.code }, 'retrying upstream');
      const backoff = Math.max(retryAfter, 100 * 2 ** (retries - 1) * (0.5 + Math.random()));
      await ctx.signal.sleep(backoff).catch(() => undefined);
      if (ctx.signal.aborted) throw ctx.signal.reason;
    } finally {
      runtime.active--;
    }
  }
}

/**
 * A key for the next attempt under the provider's own rpm/tpm (and key_rpm/key_tpm): a key at its
 * limit rests here until its window frees up, and the next is tried; when the provider or every key
 * is at its limit, a retryable 429 moves the request to the next target without calling upstream.
 */
async function admittedKey(ctx: AttemptContext, runtime: ProviderRuntime, target: Target): Promise<string | undefined> {
  for (let tried = 0; ; tried++) {
    const apiKey = runtime.keys.take();
    const refused = await ctx.state.limits.admitAttempt(runtime.config, apiKey);
    if (refused === undefined) return apiKey;
    if (refused.scope === 'key' && apiKey !== undefined) runtime.keys.rest(apiKey, refused.retryAfterMs ?? ctx.state.limits.window.bucketMs, Date.now(), false);
    if (refused.scope === 'provider' || tried + 1 >= runtime.keys.size) {
      ctx.record.attempts.push({ provider: runtime.config.name, model: target.upstreamModel, outcome: 'rate_limited', ms: 0 });
      throw providerLimited(runtime.config.name, refused.retryAfterMs);
    }
  }
}

/** Sends one upstream request; an error status becomes a SluiceError carrying the rate-limit headers. */
export function send(ctx: AttemptContext, a: Attempt, stream: boolean): Promise<UpstreamResponse> {
  return sendRequest(ctx, a, a.runtime.adapter.buildRequest(ctx.request, { provider: a.runtime.config, upstreamModel: a.target.upstreamModel, stream, apiKey: a.apiKey }));
}

/** Sends a request already built (by an adapter, or a native passthrough), adding the tracing headers. */
export async function sendRequest(ctx: AttemptContext, a: Attempt, upstreamRequest: UpstreamRequest): Promise<UpstreamResponse> {
  upstreamRequest.headers['x-request-id'] = ctx.requestId;
  const traceparent = a.traceparent ?? ctx.traceparent;
  if (traceparent !== undefined) upstreamRequest.headers.traceparent = traceparent;
  const response = await a.runtime.client.send(upstreamRequest, a.signal);
  ctx.record.upstreamStatus = response.status;
  if (response.status < 400) return response;
  const text = await readText(response, 1024 * 1024);
  // parseError's texts pass through redactSecrets (upstreamStatusError): upstreams echo keys.
  const error = a.runtime.adapter.parseError(response.status, text);
  const headers: Record<string, string> = { ...error.headers };
  for (const [name, value] of Object.entries(response.headers)) {
    if (PASSED_HEADERS.test(name) && value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  throw error.with({ headers, retryAfterMs: retryAfterMs(response.headers) ?? error.retryAfterMs });
}

function retryAfterMs(headers: Record<string, HeaderValue>): number | undefined {
  const ms = Number(headers['retry-after-ms']);
  if (headers['retry-after-ms'] !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers['retry-after'];
  if (typeof raw !== 'string') return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export async function readText(response: UpstreamResponse, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  const reader = response.body[Symbol.asyncIterator]();
  for (;;) {
    const next = await nextBytes(reader, response);
    if (next.done === true) break;
    const bytes = next.value;
    size += bytes.byteLength;
    if (size > limit) {
      response.destroy();
      throw upstreamInvalid(`the response body is larger than ${limit} bytes`);
    }
    parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  return Buffer.concat(parts).toString('utf8');
}
