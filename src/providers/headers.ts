import type { ProviderConfig } from '../config/schema.js';

/**
 * The headers of a JSON request to a provider, a fresh object each call: the content type, any
 * protocol headers (`fixed`), the configured `headers`, and the provider key in the provider's own
 * header (`keyHeader`, the key after `keyPrefix`). The key is set last: configured headers never
 * replace it.
 */
export function requestHeaders(provider: ProviderConfig, apiKey: string | undefined, keyHeader: string, keyPrefix = '', fixed?: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = Object.assign({ 'content-type': 'application/json' }, fixed, provider.headers);
  if (apiKey !== undefined) headers[keyHeader] = keyPrefix + apiKey;
  return headers;
}
