import type { ProviderConfig } from '../config/schema.js';

/**
 * The headers of a JSON request to a provider, a fresh object each call, each over the one before:
 * the content type, the protocol's defaults (`fixed`), a native passthrough's client headers
 * (`passed`), the configured `headers`, and last the provider key in its own header (`keyHeader`,
 * the key after `keyPrefix`), which nothing replaces.
 */
export function requestHeaders(provider: ProviderConfig, apiKey: string | undefined, keyHeader: string, keyPrefix = '', fixed?: Record<string, string>, passed?: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = Object.assign({ 'content-type': 'application/json' }, fixed, passed, provider.headers);
  if (apiKey !== undefined) headers[keyHeader] = keyPrefix + apiKey;
  return headers;
}
