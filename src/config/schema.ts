import { z } from 'zod';

const timeouts = z
  .object({
    connect_ms: z.number().int().positive().default(10_000),
    first_byte_ms: z.number().int().positive().default(60_000),
    idle_ms: z.number().int().positive().default(120_000),
    total_ms: z.number().int().positive().default(900_000),
  })
  .strict()
  .prefault({});

export const providerTypes = ['openai', 'mock', 'anthropic', 'gemini', 'azure'] as const;
export type ProviderType = (typeof providerTypes)[number];

/** `models`: a list of names (or "*"), or a map from a public name to the upstream's name. */
const models = z.union([z.array(z.string().min(1)), z.record(z.string().min(1), z.string().min(1))]).default(['*']);

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
    headers: z.record(z.string(), z.string()).default({}),
    models,
    force_upstream_stream: z.boolean().default(false),
    supports_stream: z.boolean().default(true),
    max_retries: z.number().int().min(0).max(10).default(1),
    timeouts,
    /** mock only: delay before each streamed word. */
    token_delay_ms: z.number().int().min(0).default(0),
    /** azure: the api-version query parameter. */
    api_version: z.string().optional(),
    /** anthropic: the anthropic-version header. */
    anthropic_version: z.string().default('2023-06-01'),
    /** anthropic: max_tokens when the client sends none (Anthropic requires it). */
    default_max_tokens: z.number().int().positive().default(4096),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.type !== 'mock' && p.base_url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['base_url'], message: `required for type '${p.type}'` });
    }
  });

const server = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    // An entry interpolated from an unset variable is empty: it means "no key", not a key "".
    api_keys: z
      .array(z.string())
      .default([])
      .transform((keys) => keys.filter((k) => k !== '')),
    body_limit_mb: z.number().positive().default(20),
    keepalive_ms: z.number().int().positive().default(15_000),
  })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    server,
    providers: z.array(provider).min(1, 'at least one provider is required'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.providers.forEach((p, i) => {
      if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['providers', i, 'name'], message: `duplicate provider name '${p.name}'` });
      seen.add(p.name);
    });
  });

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = Config['providers'][number];
export type ServerConfig = Config['server'];
export type Timeouts = ProviderConfig['timeouts'];
