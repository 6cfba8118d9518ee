import { SluiceError } from '../core/errors.js';
import { stateUnavailable } from '../limits/limiter.js';
import type { GatewayState, StateServices } from './state.js';

export interface KeyUsage {
  key: string;
  period: string;
  period_start: string;
  /** null for `total`. */
  period_end: string | null;
  requests: number;
  tokens: number;
  spend_usd: number;
  /** Requests whose model had no known price: their cost is not in spend_usd. */
  unpriced_requests: number;
  budget_usd: number | null;
  limits: { rpm: number | null; tpm: number | null; max_parallel: number | null };
}

export function adminDisabled(): SluiceError {
  return new SluiceError('SLUICE_ERR_FORBIDDEN', 403, 'permission_error', 'The Sluice admin API is off: list keys under server.admin_keys to use it.', { openaiCode: 'admin_api_disabled' });
}

/**
 * GET /v1/sluice/usage: each client key's current period (its budget's, else 30 days) as the
 * shared store has it, so any instance answers for all of them.
 */
export async function usageReport(state: GatewayState, services: StateServices): Promise<{ object: 'list'; store: string; data: KeyUsage[] }> {
  const keys = state.limits.keys();
  const result = await services.guard.call('usage', () => services.store.usage(keys.map((k) => ({ id: k.id, period: k.period }))));
  if (!result.ok) throw stateUnavailable();
  const entries = state.config.server.api_keys;
  const data = keys.map((k, i): KeyUsage => {
    const record = result.value[i] ?? { requests: 0, tokens: 0, spendNanoUsd: 0, unpriced: 0 };
    const entry = entries[i];
    const limits = typeof entry === 'object' ? entry : undefined;
    return {
      key: k.name,
      period: k.periodName,
      period_start: new Date(k.period.start).toISOString(),
      period_end: k.period.end === undefined ? null : new Date(k.period.end).toISOString(),
      requests: record.requests,
      tokens: record.tokens,
      spend_usd: record.spendNanoUsd / 1e9,
      unpriced_requests: record.unpriced,
      budget_usd: k.budgetUsd ?? null,
      limits: { rpm: limits?.rpm ?? null, tpm: limits?.tpm ?? null, max_parallel: limits?.max_parallel ?? null },
    };
  });
  return { object: 'list', store: services.store.kind, data };
}
