import { resolveAnyModel, resolveListedModel, resolveProviderModel, type Target } from '../config/routes.js';
import type { Config, RouteConfig } from '../config/schema.js';
import { SluiceError } from '../core/errors.js';

/** A model resolved: a route's targets in config order, or one provider target. */
export interface Resolution {
  route: RouteConfig | undefined;
  targets: Target[];
}

export function modelNotFound(model: string): SluiceError {
  return new SluiceError('SLUICE_ERR_MODEL_NOT_FOUND', 404, 'invalid_request_error', `The model '${model}' does not exist or is not served by this gateway. GET /v1/models lists the models available.`, {
    param: 'model',
    openaiCode: 'model_not_found',
  });
}

/** Whether a route's name is a pattern (`claude-*`): it serves every model name with that prefix. */
export function isPatternRoute(route: RouteConfig): boolean {
  return route.name.endsWith('*');
}

/** The pattern route with the longest prefix of `model`, if any. */
function patternRoute(config: Config, model: string): RouteConfig | undefined {
  let best: RouteConfig | undefined;
  for (const route of config.routes) {
    if (isPatternRoute(route) && model.startsWith(route.name.slice(0, -1)) && route.name.length > (best?.name.length ?? 0)) best = route;
  }
  return best;
}

function routeResolution(config: Config, route: RouteConfig): Resolution {
  const targets = route.targets.map((t) => {
    const target = resolveProviderModel(config, t.model);
    // load.ts rejects a config whose route targets do not resolve, so this is a broken invariant.
    if (target === undefined) throw modelNotFound(t.model);
    return { ...target, weight: t.weight };
  });
  return { route, targets };
}

/**
 * Resolution order: a route name, then `provider/model`, then a provider listing it, then a
 * pattern route (`claude-*`, longest prefix first), then a provider's "*".
 */
export function resolveModel(config: Config, model: string): Resolution {
  const route = config.routes.find((r) => r.name === model);
  if (route !== undefined) return routeResolution(config, route);
  const listed = resolveListedModel(config, model);
  if (listed !== undefined) return { route: undefined, targets: [listed] };
  const pattern = patternRoute(config, model);
  if (pattern !== undefined) return routeResolution(config, pattern);
  const any = resolveAnyModel(config, model);
  if (any === undefined) throw modelNotFound(model);
  return { route: undefined, targets: [any] };
}

/** The ids GET /v1/models lists from the config: routes, then `provider/model` for listed models. */
export function listedModels(config: Config): Array<{ id: string; owned_by: string }> {
  const out: Array<{ id: string; owned_by: string }> = config.routes.filter((r) => !isPatternRoute(r)).map((r) => ({ id: r.name, owned_by: 'sluice' }));
  for (const provider of config.providers) {
    const names = Array.isArray(provider.models) ? provider.models : Object.keys(provider.models);
    for (const name of names) if (name !== '*') out.push({ id: `${provider.name}/${name}`, owned_by: provider.name });
  }
  return out;
}
