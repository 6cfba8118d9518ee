import type { ProviderConfig } from '../config/schema.js';
import type { Usage } from '../core/types.js';

export interface AttemptRecord {
  provider: string;
  model: string;
  status?: number;
  outcome: string;
  ms: number;
}

/** What the access log line says about one request. */
export interface AccessRecord {
  /** The endpoint, e.g. /v1/chat/completions. */
  api: string;
  model: string;
  /** Metrics label: the route name, or the provider's for a direct `provider/model` request. */
  route?: string;
  stream: boolean;
  client?: string;
  provider?: string;
  upstreamModel?: string;
  upstreamStatus?: number;
  attempts: AttemptRecord[];
  outcome: string;
  status: number;
  ttftMs?: number;
  usage?: Usage;
  usageEstimated?: boolean;
  /** Generated characters seen, for estimating usage when the upstream gave none. */
  completionChars: number;
  /** The model the upstream said answered (set where a chunk or completion is parsed anyway). */
  responseModel?: string;
  /** Finish reasons seen, by choice order of arrival. */
  finishReasons?: string[];
  aggregated?: 'forced' | 'autodetected';
  synthesized?: boolean;
  /** The provider (and key digest) whose attempt answered: its usage counts toward their tpm and price. */
  servedBy?: { provider: ProviderConfig; keyId: string | undefined };
}
