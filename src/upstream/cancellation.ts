import { EventEmitter } from 'node:events';

/**
 * One request's cancellation (client gone, total timeout, shutdown), passed to undici as its
 * `signal`, which takes an EventEmitter as well as an AbortSignal. An AbortSignal and undici's
 * listener on it cost an order of magnitude more per request than this (bench/PROFILE.md,
 * "Cancellation").
 */
export class Cancellation extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  /** Resolves after `ms`; rejects with the reason as soon as the request is cancelled. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.aborted) {
        reject(this.reason);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(this.reason);
      };
      const timer = setTimeout(() => {
        this.off('abort', onAbort);
        resolve();
      }, ms);
      this.once('abort', onAbort);
    });
  }
}
