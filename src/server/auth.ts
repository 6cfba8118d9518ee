import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientKeyConfig } from '../config/schema.js';
import { SluiceError } from '../core/errors.js';

/** Who a client key belongs to, and what it may use. `models` undefined: everything. */
export interface ClientIdentity {
  name: string;
  models: readonly string[] | undefined;
}

interface KeyEntry extends ClientIdentity {
  digest: Buffer;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Client-key check. Keys are compared as digests in constant time; none of them is ever logged. */
export class ClientAuth {
  private readonly entries: KeyEntry[];

  constructor(keys: readonly ClientKeyConfig[]) {
    this.entries = keys.map((k, i) =>
      typeof k === 'string' ? { digest: digest(k), name: `key-${i + 1}`, models: undefined } : { digest: digest(k.key), name: k.name, models: k.models },
    );
  }

  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /** The caller's identity from the key it presented (as its front reads it); undefined when auth is off. */
  check(presented: string | undefined): ClientIdentity | undefined {
    if (!this.enabled) return undefined;
    if (presented === undefined) {
      throw new SluiceError('SLUICE_ERR_UNAUTHORIZED', 401, 'invalid_request_error', 'Missing API key. Send it as "Authorization: Bearer <key>".', { openaiCode: 'invalid_api_key' });
    }
    const candidate = digest(presented);
    const entry = this.entries.find((e) => timingSafeEqual(e.digest, candidate));
    if (entry === undefined) {
      throw new SluiceError('SLUICE_ERR_UNAUTHORIZED', 401, 'invalid_request_error', 'Incorrect API key provided.', { openaiCode: 'invalid_api_key' });
    }
    return { name: entry.name, models: entry.models };
  }
}

/** 403 unless the identity may use `model` (exact names, or prefixes written `openai/*`). */
export function checkModelAllowed(identity: ClientIdentity | undefined, model: string): void {
  const allowed = identity?.models;
  if (allowed === undefined) return;
  const ok = allowed.some((pattern) => (pattern.endsWith('*') ? model.startsWith(pattern.slice(0, -1)) : model === pattern));
  if (!ok) {
    throw new SluiceError('SLUICE_ERR_FORBIDDEN', 403, 'permission_error', `The API key '${identity?.name}' may not use the model '${model}'.`, {
      param: 'model',
      openaiCode: 'model_not_allowed',
    });
  }
}
