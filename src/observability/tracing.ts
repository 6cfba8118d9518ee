import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type TextMapGetter, type TextMapPropagator, type TextMapSetter, type Tracer } from '@opentelemetry/api';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { createRequire } from 'node:module';
import type { ProviderConfig, ProviderType, TracingConfig } from '../config/schema.js';
import type { SluiceError } from '../core/errors.js';
import type { ChatRequest } from '../core/types.js';
import type { AccessRecord } from './access.js';

/**
 * OpenTelemetry traces: one SERVER span per request and one CLIENT span per upstream attempt, with
 * the GenAI semantic-convention attributes. Built only when tracing is configured: with it off
 * there is no Tracing object, so the request path pays one undefined check per hook and creates no
 * span, context or header, and the SDK and its exporter are never loaded (`Tracing.create`).
 *
 * Secrets never reach a span: attributes are set from the config's names, the access record and
 * the request's model and sampling parameters only (no headers, no keys, no URLs with queries).
 * Message text goes in only with `capture_content: true`.
 */

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** `gen_ai.provider.name` by provider type (the convention's well-known values where there is one). */
const GEN_AI_PROVIDER: Record<ProviderType, string> = {
  openai: 'openai',
  azure: 'azure.ai.openai',
  anthropic: 'anthropic',
  gemini: 'gcp.gemini',
  mock: 'sluice.mock',
};

const EXPORT_WARN_INTERVAL_MS = 60_000;

/** `gen_ai.operation.name` by endpoint. */
const OPERATION: Record<string, string> = {
  '/v1/chat/completions': 'chat',
  '/v1/responses': 'chat',
  '/v1/completions': 'text_completion',
  '/v1/embeddings': 'embeddings',
};

const headerGetter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

const headerSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** The SDK's modules, loaded by `Tracing.create`. */
type Sdk = [
  typeof import('@opentelemetry/core'),
  typeof import('@opentelemetry/exporter-trace-otlp-http'),
  typeof import('@opentelemetry/resources'),
  typeof import('@opentelemetry/sdk-trace-base'),
];

export class Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator: TextMapPropagator;
  readonly captureContent: boolean;

  /** Loads the SDK and its OTLP exporter (only now: a config without tracing never pays for them). */
  static async create(config: TracingConfig, log: { warn(fields: object, message: string): void }): Promise<Tracing> {
    const sdk = await Promise.all([
      import('@opentelemetry/core'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace-base'),
    ]);
    return new Tracing(config, log, sdk);
  }

  private constructor(config: TracingConfig, log: { warn(fields: object, message: string): void }, [core, otlp, resources, sdk]: Sdk) {
    const url = config.traces_endpoint ?? `${(config.endpoint ?? '').replace(/\/+$/, '')}/v1/traces`;
    // Export failures (a collector down) are logged, at most once a minute: spans are best effort.
    let lastWarned = 0;
    core.setGlobalErrorHandler((err) => {
      if (Date.now() - lastWarned < EXPORT_WARN_INTERVAL_MS) return;
      lastWarned = Date.now();
      log.warn({ url, err: err instanceof Error ? err.message : String(err) }, 'could not export trace spans');
    });
    this.provider = new sdk.BasicTracerProvider({
      resource: resources.resourceFromAttributes({ 'service.name': config.service_name ?? 'sluice', 'service.version': version }),
      spanProcessors: [new sdk.BatchSpanProcessor(new otlp.OTLPTraceExporter({ url }), { scheduledDelayMillis: config.export_delay_ms ?? 5000 })],
    });
    this.propagator = new core.W3CTraceContextPropagator();
    this.tracer = this.provider.getTracer('sluice', version);
    this.captureContent = config.capture_content;
  }

  /** Whether a config turns tracing on. */
  static enabled(config: TracingConfig): boolean {
    return config.endpoint !== undefined || config.traces_endpoint !== undefined;
  }

  /** The request's SERVER span, the child of the client's `traceparent` when it sent a valid one. */
  startRequest(api: string, method: string, headers: Record<string, string | string[] | undefined>, startedAt: number): RequestTrace {
    const parent = headers.traceparent === undefined ? ROOT_CONTEXT : this.propagator.extract(ROOT_CONTEXT, headers, headerGetter);
    const operation = OPERATION[api] ?? 'chat';
    const span = this.tracer.startSpan(
      operation,
      { kind: SpanKind.SERVER, startTime: startedAt, attributes: { 'gen_ai.operation.name': operation, 'http.request.method': method, 'http.route': api } },
      parent,
    );
    return new RequestTrace(this, span, trace.setSpan(parent, span), operation);
  }

  /** @internal */
  startAttempt(parent: Context, operation: string, provider: ProviderConfig, upstreamModel: string): AttemptTrace {
    const attributes: Attributes = {
      'gen_ai.operation.name': operation,
      'gen_ai.provider.name': GEN_AI_PROVIDER[provider.type],
      'gen_ai.request.model': upstreamModel,
      'sluice.provider': provider.name,
    };
    if (provider.base_url !== undefined) {
      const url = new URL(provider.base_url);
      attributes['server.address'] = url.hostname;
      attributes['server.port'] = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    }
    const span = this.tracer.startSpan(`${operation} ${upstreamModel}`, { kind: SpanKind.CLIENT, attributes }, parent);
    const carrier: Record<string, string> = {};
    this.propagator.inject(trace.setSpan(parent, span), carrier, headerSetter);
    return new AttemptTrace(span, carrier.traceparent as string);
  }

  /** Exports what is left; called when the server closes. */
  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

/** One upstream attempt's CLIENT span. */
export class AttemptTrace {
  /** The `traceparent` header the upstream call carries: this span's context. */
  readonly traceparent: string;
  ended = false;

  constructor(
    readonly span: Span,
    traceparent: string,
  ) {
    this.traceparent = traceparent;
  }

  /** A failed attempt ends here, with its outcome. */
  failed(error: SluiceError, status: number | undefined): void {
    this.span.setAttributes({ 'sluice.attempt.outcome': error.outcome, 'error.type': error.code });
    if (status !== undefined) this.span.setAttribute('http.response.status_code', status);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.span.end();
  }
}

/** One request's SERVER span and its attempts. */
export class RequestTrace {
  private served: AttemptTrace | undefined;

  constructor(
    private readonly tracing: Tracing,
    private readonly span: Span,
    private readonly context: Context,
    private readonly operation: string,
  ) {}

  /** The validated request: the span's name and the request attributes. */
  requested(request: ChatRequest): void {
    this.span.updateName(`${this.operation} ${request.model}`);
    const attributes: Attributes = { 'gen_ai.request.model': request.model, 'sluice.stream': request.stream === true };
    for (const [key, name] of [
      ['max_tokens', 'gen_ai.request.max_tokens'],
      ['max_completion_tokens', 'gen_ai.request.max_tokens'],
      ['temperature', 'gen_ai.request.temperature'],
      ['top_p', 'gen_ai.request.top_p'],
      ['n', 'gen_ai.request.choice.count'],
      ['seed', 'gen_ai.request.seed'],
      ['dimensions', 'gen_ai.embeddings.dimension.count'],
    ] as const) {
      const value = request[key];
      if (typeof value === 'number') attributes[name] = value;
    }
    if (this.tracing.captureContent && Array.isArray(request.messages)) attributes['gen_ai.input.messages'] = JSON.stringify(request.messages);
    this.span.setAttributes(attributes);
  }

  /** A CLIENT span for one attempt against `provider`, the child of this request's span. */
  attempt(provider: ProviderConfig, upstreamModel: string): AttemptTrace {
    return this.tracing.startAttempt(this.context, this.operation, provider, upstreamModel);
  }

  /** The attempt that answered: it stays open until the answer has been relayed. */
  succeeded(attempt: AttemptTrace, status: number | undefined): void {
    attempt.span.setAttribute('sluice.attempt.outcome', 'ok');
    if (status !== undefined) attempt.span.setAttribute('http.response.status_code', status);
    this.served = attempt;
  }

  /** Completion messages, for `capture_content` only (non-stream answers; streams are not accumulated). */
  output(messages: unknown): void {
    if (this.tracing.captureContent) this.span.setAttribute('gen_ai.output.messages', JSON.stringify(messages));
  }

  /** The request is over: the record's outcome, usage and timings on both spans, then end them. */
  end(record: AccessRecord, providerType: ProviderType | undefined, error: SluiceError | undefined): void {
    const result: Attributes = {};
    if (record.responseModel !== undefined) result['gen_ai.response.model'] = record.responseModel;
    if (record.finishReasons !== undefined && record.finishReasons.length > 0) result['gen_ai.response.finish_reasons'] = record.finishReasons;
    if (record.usage !== undefined) {
      result['gen_ai.usage.input_tokens'] = record.usage.prompt_tokens;
      if (typeof record.usage.completion_tokens === 'number') result['gen_ai.usage.output_tokens'] = record.usage.completion_tokens;
      if (record.usageEstimated === true) result['sluice.usage_estimated'] = true;
    }
    if (record.ttftMs !== undefined) result['sluice.time_to_first_token_ms'] = record.ttftMs;
    // A client's own mistake (4xx) and a client that left are not failures; 5xx and a stream that
    // broke after its first byte (status 200, outcome not ok) are.
    const failed = record.status >= 500 || (record.status < 400 && record.outcome !== 'ok' && record.outcome !== 'client_abort');
    const served = this.served;
    if (served !== undefined) {
      served.span.setAttributes(result);
      if (failed && record.status < 400) {
        served.span.setAttribute('sluice.attempt.outcome', record.outcome);
        served.span.setStatus({ code: SpanStatusCode.ERROR, message: error?.message ?? record.outcome });
      }
      served.end();
    }
    this.span.setAttributes(result);
    this.span.setAttributes({ 'http.response.status_code': record.status, 'sluice.outcome': record.outcome, 'sluice.attempts': record.attempts.length });
    if (record.provider !== undefined) this.span.setAttribute('sluice.provider', record.provider);
    if (providerType !== undefined) this.span.setAttribute('gen_ai.provider.name', GEN_AI_PROVIDER[providerType]);
    if (record.route !== undefined) this.span.setAttribute('sluice.route', record.route);
    if (error !== undefined || record.outcome !== 'ok') this.span.setAttribute('error.type', error?.code ?? record.outcome);
    if (failed) this.span.setStatus({ code: SpanStatusCode.ERROR, message: error?.message ?? record.outcome });
    this.span.end();
  }
}
