import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);

describe('README config examples', () => {
  it('has examples', () => {
    expect(blocks.length).toBeGreaterThan(4);
  });

  it.each(blocks.filter((b) => /^providers:/m.test(b)).map((b, i) => [i, b]))('example %i is a valid config', (_i, yaml) => {
    expect(() => parseConfigText(yaml as string, { OPENAI_API_KEY: 'k' })).not.toThrow();
  });

  it('the routes example is valid next to providers that serve its targets', () => {
    const routes = blocks.find((b) => b.startsWith('routes:')) as string;
    const providers = 'providers:\n  - {name: openai, type: openai, base_url: "https://api.openai.com/v1"}\n  - {name: backup, type: openai, base_url: "http://127.0.0.1:8000/v1"}\n';
    expect(() => parseConfigText(providers + routes, {})).not.toThrow();
  });
});
