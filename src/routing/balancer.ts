import type { RouteConfig } from '../config/schema.js';
import type { Target } from '../config/routes.js';

/**
 * Orders a route's targets for one request: the first is tried first, the rest are the fallback
 * chain. In-memory, per process; `busy` gives a provider's in-flight request count.
 */
export class Balancer {
  private readonly turns = new Map<string, number>();

  constructor(private readonly random: () => number = Math.random) {}

  order(route: RouteConfig | undefined, targets: Target[], busy: (provider: string) => number): Target[] {
    if (route === undefined || targets.length < 2) return targets;
    switch (route.strategy) {
      case 'fallback':
        return targets;
      case 'round_robin': {
        const turn = this.turns.get(route.name) ?? 0;
        this.turns.set(route.name, turn + 1);
        const start = turn % targets.length;
        return [...targets.slice(start), ...targets.slice(0, start)];
      }
      case 'weighted': {
        const first = this.pickWeighted(targets);
        return [targets[first] as Target, ...targets.filter((_, i) => i !== first)];
      }
      case 'least_busy':
        // A stable sort keeps config order among equally busy targets.
        return [...targets].sort((a, b) => busy(a.provider.name) - busy(b.provider.name));
    }
  }

  private pickWeighted(targets: Target[]): number {
    const total = targets.reduce((sum, t) => sum + t.weight, 0);
    let point = this.random() * total;
    for (let i = 0; i < targets.length; i++) {
      point -= (targets[i] as Target).weight;
      if (point < 0) return i;
    }
    return targets.length - 1;
  }
}
