import { readFileSync } from 'node:fs';
import type { Adapter } from '../../src/providers/adapter.js';
import { Aggregator } from '../../src/streaming/aggregate.js';
import { SseEventStream } from '../../src/streaming/parse.js';
import type { ChatCompletion, ChatCompletionChunk } from '../../src/core/types.js';
import type { StreamEvent } from '../../src/core/events.js';

export function fixture(path: string): Buffer {
  return readFileSync(new URL(`../fixtures/${path}`, import.meta.url));
}

/** A small deterministic PRNG, so a failing split can be reproduced from its seed. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** Bytes cut at random points (inside events and inside UTF-8 characters alike). */
async function* randomSplits(bytes: Buffer, seed: number): AsyncGenerator<Uint8Array> {
  const next = random(seed);
  let i = 0;
  while (i < bytes.length) {
    const size = 1 + Math.floor(next() * 24);
    yield bytes.subarray(i, i + size);
    i += size;
  }
}

/** Runs the real SSE parser and the adapter over the bytes, split at random. */
export async function parseSplit<S>(adapter: Adapter<S>, bytes: Buffer, seed: number): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  const response = { status: 200, headers: {}, body: randomSplits(bytes, seed), destroy: () => undefined, release: () => undefined, buffered: () => false, bodyError: (err: unknown) => err };
  for await (const batch of new SseEventStream(response, adapter, adapter.initStream()).batches()) out.push(...batch);
  return out;
}

export function chunksOf(events: StreamEvent[]): ChatCompletionChunk[] {
  return events.flatMap((e) => (e.type === 'chunk' && e.chunk !== undefined ? [e.chunk] : []));
}

export function aggregateEvents(events: StreamEvent[]): ChatCompletion {
  const aggregator = new Aggregator();
  for (const chunk of chunksOf(events)) aggregator.add(chunk);
  return aggregator.result();
}
