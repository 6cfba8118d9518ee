import type { FastifyBaseLogger } from 'fastify';
import type { GatewayState } from './state.js';
import { listedModels, resolveModel } from '../routing/route.js';
import { Cancellation } from '../upstream/cancellation.js';
import type { ProviderRuntime } from '../upstream/runtime.js';
import { joinUrl } from '../core/url.js';

export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

const CACHE_MS = 5 * 60_000;
const cache = new WeakMap<ProviderRuntime, { at: number; ids: string[] }>();

/** Routes and configured models, plus the upstream's own /models for `list_models: upstream`. */
export async function listModels(state: GatewayState, log: FastifyBaseLogger): Promise<ModelEntry[]> {
  const entries: ModelEntry[] = listedModels(state.config).map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.owned_by }));
  const seen = new Set(entries.map((e) => e.id));
  for (const runtime of state.providers.values()) {
    if (runtime.config.list_models !== 'upstream') continue;
    for (const id of await upstreamModels(runtime, log)) {
      const full = `${runtime.config.name}/${id}`;
      if (!seen.has(full)) {
        seen.add(full);
        entries.push({ id: full, object: 'model', created: 0, owned_by: runtime.config.name });
      }
    }
  }
  return entries;
}

async function upstreamModels(runtime: ProviderRuntime, log: FastifyBaseLogger): Promise<string[]> {
  const cached = cache.get(runtime);
  if (cached !== undefined && Date.now() - cached.at < CACHE_MS) return cached.ids;
  const key = runtime.keys.take();
  const limitMs = runtime.config.timeouts.first_byte_ms;
  const cancellation = new Cancellation();
  const timer = setTimeout(() => cancellation.abort(new Error(`no answer within ${limitMs} ms`)), limitMs);
  try {
    const response = await runtime.client.send(
      { url: joinUrl(runtime.config.base_url ?? '', '/models'), method: 'GET', headers: runtime.adapter.headers(runtime.config, key) },
      cancellation,
    );
    const chunks: Uint8Array[] = [];
    for await (const c of response.body) chunks.push(c);
    if (response.status >= 400) throw new Error(`HTTP ${response.status}`);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: Array<{ id?: unknown }> };
    const ids = (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
    cache.set(runtime, { at: Date.now(), ids });
    return ids;
  } catch (err) {
    log.warn({ provider: runtime.config.name, err: err instanceof Error ? err.message : String(err) }, 'could not list upstream models; showing configured ones');
    return cached?.ids ?? [];
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GET /v1/models/{model}: the listed entry, or any name that routes (a `provider/model` under a
 * provider with "*"); otherwise 404 `model_not_found`, as OpenAI answers.
 */
export async function findModel(state: GatewayState, id: string, log: FastifyBaseLogger): Promise<ModelEntry> {
  const listed = (await listModels(state, log)).find((entry) => entry.id === id);
  if (listed !== undefined) return listed;
  const resolution = resolveModel(state.config, id);
  return { id, object: 'model', created: 0, owned_by: resolution.route === undefined ? (resolution.targets[0]?.provider.name ?? 'sluice') : 'sluice' };
}
