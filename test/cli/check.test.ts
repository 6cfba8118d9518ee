import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** `sluice check` (dist/cli.js, built by npm test) on a config file. */
function check(yaml: string): { status: number | null; stdout: string; stderr: string } {
  const path = join(mkdtempSync(join(tmpdir(), 'sluice-check-')), 'sluice.yaml');
  writeFileSync(path, yaml);
  const run = spawnSync(process.execPath, ['dist/cli.js', 'check', path], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('sluice check', () => {
  it('masks credentials embedded in a base_url, and secret query values', () => {
    const out = check(`
providers:
  - name: proxied
    type: openai
    base_url: https://alice:s3cr3t-Pa55word@llm.internal.example/v1
  - name: token-only
    type: openai
    base_url: http://sk-live-abcdef0123456789@10.0.0.7:8000/v1
  - name: query
    type: gemini
    base_url: https://gw.example/v1beta?key=AIzaSyQueryKey0123456789
`);
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('proxied (openai) https://***:***@llm.internal.example/v1');
    expect(out.stdout).toContain('token-only (openai) http://***:***@10.0.0.7:8000/v1');
    expect(out.stdout).toContain('query (gemini) https://gw.example/v1beta?key=[redacted]');
    for (const secret of ['alice', 's3cr3t', 'sk-live', 'AIzaSy']) expect(out.stdout).not.toContain(secret);
  });
});
