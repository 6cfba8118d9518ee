import type { ProviderConfig } from '../config/schema.js';
import type { Adapter } from './adapter.js';
import { anthropicAdapter } from './anthropic/index.js';
import { azureAdapter } from './azure.js';
import { geminiAdapter } from './gemini/index.js';
import { openaiAdapter } from './openai.js';

/** Provider kind -> adapter. Exhaustive: a new kind fails to compile until it is added here. */
export function adapterFor(provider: ProviderConfig): Adapter {
  switch (provider.type) {
    case 'openai':
    case 'mock':
      return openaiAdapter as Adapter;
    case 'anthropic':
      return anthropicAdapter as Adapter;
    case 'gemini':
      return geminiAdapter as Adapter;
    case 'azure':
      return azureAdapter as Adapter;
  }
}
