import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// The sweep is module state: each test gets a fresh module under its own fake clock.
type Module = typeof import('../../src/core/coarse-timer.js');
let timers: Module;

beforeEach(async () => {
  vi.useFakeTimers();
  vi.resetModules();
  timers = await import('../../src/core/coarse-timer.js');
});

afterEach(() => {
  vi.useRealTimers();
});

describe('coarseTimeout', () => {
  it('fires once, not before its time and no later than a tick (a hundredth of it) after', () => {
    const fired: number[] = [];
    const start = Date.now();
    timers.coarseTimeout(2000, () => fired.push(Date.now() - start));
    vi.advanceTimersByTime(1999);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(20);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toBeGreaterThanOrEqual(2000);
    expect(fired[0]).toBeLessThanOrEqual(2020);
    vi.advanceTimersByTime(10_000);
    expect(fired).toHaveLength(1);
  });

  it('does not fire once cancelled, and the others still do', () => {
    const fired: string[] = [];
    const a = timers.coarseTimeout(100, () => fired.push('a'));
    timers.coarseTimeout(100, () => fired.push('b'));
    a.cancel();
    vi.advanceTimersByTime(200);
    expect(fired).toEqual(['b']);
  });

  it('takes a timer set from a firing one, due a whole period later (a repeated ping)', () => {
    const fired: number[] = [];
    const start = Date.now();
    let ping = timers.coarseTimeout(50, function again() {
      fired.push(Date.now() - start);
      ping = timers.coarseTimeout(50, again);
    });
    vi.advanceTimersByTime(175);
    expect(fired).toHaveLength(3);
    expect(fired.every((at, i) => at >= 50 * (i + 1) && at <= 60 * (i + 1))).toBe(true);
    ping.cancel();
    vi.advanceTimersByTime(500);
    expect(fired).toHaveLength(3);
  });

  it('sweeps at the shortest tick asked for: a short timer set after a long one is not held to the long one', () => {
    const fired: string[] = [];
    timers.coarseTimeout(900_000, () => fired.push('total'));
    timers.coarseTimeout(100, () => fired.push('short'));
    vi.advanceTimersByTime(110);
    expect(fired).toEqual(['short']);
  });

  it('stops sweeping once idle, and starts again for the next timer', () => {
    timers.coarseTimeout(100, () => undefined);
    vi.advanceTimersByTime(200);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(6000);
    expect(vi.getTimerCount()).toBe(0);
    const fired: string[] = [];
    timers.coarseTimeout(100, () => fired.push('again'));
    vi.advanceTimersByTime(110);
    expect(fired).toEqual(['again']);
  });
});
