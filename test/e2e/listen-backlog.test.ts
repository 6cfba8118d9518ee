import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startSluice, type SluiceProcess } from '../helpers/process.js';

let running: SluiceProcess | undefined;
afterEach(async () => {
  running?.child.kill('SIGKILL');
  await running?.exited;
  running = undefined;
});

/** The backlog of the socket listening on `port`, as the kernel reports it (ss: Send-Q of a LISTEN socket). */
function backlogOf(port: number): number {
  const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim().split('\n')[0] ?? '';
  return Number(line.trim().split(/\s+/)[2]);
}

const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());

describe('the listen backlog', () => {
  it('is server.listen_backlog, bounded by net.core.somaxconn', async () => {
    running = await startSluice('server:\n  listen_backlog: 1000\nproviders:\n  - {name: mock, type: mock}\n');
    expect(backlogOf(Number(new URL(running.url).port))).toBe(Math.min(1000, somaxconn));
  });

  it('defaults higher than node:http (511), up to somaxconn', async () => {
    running = await startSluice('providers:\n  - {name: mock, type: mock}\n');
    expect(backlogOf(Number(new URL(running.url).port))).toBe(Math.min(4096, somaxconn));
    expect(Math.min(4096, somaxconn)).toBeGreaterThan(511);
  });
});
