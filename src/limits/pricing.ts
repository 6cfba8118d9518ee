import type { calcPrice as CalcPrice, ModelPrice } from '@pydantic/genai-prices';
import type { Config, ModelPriceConfig, ProviderConfig } from '../config/schema.js';
import type { Usage } from '../core/types.js';

/** USD per million tokens, as Sluice applies it. */
interface Rates {
  input: number;
  cachedInput: number;
  output: number;
  reasoning: number;
  /** genai-prices' long-context tiers: from `start` input tokens, every token costs the tier's price. */
  tiers?: { input: Tier[]; cachedInput: Tier[]; output: Tier[] };
  /** Where the price came from, for the log. */
  source: string;
}

interface Tier {
  start: number;
  price: number;
}

/** Per token: the price per million tokens x 1000 is nano-USD. */
const NANO_PER_MTOK_TOKEN = 1000;

/** The price data's lookup, once `loadPriceData` has loaded it. */
let calcPrice: typeof CalcPrice | undefined;

/**
 * Loads @pydantic/genai-prices' data (megabytes of heap), once per process, so that `Pricing` can
 * look prices up synchronously.
 */
export async function loadPriceData(): Promise<void> {
  calcPrice ??= (await import('@pydantic/genai-prices')).calcPrice;
}

/**
 * Loads the price data if `config` prices requests (only client keys carry spend and budgets):
 * called before a config is put in force, at start-up and on reload.
 */
export async function loadPriceDataFor(config: Config): Promise<void> {
  if (config.server.api_keys.length > 0) await loadPriceData();
}

/** genai-prices provider ids by provider type; `openai` upstreams are matched by their base URL. */
const PROVIDER_IDS: Partial<Record<ProviderConfig['type'], string>> = { anthropic: 'anthropic', gemini: 'google', azure: 'azure' };

/**
 * Cost of a request from its token usage: config `pricing` first (by `provider/model`, then the
 * upstream model), then the price data of @pydantic/genai-prices. The package's lookup is costly,
 * so each model's rates are looked up once per process; a model with no price stays unknown (the
 * caller counts it as unpriced and logs it once), never zero.
 */
export class Pricing {
  private readonly cache = new Map<string, Rates | null>();

  constructor(private readonly overrides: Config['pricing']) {}

  /** Rates for one model, or null when no price is known. */
  rates(provider: ProviderConfig, upstreamModel: string): Rates | null {
    const cacheKey = `${provider.name}/${upstreamModel}`;
    let rates = this.cache.get(cacheKey);
    if (rates === undefined) {
      rates = this.lookUp(provider, upstreamModel);
      this.cache.set(cacheKey, rates);
    }
    return rates;
  }

  /** Nano-USD for the usage, or undefined when the model has no known price. */
  cost(provider: ProviderConfig, upstreamModel: string, usage: Usage): number | undefined {
    const rates = this.rates(provider, upstreamModel);
    return rates === null ? undefined : costOf(rates, usage);
  }

  private lookUp(provider: ProviderConfig, upstreamModel: string): Rates | null {
    const own = this.overrides[`${provider.name}/${upstreamModel}`] ?? this.overrides[upstreamModel];
    if (own !== undefined) return fromConfig(own, 'config pricing');
    if (provider.type === 'mock') return null;
    if (calcPrice === undefined) throw new Error('pricing: the price data is not loaded (loadPriceData)');
    const usage = { input_tokens: 1, output_tokens: 1 };
    const providerId = PROVIDER_IDS[provider.type];
    const hint = providerId !== undefined ? { providerId } : provider.base_url !== undefined ? { providerApiUrl: provider.base_url } : {};
    // An OpenAI-compatible upstream the data does not know by URL (a self-hosted server, a proxy)
    // is priced by the model name alone.
    const found = calcPrice(usage, upstreamModel, hint) ?? (provider.type === 'openai' ? calcPrice(usage, upstreamModel) : null);
    if (found === null) return null;
    return fromPackage(found.model_price, `genai-prices ${found.provider.id}/${found.model.id}`);
  }
}

function fromConfig(price: ModelPriceConfig, source: string): Rates {
  return {
    input: price.input_per_mtok,
    cachedInput: price.cached_input_per_mtok ?? price.input_per_mtok,
    output: price.output_per_mtok,
    reasoning: price.reasoning_per_mtok ?? price.output_per_mtok,
    source,
  };
}

function base(value: ModelPrice[string]): { base: number; tiers: Tier[] } | undefined {
  if (typeof value === 'number') return { base: value, tiers: [] };
  if (value !== undefined && typeof value === 'object') return { base: value.base, tiers: [...value.tiers] };
  return undefined;
}

function fromPackage(price: ModelPrice, source: string): Rates | null {
  const input = base(price.input_mtok);
  const output = base(price.output_mtok);
  if (input === undefined || output === undefined) return null;
  const cached = base(price.cache_read_mtok) ?? input;
  return {
    input: input.base,
    cachedInput: cached.base,
    output: output.base,
    reasoning: output.base,
    tiers: input.tiers.length + output.tiers.length + cached.tiers.length > 0 ? { input: input.tiers, cachedInput: cached.tiers, output: output.tiers } : undefined,
    source,
  };
}

function tiered(baseRate: number, tiers: Tier[] | undefined, inputTokens: number): number {
  let rate = baseRate;
  let from = -1;
  for (const tier of tiers ?? []) {
    if (tier.start <= inputTokens && tier.start > from) {
      rate = tier.price;
      from = tier.start;
    }
  }
  return rate;
}

/** Prompt (less its cached part) x input, cached x cached input, completion (less reasoning) x output, reasoning x reasoning. */
export function costOf(rates: Rates, usage: Usage): number {
  const prompt = usage.prompt_tokens || 0;
  const cached = Math.min(prompt, Number(usage.prompt_tokens_details?.cached_tokens ?? 0) || 0);
  const completion = usage.completion_tokens || 0;
  const reasoning = Math.min(completion, Number(usage.completion_tokens_details?.reasoning_tokens ?? 0) || 0);
  const input = tiered(rates.input, rates.tiers?.input, prompt);
  const cachedInput = tiered(rates.cachedInput, rates.tiers?.cachedInput, prompt);
  const output = tiered(rates.output, rates.tiers?.output, prompt);
  const reasoningRate = rates.tiers === undefined ? rates.reasoning : output;
  const perMtok = (prompt - cached) * input + cached * cachedInput + (completion - reasoning) * output + reasoning * reasoningRate;
  return Math.round(perMtok * NANO_PER_MTOK_TOKEN);
}
