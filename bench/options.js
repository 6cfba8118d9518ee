// `npm run bench -- [--quick] [--rounds <n>] [--processes <k>] [--node <path>]... [--baseline <dir>]...`: the options, and the extra
// Sluice targets they ask for, each run beside `sluice` (this checkout on the Node running the
// bench) in the same interleaved rounds.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const USAGE = 'npm run bench -- [--quick] [--rounds <recorded rounds>] [--processes <per Sluice build>] [--node <path to a node binary>]... [--baseline <checkout dir>]...';

/**
 * Parses the bench's arguments; throws on anything else, naming the usage. `rounds` is undefined
 * unless given: then 3, or 1 with --quick. `processes` (default 1): how many processes each Sluice
 * build runs as, taking the rounds in turn.
 */
export function benchOptions(argv) {
  const options = { quick: false, rounds: undefined, processes: 1, nodes: [], baselines: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') {
      options.quick = true;
      continue;
    }
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag !== '--node' && flag !== '--baseline' && flag !== '--rounds' && flag !== '--processes') throw new Error(`unknown option ${arg}; usage: ${USAGE}`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '' || value.startsWith('--')) throw new Error(`${flag} needs a value; usage: ${USAGE}`);
    if (flag === '--rounds' || flag === '--processes') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a whole number of at least 1, not ${value}; usage: ${USAGE}`);
      options[flag.slice(2)] = n;
      continue;
    }
    (flag === '--node' ? options.nodes : options.baselines).push(value);
  }
  return options;
}

/** A name not yet in `taken`: `base`, else `base-2`, `base-3`, ... */
function unique(base, taken) {
  let name = base;
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
  taken.add(name);
  return name;
}

function shortCommit(dir) {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return undefined;
  }
}

/**
 * The Sluice targets to run: `sluice` itself, `sluice-node<major>` per `--node` binary (this
 * checkout's build on that Node), and `sluice-base` per `--baseline` checkout (its own `dist/` and
 * `node_modules`, on the Node running the bench). Each: name, the binary, the CLI script, the
 * directory to run in, and a description for the report. Throws if a binary or build is missing.
 */
export function sluiceTargets(options, root, nodePath = process.execPath) {
  const taken = new Set(['sluice']);
  const targets = [{ name: 'sluice', node: nodePath, cli: resolve(root, 'dist/cli.js'), cwd: root, about: `this checkout on Node ${process.version}` }];
  for (const node of options.nodes) {
    let version;
    try {
      version = execFileSync(node, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
    } catch (err) {
      throw new Error(`--node ${node}: cannot run it (${err.message.split('\n')[0]})`);
    }
    const major = /^v(\d+)\./.exec(version)?.[1];
    if (major === undefined) throw new Error(`--node ${node}: not a Node binary (it says ${JSON.stringify(version)})`);
    targets.push({ name: unique(`sluice-node${major}`, taken), node: node.includes('/') ? resolve(node) : node, cli: resolve(root, 'dist/cli.js'), cwd: root, about: `this checkout on Node ${version} (${node})` });
  }
  for (const dir of options.baselines) {
    const cwd = resolve(dir);
    const cli = resolve(cwd, 'dist/cli.js');
    if (!existsSync(cli) || !existsSync(resolve(cwd, 'node_modules'))) throw new Error(`--baseline ${dir}: no dist/cli.js or node_modules there (run \`npm ci\` in that checkout, which builds it)`);
    const commit = shortCommit(cwd);
    targets.push({ name: unique('sluice-base', taken), node: nodePath, cli, cwd, about: `${cwd}${commit ? ` at ${commit}` : ''} on Node ${process.version}` });
  }
  return targets;
}
