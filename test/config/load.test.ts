import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../src/config/load.js';

function problems(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(yaml, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('config loading', () => {
  it('interpolates ${VAR} and ${VAR:-default} in every string, including inside flow sequences', () => {
    const config = parseConfigText(
      `
server:
  api_keys: [\${KEY_A}, "\${KEY_B:-fallback}"]
  port: \${PORT_X:-9090}
providers:
  - name: up
    type: openai
    base_url: \${BASE:-http://127.0.0.1:1}/v1
    api_key: \${UPSTREAM}
    headers: {X-Team: "team-\${TEAM}"}
`,
      { KEY_A: 'a', UPSTREAM: 'sk-1', TEAM: 'blue' },
    );
    expect(config.server.api_keys).toEqual(['a', 'fallback']);
    expect(config.server.port).toBe(9090);
    expect(config.providers[0]?.base_url).toBe('http://127.0.0.1:1/v1');
    expect(config.providers[0]?.api_key).toBe('sk-1');
    expect(config.providers[0]?.headers).toEqual({ 'X-Team': 'team-blue' });
  });

  it('treats an unset key variable as no key at all', () => {
    const config = parseConfigText('server:\n  api_keys: [${NOPE}]\nproviders:\n  - {name: m, type: mock}\n', {});
    expect(config.server.api_keys).toEqual([]);
  });

  it('a value cannot change the YAML structure', () => {
    const config = parseConfigText('providers:\n  - name: m\n    type: mock\n    api_key: ${K}\n', { K: 'x\n  evil: [1' });
    expect(config.providers[0]?.api_key).toBe('x\n  evil: [1');
  });

  it('applies defaults', () => {
    const config = parseConfigText('providers:\n  - {name: m, type: mock}\n', {});
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080, body_limit_mb: 20, keepalive_ms: 15000 });
    expect(config.providers[0]).toMatchObject({ models: ['*'], max_retries: 1, force_upstream_stream: false, timeouts: { connect_ms: 10000, first_byte_ms: 60000, idle_ms: 120000, total_ms: 900000 } });
  });

  it('names every bad path', () => {
    expect(
      problems(`
providers:
  - name: a
    type: openai
  - name: b
    type: nosuch
    base_url: nope
    timeouts: {idle_ms: -1}
    surprise: 1
`),
    ).toEqual([
      "providers[0].base_url: required for type 'openai'",
      expect.stringMatching(/^providers\[1\]\.type: Invalid option/),
      'providers[1].base_url: Invalid URL',
      expect.stringMatching(/^providers\[1\]\.timeouts\.idle_ms: /),
      'providers[1].surprise: unknown key',
    ]);
  });

  it('reports duplicate provider names and an empty provider list', () => {
    expect(problems('providers:\n  - {name: a, type: mock}\n  - {name: a, type: mock}\n')).toEqual(["providers[1].name: duplicate provider name 'a'"]);
    expect(problems('providers: []\n')).toEqual(['providers: at least one provider is required']);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(problems('providers: [\n')[0]).toMatch(/line/);
  });
});
