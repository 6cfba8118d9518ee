import { describe, expect, it } from 'vitest';
import { Cancellation } from '../../src/upstream/cancellation.js';

describe('Cancellation', () => {
  it('aborts once: the first reason stays and listeners hear it once', () => {
    const c = new Cancellation();
    let heard = 0;
    c.on('abort', () => heard++);
    c.abort('first');
    c.abort('second');
    expect(c.aborted).toBe(true);
    expect(c.reason).toBe('first');
    expect(heard).toBe(1);
    expect(() => c.throwIfAborted()).toThrow('first');
  });

  it('sleep resolves after its time and leaves no listener behind', async () => {
    const c = new Cancellation();
    await c.sleep(5);
    expect(c.listenerCount('abort')).toBe(0);
  });

  it('sleep rejects with the reason as soon as the request is cancelled, or at once if it already was', async () => {
    const c = new Cancellation();
    const sleeping = c.sleep(60_000);
    c.abort(new Error('client gone'));
    await expect(sleeping).rejects.toThrow('client gone');
    await expect(c.sleep(1)).rejects.toThrow('client gone');
  });
});
