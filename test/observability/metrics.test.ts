import { describe, expect, it } from 'vitest';
import { newAccessRecord } from '../../src/observability/access.js';
import { Metrics } from '../../src/observability/metrics.js';

/** A finished stream request through provider `up`, as the exchange records it. */
function streamRecord(promptTokens: number): ReturnType<typeof newAccessRecord> {
  const record = newAccessRecord('/v1/chat/completions', undefined);
  record.route = 'up';
  record.provider = 'up';
  record.stream = true;
  record.status = 200;
  record.ttftMs = 5;
  record.usage = { prompt_tokens: promptTokens, completion_tokens: 3, total_tokens: promptTokens + 3 };
  record.attempts.push({ provider: 'up', model: 'm', status: 200, outcome: 'ok', ms: 4 });
  return record;
}

const line = (text: string, series: string): string | undefined => text.split('\n').find((l) => l.startsWith(`${series} `));
/** Sluice's own series (the process metrics beside them move between scrapes). */
const own = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('sluice_'));

describe('Metrics', () => {
  it('shows what requests counted at each scrape, without counting anything twice', async () => {
    const metrics = new Metrics();
    metrics.requestFinished(streamRecord(10), 20);
    metrics.requestFinished(streamRecord(10), 30);
    const first = await metrics.render();
    expect(line(first, 'sluice_requests_total{route="up",provider="up",status="200",stream="true",api="/v1/chat/completions"}')).toBe('sluice_requests_total{route="up",provider="up",status="200",stream="true",api="/v1/chat/completions"} 2');
    expect(line(first, 'sluice_tokens_total{route="up",provider="up",type="prompt"}')).toMatch(/ 20$/);
    expect(line(first, 'sluice_upstream_attempts_total{provider="up",outcome="ok"}')).toMatch(/ 2$/);
    expect(line(first, 'sluice_request_duration_seconds_count{route="up",provider="up"}')).toMatch(/ 2$/);
    expect(line(first, 'sluice_time_to_first_token_seconds_count{route="up",provider="up"}')).toMatch(/ 2$/);
    // A second scrape with nothing new shows the same totals.
    expect(own(await metrics.render())).toEqual(own(first));
    metrics.requestFinished(streamRecord(10), 40);
    const third = await metrics.render();
    expect(line(third, 'sluice_requests_total{route="up",provider="up",status="200",stream="true",api="/v1/chat/completions"}')).toMatch(/ 3$/);
    expect(line(third, 'sluice_tokens_total{route="up",provider="up",type="prompt"}')).toMatch(/ 30$/);
  });

  it('shows a label set counted only by zero, and the streams open right now', async () => {
    const metrics = new Metrics();
    metrics.requestFinished(streamRecord(0), 20);
    metrics.streamOpened('up');
    metrics.streamOpened('up');
    metrics.streamClosed('up');
    const text = await metrics.render();
    expect(line(text, 'sluice_tokens_total{route="up",provider="up",type="prompt"}')).toMatch(/ 0$/);
    expect(line(text, 'sluice_active_streams{provider="up"}')).toMatch(/ 1$/);
    metrics.streamClosed('up');
    expect(line(await metrics.render(), 'sluice_active_streams{provider="up"}')).toMatch(/ 0$/);
  });
});
