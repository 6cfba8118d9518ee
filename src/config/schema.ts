import { z } from 'zod';

/**
 * `${VAR}` interpolation yields strings; numeric and boolean fields accept their string forms so that
 * `port: ${PORT:-8080}` works. String fields stay strings (an all-digit key remains a key).
 */
function fromText<T extends z.ZodType>(schema: T): ReturnType<typeof z.preprocess<unknown, T>> {
  return z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    const text = value.trim();
    if (text === 'true' || text === 'false') return text === 'true';
    return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : value;
  }, schema);
}

const timeouts = z
  .object({
    connect_ms: fromText(z.number().int().positive()).default(10_000),
    first_byte_ms: fromText(z.number().int().positive()).default(60_000),
    idle_ms: fromText(z.number().int().positive()).default(120_000),
    total_ms: fromText(z.number().int().positive()).default(900_000),
  })
  .strict()
  .prefault({});

export const providerTypes = ['openai', 'mock', 'anthropic', 'gemini', 'azure'] as const;
export type ProviderType = (typeof providerTypes)[number];

/** `models`: a list of names (or "*"), or a map from a public name to the upstream's name. */
const models = z.union([z.array(z.string().min(1)), z.record(z.string().min(1), z.string().min(1))]).default(['*']);

/** Files for a self-hosted upstream with a private CA or mutual TLS; read at start-up. */
const tls = z
  .object({
    /** PEM bundle of the CA(s) that sign the upstream's certificate (replaces Node's default roots). */
    ca_file: z.string().min(1).optional(),
    /** PEM client certificate and its key, for upstreams that require mutual TLS. */
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
    /** Accept any certificate. Only for testing: Sluice warns loudly at start-up. */
    insecure_skip_verify: fromText(z.boolean()).default(false),
  })
  .strict()
  .superRefine((t, ctx) => {
    if ((t.cert_file === undefined) !== (t.key_file === undefined)) {
      ctx.addIssue({ code: 'custom', path: [t.cert_file === undefined ? 'cert_file' : 'key_file'], message: 'cert_file and key_file go together' });
    }
  });

/** `none`: connect directly even when HTTPS_PROXY / HTTP_PROXY are set. */
const proxyUrl = z.union([z.literal('none'), z.url({ protocol: /^https?$/ })]);

const provider = z
  .object({
    name: z
      .string()
      .min(1)
      .regex(/^[^/\s]+$/, 'must not contain "/" or spaces (it is the routing prefix)'),
    type: z.enum(providerTypes),
    base_url: z.url().optional(),
    api_key: z
      .string()
      .optional()
      .transform((k) => (k === '' ? undefined : k)),
    /** Several keys: requests rotate over them; a key that got 429/401 cools down. */
    api_keys: z
      .array(z.string())
      .default([])
      .transform((keys) => keys.filter((k) => k !== '')),
    /** `native`: /v1/responses is proxied byte for byte to the upstream's own /responses. */
    responses: z.enum(['translate', 'native']).default('translate'),
    /** `upstream`: GET /v1/models also lists the upstream's own /models (cached). */
    list_models: z.enum(['config', 'upstream']).default('config'),
    circuit_breaker: z
      .object({
        failure_threshold: fromText(z.number().int().positive()).default(5),
        cooldown_ms: fromText(z.number().int().positive()).default(30_000),
      })
      .strict()
      .prefault({}),
    /** How long a key that got 429/401 rests when the upstream gave no Retry-After. */
    key_cooldown_ms: fromText(z.number().int().positive()).default(60_000),
    /** The longest a key rests, whatever Retry-After says (an upstream's 1e9 seconds would shelve it for good). */
    key_cooldown_max_ms: fromText(z.number().int().positive()).default(3_600_000),
    headers: z.record(z.string(), z.string()).default({}),
    models,
    force_upstream_stream: fromText(z.boolean()).default(false),
    supports_stream: fromText(z.boolean()).default(true),
    max_retries: fromText(z.number().int().min(0).max(10)).default(1),
    timeouts,
    /** The largest single upstream SSE event; a larger one ends the stream with an error. */
    max_event_mb: fromText(z.number().positive()).default(32),
    /** An HTTP(S) proxy for this provider's requests, overriding the egress (env) proxy; or `none`. */
    proxy: proxyUrl.optional(),
    tls: tls.optional(),
    /** Upstream quota to stay under: requests / tokens per window (state.window_ms), whole provider. */
    rpm: fromText(z.number().int().positive()).optional(),
    tpm: fromText(z.number().int().positive()).optional(),
    /** The same, for each of its keys: a key at its limit is skipped for the next one. */
    key_rpm: fromText(z.number().int().positive()).optional(),
    key_tpm: fromText(z.number().int().positive()).optional(),
    /** mock only: delay before each streamed word. */
    token_delay_ms: fromText(z.number().int().min(0)).default(0),
    /** azure: the api-version query parameter. */
    api_version: z.string().optional(),
    /** anthropic: the anthropic-version header. */
    anthropic_version: z.string().default('2023-06-01'),
    /** anthropic: max_tokens when the client sends none (Anthropic requires it). */
    default_max_tokens: fromText(z.number().int().positive()).default(4096),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.type !== 'mock' && p.base_url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['base_url'], message: `required for type '${p.type}'` });
    }
    if (p.responses === 'native' && p.type !== 'openai') {
      ctx.addIssue({ code: 'custom', path: ['responses'], message: "'native' is supported for type 'openai' only" });
    }
    if (p.list_models === 'upstream' && p.type !== 'openai') {
      ctx.addIssue({ code: 'custom', path: ['list_models'], message: "'upstream' is supported for type 'openai' only" });
    }
  });

export const budgetPeriods = ['1d', '7d', '30d', 'total'] as const;
export type BudgetPeriod = (typeof budgetPeriods)[number];

const clientKey = z.union([
  z.string(),
  z
    .object({
      key: z.string(),
      name: z.string().min(1),
      /** Models this key may use: exact names or prefixes ending in "*" (`openai/*`). */
      models: z.array(z.string().min(1)).optional(),
      /** Requests admitted per window (state.window_ms, a minute by default). */
      rpm: fromText(z.number().int().positive()).optional(),
      /** Tokens per window: counted when a request ends, checked when the next one starts. */
      tpm: fromText(z.number().int().positive()).optional(),
      /** Requests in flight at once. */
      max_parallel: fromText(z.number().int().positive()).optional(),
      /** Spend per period (fixed UTC periods counted from the Unix epoch; `total`: ever). */
      budget: z
        .object({
          usd: fromText(z.number().positive()),
          period: z.enum(budgetPeriods).default('30d'),
        })
        .strict()
        .optional(),
    })
    .strict(),
]);

/** USD per million tokens for one model, overriding or adding to the bundled price data. */
const modelPrice = z
  .object({
    input_per_mtok: fromText(z.number().min(0)),
    output_per_mtok: fromText(z.number().min(0)),
    /** Prompt tokens read from the upstream's cache; the input price when absent. */
    cached_input_per_mtok: fromText(z.number().min(0)).optional(),
    /** Reasoning tokens (part of the completion); the output price when absent. */
    reasoning_per_mtok: fromText(z.number().min(0)).optional(),
  })
  .strict();

const state = z
  .object({
    store: z.enum(['memory', 'redis']).default('memory'),
    /** redis://[user:password@]host:port[/db], or rediss:// for TLS. */
    url: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').optional(),
    /** Prefix of every Redis key and channel: Sluice instances that share limits share it. */
    key_prefix: z.string().min(1).default('sluice'),
    /** Longest wait for any store call before on_error applies. */
    timeout_ms: fromText(z.number().int().positive()).default(50),
    /** What a request gets while the store cannot answer: `allow` (unlimited) or `deny` (503). */
    on_error: z.enum(['allow', 'deny']).default('allow'),
    /** The window rpm and tpm count over; 60000 is the minute OpenAI's own limits use. */
    window_ms: fromText(z.number().int().min(1000)).default(60_000),
  })
  .strict()
  .prefault({})
  .superRefine((s, ctx) => {
    if (s.store === 'redis' && s.url === undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: "required for store 'redis'" });
  });

const routeTarget = z
  .object({
    model: z.string().min(1),
    weight: fromText(z.number().positive()).default(1),
  })
  .strict();

const route = z
  .object({
    name: z.string().min(1),
    strategy: z.enum(['fallback', 'round_robin', 'weighted', 'least_busy']).default('fallback'),
    targets: z.array(routeTarget).min(1, 'a route needs at least one target'),
    /** Statuses that move to the next target besides connect errors, timeouts, 5xx and 429. */
    fallback_on: z.array(fromText(z.number().int().min(400).max(599))).default([]),
    /** A model to try when a target rejects the prompt as too long for its context window. */
    on_context_overflow: z.string().min(1).optional(),
  })
  .strict();

const server = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: fromText(z.number().int().min(0).max(65535)).default(8080),
    // An entry interpolated from an unset variable is empty: it means "no key", not a key "".
    api_keys: z
      .array(clientKey)
      .default([])
      .transform((keys) => keys.filter((k) => (typeof k === 'string' ? k : k.key) !== '')),
    body_limit_mb: fromText(z.number().positive()).default(20),
    /** Bytes of request bodies being received at once, over all requests; beyond it a request gets 503. */
    inflight_body_mb: fromText(z.number().positive()).default(128),
    /** How deep a request's JSON may nest (objects and arrays); deeper is a 400. */
    max_json_depth: fromText(z.number().int().positive()).default(128),
    /** The time a client has to send a whole request (headers and body); then 408. */
    request_timeout_ms: fromText(z.number().int().positive()).default(120_000),
    /** The time a client has to send a request's headers; then 408. */
    headers_timeout_ms: fromText(z.number().int().positive()).default(30_000),
    /** How long a client may leave the response unread (nothing it was sent taken) before its connection is cut. */
    send_timeout_ms: fromText(z.number().int().positive()).default(30_000),
    /** The listen backlog (pending connections); the kernel's net.core.somaxconn bounds it. */
    listen_backlog: fromText(z.number().int().positive()).default(4096),
    keepalive_ms: fromText(z.number().int().positive()).default(15_000),
    /** Serve GET /metrics on this port instead of the main one (so it need not be exposed). */
    metrics_port: fromText(z.number().int().min(0).max(65535)).optional(),
    /** On SIGTERM/SIGINT, how long in-flight streams may finish before they are ended. */
    shutdown_grace_ms: fromText(z.number().int().min(0)).default(10_000),
    /** Keys that may read GET /v1/sluice/usage (client keys may not, unless listed here too). */
    admin_keys: z
      .array(z.string())
      .default([])
      .transform((keys) => keys.filter((k) => k !== '')),
    /** Worker processes sharing the port (node:cluster); `auto`: one per CPU. */
    workers: z.union([z.literal('auto'), fromText(z.number().int().min(1).max(256))]).default(1),
  })
  .strict()
  .prefault({});

const responses = z
  .object({
    /**
     * Hosted tools (web_search, file_search, ...) in a /v1/responses request routed to a chat-type
     * target, which cannot run them: `drop` them (named in a response header and the access log),
     * or `reject` the request with a 400.
     */
    hosted_tools: z.enum(['drop', 'reject']).default('drop'),
  })
  .strict()
  .prefault({});

/**
 * Outbound proxies for every provider without its own `proxy`. Each key left unset here is taken
 * from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, or their lower-case forms) at load time.
 */
const egress = z
  .object({
    http_proxy: z.url({ protocol: /^https?$/ }).optional(),
    https_proxy: z.url({ protocol: /^https?$/ }).optional(),
    /** Hosts reached directly: comma-separated names (a name covers its subdomains), `host:port`, or `*`. */
    no_proxy: z.string().optional(),
  })
  .strict()
  .prefault({});

/**
 * OpenTelemetry traces over OTLP/HTTP (JSON). Off unless an endpoint is set here or in the
 * environment (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), filled at load.
 */
const tracing = z
  .object({
    /** The collector's base URL; spans go to `{endpoint}/v1/traces`. */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** The full traces URL, used as is instead of `{endpoint}/v1/traces`. */
    traces_endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** `service.name` of the spans (OTEL_SERVICE_NAME; `sluice` when neither is set). */
    service_name: z.string().min(1).optional(),
    /** Prompts and completion text in spans. Off by default: no message text leaves Sluice. */
    capture_content: fromText(z.boolean()).default(false),
    /** How long finished spans wait to be exported together (OTEL_BSP_SCHEDULE_DELAY). */
    export_delay_ms: fromText(z.number().int().positive()).optional(),
  })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    server,
    egress,
    tracing,
    providers: z.array(provider).min(1, 'at least one provider is required'),
    routes: z.array(route).default([]),
    responses,
    state,
    /** Prices per model name (the upstream's, or `provider/model`). */
    pricing: z.record(z.string().min(1), modelPrice).default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.providers.forEach((p, i) => {
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['providers', i, 'name'], message: `duplicate provider name '${p.name}'` });
      seen.add(p.name);
    });
    const routeNames = new Set<string>();
    c.routes.forEach((r, i) => {
      if (routeNames.has(r.name)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'name'], message: `duplicate route name '${r.name}'` });
      routeNames.add(r.name);
    });
    // Limits, spend and usage are kept per key name: two keys with one name would share them.
    const keyNames = new Set<string>();
    c.server.api_keys.forEach((k, i) => {
      if (typeof k === 'string') return;
      if (keyNames.has(k.name)) ctx.addIssue({ code: 'custom', path: ['server', 'api_keys', i, 'name'], message: `duplicate key name '${k.name}'` });
      keyNames.add(k.name);
    });
  });

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = Config['providers'][number];
export type ServerConfig = Config['server'];
export type Timeouts = ProviderConfig['timeouts'];
export type RouteConfig = Config['routes'][number];
export type EgressConfig = Config['egress'];
export type TracingConfig = Config['tracing'];
export type TlsConfig = NonNullable<ProviderConfig['tls']>;
export type ClientKeyConfig = ServerConfig['api_keys'][number];
export type StateConfig = Config['state'];
export type ModelPriceConfig = Config['pricing'][string];
