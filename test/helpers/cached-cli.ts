import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: `.cache/` under it is ignored by git. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CachedCli {
  /** npm package name, e.g. `@openai/codex`. */
  pkg: string;
  /** Exact version: tests run against what was verified, never against whatever is latest. */
  version: string;
  /** Folder under `<repo>/.cache/`. */
  cache: string;
  /** The package's JS entry point, relative to the package folder (run with this Node). */
  entry: string;
}

function installedVersion(dir: string): string | undefined {
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest)) return undefined;
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version;
}

/**
 * The entry script of an agent CLI that is too large for package.json (the agent CLIs ship native
 * binaries of a few hundred MB as optional dependencies): installed on demand into
 * `<repo>/.cache/<cache>` with `npm install --prefix`, reused when the pinned version is there. A
 * failed install throws with npm's output: the test fails loudly, it never skips.
 */
export function ensureCachedCli(cli: CachedCli): string {
  const prefix = join(REPO_ROOT, '.cache', cli.cache);
  const dir = join(prefix, 'node_modules', ...cli.pkg.split('/'));
  if (installedVersion(dir) !== cli.version) {
    mkdirSync(prefix, { recursive: true });
    try {
      execFileSync('npm', ['install', '--prefix', prefix, '--save-exact', '--no-audit', '--no-fund', '--loglevel=error', `${cli.pkg}@${cli.version}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 600_000,
      });
    } catch (err) {
      const e = err as { message: string; stdout?: Buffer; stderr?: Buffer };
      throw new Error(`could not install ${cli.pkg}@${cli.version} into ${prefix}: ${e.message}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
    }
    const got = installedVersion(dir);
    if (got !== cli.version) throw new Error(`npm installed ${cli.pkg}@${got ?? 'nothing'} into ${prefix}, expected ${cli.version}`);
  }
  const entry = join(dir, cli.entry);
  if (!existsSync(entry)) throw new Error(`${cli.pkg}@${cli.version} has no ${cli.entry} in ${dir}`);
  return entry;
}
