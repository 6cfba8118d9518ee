import type { Config, ProviderConfig, RouteConfig } from '../config/schema.js';
import { SluiceError } from '../errors.js';

export interface Target {
  provider: ProviderConfig;
  /** The name sent upstream. */
  upstreamModel: string;
  /** The route target's weight (1 outside routes). */
  weight: number;
}

/** A model resolved: a route's targets in config order, or one provider target. */
export interface Resolution {
  route: RouteConfig | undefined;
  targets: Target[];
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
  const wildcard = config.providers.find(acceptsAny);
  return wildcard === undefined ? undefined : { provider: wildcard, upstreamModel: model, weight: 1 };
}

export function modelNotFound(model: string): SluiceError {
  return new SluiceError('SLUICE_ERR_MODEL_NOT_FOUND', 404, 'invalid_request_error', `The model '${model}' does not exist or is not served by this gateway. GET /v1/models lists the models available.`, {
    param: 'model',
    openaiCode: 'model_not_found',
  });
}

/** Resolution order: a route name, then `provider/model`, then a provider listing it, then "*". */
export function resolveModel(config: Config, model: string): Resolution {
  const route = config.routes.find((r) => r.name === model);
  if (route !== undefined) {
    const targets = route.targets.map((t) => {
      const target = resolveProviderModel(config, t.model);
      // load.ts rejects a config whose route targets do not resolve, so this is a broken invariant.
      if (target === undefined) throw modelNotFound(t.model);
      return { ...target, weight: t.weight };
    });
    return { route, targets };
  }
  const target = resolveProviderModel(config, model);
  if (target === undefined) throw modelNotFound(model);
  return { route: undefined, targets: [target] };
}

/** The ids GET /v1/models lists from the config: routes, then `provider/model` for listed models. */
export function listedModels(config: Config): Array<{ id: string; owned_by: string }> {
  const out: Array<{ id: string; owned_by: string }> = config.routes.map((r) => ({ id: r.name, owned_by: 'sluice' }));
  for (const provider of config.providers) {
    const names = Array.isArray(provider.models) ? provider.models : Object.keys(provider.models);
    for (const name of names) if (name !== '*') out.push({ id: `${provider.name}/${name}`, owned_by: provider.name });
  }
  return out;
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
