import type { ProviderConfig } from '../config/schema.js';
import type { Adapter, BuildContext, UpstreamRequest } from './adapter.js';
import { requestHeaders } from './headers.js';
import { openaiAdapter, openaiRequestBody } from './openai.js';
import type { ChunkScanner } from '../core/chunk-scan.js';
import type { ChatRequest } from '../core/types.js';
import { joinUrl } from '../core/url.js';

const DEFAULT_API_VERSION = '2024-10-21';

export function azureHeaders(provider: ProviderConfig, apiKey: string | undefined, passed?: Record<string, string>): Record<string, string> {
  return requestHeaders(provider, apiKey, 'api-key', '', undefined, passed);
}

/**
 * `type: azure` (Azure OpenAI): the deployment is the upstream model name (map public names to
 * deployments with `models: {gpt-4o: my-deployment}`), the key goes in `api-key`. Streams and
 * responses are OpenAI's; Azure's empty opening chunk with prompt_filter_results passes through.
 */
export const azureAdapter: Adapter<ChunkScanner> = {
  ...openaiAdapter,
  headers: azureHeaders,
  buildRequest(request: ChatRequest, context: BuildContext): UpstreamRequest {
    const deployment = encodeURIComponent(context.upstreamModel);
    const version = encodeURIComponent(context.provider.api_version ?? DEFAULT_API_VERSION);
    return {
      url: joinUrl(context.provider.base_url ?? '', `/openai/deployments/${deployment}/chat/completions?api-version=${version}`),
      method: 'POST',
      headers: azureHeaders(context.provider, context.apiKey),
      body: openaiRequestBody(request, context),
    };
  },
};
