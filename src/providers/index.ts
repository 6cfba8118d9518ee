import type { ProviderConfig } from '../config/schema.js';
import { UndiciClient, type UpstreamClient } from '../upstream/client.js';
import { MockUpstream } from '../upstream/mock-upstream.js';
import type { Adapter } from './adapter.js';
import { openaiAdapter } from './openai.js';

/** Provider kind -> adapter. Exhaustive: a new kind fails to compile until it is added here. */
export function adapterFor(provider: ProviderConfig): Adapter {
  switch (provider.type) {
    case 'openai':
    case 'mock':
      return openaiAdapter as Adapter;
    case 'anthropic':
    case 'gemini':
    case 'azure':
      throw new Error(`provider type '${provider.type}' is not available yet`);
  }
}

export function clientFor(provider: ProviderConfig): UpstreamClient {
  return provider.type === 'mock' ? new MockUpstream(provider) : new UndiciClient(provider);
}
