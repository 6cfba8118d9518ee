import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { listedModels, resolveModel } from '../../src/routing/route.js';

const config = parseConfigText(
  `
providers:
  - {name: openai, type: openai, base_url: "http://127.0.0.1:1/v1", models: [gpt-4o, claude-exact]}
  - {name: any, type: openai, base_url: "http://127.0.0.1:2/v1", models: ["*"]}
routes:
  - {name: "claude-*", targets: [{model: openai/gpt-4o}]}
  - {name: "claude-haiku-*", targets: [{model: openai/gpt-4o-mini}]}
  - {name: smart, targets: [{model: openai/gpt-4o}]}
`,
  {},
);

const where = (model: string): [string | undefined, string] => {
  const r = resolveModel(config, model);
  return [r.route?.name, `${r.targets[0]?.provider.name}/${r.targets[0]?.upstreamModel}`];
};

describe('pattern routes (a route name ending in *)', () => {
  it('serve every model with the prefix, the longest prefix first', () => {
    expect(where('claude-opus-5-5')).toEqual(['claude-*', 'openai/gpt-4o']);
    expect(where('claude-haiku-4-5-20251001')).toEqual(['claude-haiku-*', 'openai/gpt-4o-mini']);
  });

  it('come after exact names (routes, provider/model, listed models) and before a provider "*"', () => {
    expect(where('smart')).toEqual(['smart', 'openai/gpt-4o']);
    expect(where('claude-exact')).toEqual([undefined, 'openai/claude-exact']);
    expect(where('any/claude-x')).toEqual([undefined, 'any/claude-x']);
    expect(where('llama-3')).toEqual([undefined, 'any/llama-3']);
  });

  it('are not listed as model ids', () => {
    expect(listedModels(config).map((m) => m.id)).not.toContain('claude-*');
  });
});
