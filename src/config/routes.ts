import type { Config, ProviderConfig } from './schema.js';

// Which provider serves a model name is a property of the config: load.ts checks every route
// target with it, and routing resolves requests with it.

export interface Target {
  provider: ProviderConfig;
  /** The name sent upstream. */
  upstreamModel: string;
  /** The route target's weight (1 outside routes). */
  weight: number;
}

function listedName(provider: ProviderConfig, model: string): string | undefined {
  const models = provider.models;
  if (Array.isArray(models)) return models.includes(model) ? model : undefined;
  return Object.hasOwn(models, model) ? models[model] : undefined;
}

function acceptsAny(provider: ProviderConfig): boolean {
  return Array.isArray(provider.models) && provider.models.includes('*');
}

/**
 * A model without routes: `provider/model` picks that provider, with the text after the FIRST slash
 * as the model (`up/meta-llama/Llama-3` -> `meta-llama/Llama-3`, mapped if the provider maps it);
 * otherwise the first provider listing the model exactly, then the first with "*".
 */
export function resolveProviderModel(config: Config, model: string): Target | undefined {
  return resolveListedModel(config, model) ?? resolveAnyModel(config, model);
}

/** `provider/model`, or the first provider listing the model exactly; not a provider's "*". */
export function resolveListedModel(config: Config, model: string): Target | undefined {
  const slash = model.indexOf('/');
  if (slash > 0) {
    const prefixed = config.providers.find((p) => p.name === model.slice(0, slash));
    if (prefixed !== undefined) {
      const rest = model.slice(slash + 1);
      return { provider: prefixed, upstreamModel: listedName(prefixed, rest) ?? rest, weight: 1 };
    }
  }
  for (const provider of config.providers) {
    const name = listedName(provider, model);
    if (name !== undefined) return { provider, upstreamModel: name, weight: 1 };
  }
  return undefined;
}

/** The first provider with "*", for a model nothing else serves. */
export function resolveAnyModel(config: Config, model: string): Target | undefined {
  const wildcard = config.providers.find(acceptsAny);
  return wildcard === undefined ? undefined : { provider: wildcard, upstreamModel: model, weight: 1 };
}

/** Config problems routes can have, as `path: message` lines (load.ts adds them to the others). */
export function routeProblems(config: Config): string[] {
  const problems: string[] = [];
  config.routes.forEach((route, i) => {
    if (config.providers.some((p) => p.name === route.name)) problems.push(`routes[${i}].name: '${route.name}' is also a provider name`);
    route.targets.forEach((t, j) => {
      if (config.routes.some((r) => r.name === t.model)) problems.push(`routes[${i}].targets[${j}].model: '${t.model}' is a route; targets must be provider models`);
      else if (resolveProviderModel(config, t.model) === undefined) problems.push(`routes[${i}].targets[${j}].model: no provider serves '${t.model}'`);
    });
    if (route.on_context_overflow !== undefined && resolveProviderModel(config, route.on_context_overflow) === undefined) {
      problems.push(`routes[${i}].on_context_overflow: no provider serves '${route.on_context_overflow}'`);
    }
  });
  return problems;
}
