import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { EnvHttpProxyAgent, ProxyAgent, errors as undiciErrors, type Dispatcher } from 'undici';
import type { EgressConfig, ProviderConfig } from '../config/schema.js';
import { SluiceError } from '../core/errors.js';

/** The undici pool settings every connection of a provider gets, proxied or not. */
export interface PoolSettings {
  headersTimeout: number;
  bodyTimeout: number;
  keepAliveTimeout: number;
  pipelining: number;
}

/** TLS settings for connections to the upstream itself (a private CA, a client certificate). */
export function upstreamTls(provider: ProviderConfig): ConnectionOptions {
  const tls = provider.tls;
  if (tls === undefined) return {};
  const out: ConnectionOptions = {};
  if (tls.ca_file !== undefined) out.ca = readFileSync(tls.ca_file);
  if (tls.cert_file !== undefined) out.cert = readFileSync(tls.cert_file);
  if (tls.key_file !== undefined) out.key = readFileSync(tls.key_file);
  if (tls.insecure_skip_verify) out.rejectUnauthorized = false;
  return out;
}

/**
 * The dispatcher that carries a provider's requests through a proxy (its own `proxy`, else the
 * egress one, with NO_PROXY honoured per origin), or undefined when it connects directly: then the
 * client keeps its plain Pool per origin and pays nothing for proxy support.
 */
export function proxyDispatcher(provider: ProviderConfig, egress: EgressConfig, pool: PoolSettings): Dispatcher | undefined {
  if (provider.proxy === 'none') return undefined;
  const requestTls = { ...upstreamTls(provider), timeout: provider.timeouts.connect_ms };
  const proxyTls = { timeout: provider.timeouts.connect_ms };
  if (provider.proxy !== undefined) return new ProxyAgent({ ...pool, uri: provider.proxy, requestTls, proxyTls });
  if (egress.http_proxy === undefined && egress.https_proxy === undefined) return undefined;
  // Empty strings, not undefined: undici would otherwise read process.env itself, and the config
  // (already filled from the environment at load) is the one source.
  return new EnvHttpProxyAgent({
    ...pool,
    httpProxy: egress.http_proxy ?? '',
    httpsProxy: egress.https_proxy ?? '',
    noProxy: egress.no_proxy ?? '',
    connect: requestTls,
    requestTls,
    proxyTls,
  });
}

/** Node's codes for a certificate the upstream's TLS handshake could not verify. */
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_|^ERR_SSL_|^ERR_TLS_/;

/**
 * A connect failure that is about TLS or the proxy, explained, or undefined for any other. The
 * message names the problem and the setting that addresses it (never a key: none is involved).
 */
export function egressFailure(provider: ProviderConfig, err: unknown): SluiceError | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  let detail: string | undefined;
  if (typeof code === 'string' && TLS_CODE.test(code)) {
    detail = `the TLS certificate check failed (${code}: ${err.message}); for a private CA set tls.ca_file on provider '${provider.name}'`;
  } else if (err instanceof undiciErrors.RequestAbortedError && err.message.startsWith('Proxy')) {
    // undici reports a proxy that refuses the CONNECT tunnel as an aborted request.
    detail = `the egress proxy refused the tunnel (${err.message})`;
  }
  if (detail === undefined) return undefined;
  return new SluiceError('SLUICE_ERR_UPSTREAM_UNREACHABLE', 502, 'server_error', `Upstream provider '${provider.name}' is unreachable: ${detail}.`, {
    retryable: true,
    outcome: 'unreachable',
    openaiCode: 'upstream_unreachable',
    cause: err,
  });
}
