export interface BenchOptions {
  quick: boolean;
  nodes: string[];
  baselines: string[];
}

export interface SluiceTarget {
  name: string;
  node: string;
  cli: string;
  cwd: string;
  about: string;
}

export function benchOptions(argv: string[]): BenchOptions;
export function sluiceTargets(options: BenchOptions, root: string, nodePath?: string): SluiceTarget[];
