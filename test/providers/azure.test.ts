import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { azureAdapter } from '../../src/providers/azure.js';

describe('azure adapter', () => {
  it('targets the deployment with api-version and the api-key header', () => {
    const provider = parseConfigText('providers:\n  - {name: azure, type: azure, base_url: "https://res.openai.azure.com", api_version: "2025-01-01-preview", models: {gpt-4o: prod-4o}}\n', {}).providers[0]!;
    const built = azureAdapter.buildRequest({ model: 'azure/gpt-4o', messages: [{ role: 'user', content: 'x' }], top_k: 3 } as never, { provider, upstreamModel: 'prod-4o', stream: true, apiKey: 'az-key' });
    expect(built.url).toBe('https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2025-01-01-preview');
    expect(built.headers['api-key']).toBe('az-key');
    expect(built.headers.authorization).toBeUndefined();
    expect(JSON.parse(built.body ?? '')).toEqual({ model: 'prod-4o', messages: [{ role: 'user', content: 'x' }], top_k: 3, stream: true, stream_options: { include_usage: true } });
  });

  it('defaults the api-version and passes Azure streams through like OpenAI', () => {
    const provider = parseConfigText('providers:\n  - {name: azure, type: azure, base_url: "https://res.openai.azure.com/"}\n', {}).providers[0]!;
    expect(azureAdapter.buildRequest({ model: 'm', messages: [] }, { provider, upstreamModel: 'd', stream: false, apiKey: undefined }).url).toBe('https://res.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21');
    const opening = '{"id":"","choices":[],"created":0,"model":"","object":"","prompt_filter_results":[]}';
    expect(azureAdapter.parseEvent({ data: opening }, azureAdapter.initStream())).toEqual([{ type: 'chunk', chunk: JSON.parse(opening), text: opening }]);
  });
});
