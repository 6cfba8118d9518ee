export interface BenchOptions {
  quick: boolean;
  rounds: number | undefined;
  processes: number;
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
export function sluiceTargets(options: Partial<BenchOptions> & Pick<BenchOptions, 'nodes' | 'baselines'>, root: string, nodePath?: string): SluiceTarget[];
