import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { loadPriceData, Pricing } from '../../src/limits/pricing.js';

const config = parseConfigText(
  `providers:
  - {name: oa, type: openai, base_url: "https://api.openai.com/v1"}
  - {name: local, type: openai, base_url: "http://127.0.0.1:8000/v1"}
  - {name: claude, type: anthropic, base_url: "https://api.anthropic.com/v1"}
  - {name: mock, type: mock}
pricing:
  house-model: {input_per_mtok: 2, output_per_mtok: 8, cached_input_per_mtok: 0.5, reasoning_per_mtok: 10}
  oa/gpt-4o-mini: {input_per_mtok: 1, output_per_mtok: 1}
`,
  {},
);
const provider = (name: string) => config.providers.find((p) => p.name === name)!;

describe('pricing', () => {
  beforeAll(loadPriceData);

  it('prices prompt, cached prompt, completion and reasoning from the config', () => {
    const pricing = new Pricing(config.pricing);
    const usage = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500, prompt_tokens_details: { cached_tokens: 400 }, completion_tokens_details: { reasoning_tokens: 100 } };
    // 600 x 2 + 400 x 0.5 + 400 x 8 + 100 x 10 = 5600 USD per million tokens -> 5600 x 1000 nano-USD.
    expect(pricing.cost(provider('local'), 'house-model', usage)).toBe(5_600_000);
    // `provider/model` wins over the package's price.
    expect(pricing.cost(provider('oa'), 'gpt-4o-mini', { prompt_tokens: 1_000_000, completion_tokens: 0, total_tokens: 1_000_000 })).toBe(1_000_000_000);
  });

  it("uses @pydantic/genai-prices' data: by provider, by URL, and by model name for a self-hosted OpenAI-compatible server", () => {
    const pricing = new Pricing({});
    const usage = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500, prompt_tokens_details: { cached_tokens: 200 } };
    const fromUrl = pricing.cost(provider('oa'), 'gpt-4o-mini', usage);
    // gpt-4o-mini: 0.15 input, 0.075 cached input, 0.6 output per million tokens.
    expect(fromUrl).toBe(Math.round((800 * 0.15 + 200 * 0.075 + 500 * 0.6) * 1000));
    expect(pricing.cost(provider('local'), 'gpt-4o-mini', usage)).toBe(fromUrl);
    expect(pricing.cost(provider('claude'), 'claude-sonnet-4-5', { prompt_tokens: 1000, completion_tokens: 100, total_tokens: 1100 })).toBe((1000 * 3 + 100 * 15) * 1000);
    // Over 200k input tokens the long-context tier prices every token.
    expect(pricing.cost(provider('claude'), 'claude-sonnet-4-5', { prompt_tokens: 300_000, completion_tokens: 10, total_tokens: 300_010 })).toBe((300_000 * 6 + 10 * 22.5) * 1000);
  });

  it('knows no price for an unknown model or the mock: undefined, never zero', () => {
    const pricing = new Pricing({});
    const usage = { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 };
    expect(pricing.cost(provider('local'), 'my-finetune-7b', usage)).toBeUndefined();
    expect(pricing.cost(provider('mock'), 'echo', usage)).toBeUndefined();
  });
});
