/** One batch's part of a script call: the keys and arguments of its callers, in the order added. */
export interface TakenBatch<R> {
  keys: string[];
  args: Array<string | number>;
  /** Hands each caller its own slice of the reply. */
  answer(reply: R[]): void;
  fail(err: unknown): void;
}

/**
 * Script calls waiting to go out together as one: the keys and arguments of each caller appended in
 * order, and each caller handed its own slice of the reply. A script call is one atomic run in the
 * store, and its callers' parts run in the order they were added.
 */
export class ScriptBatch<R> {
  private keys: string[] = [];
  private args: Array<string | number> = [];
  private waiting: Array<{ width: number; resolve(reply: R[]): void; reject(err: unknown): void }> = [];

  /** `width`: how many reply entries belong to this caller (0 for a part that returns none). */
  add(keys: string[], args: Array<string | number>, width: number): Promise<R[]> {
    for (const key of keys) this.keys.push(key);
    for (const arg of args) this.args.push(arg);
    return new Promise((resolve, reject) => this.waiting.push({ width, resolve, reject }));
  }

  get empty(): boolean {
    return this.waiting.length === 0;
  }

  /** What was added, to send; the batch starts empty again. */
  take(): TakenBatch<R> {
    const { keys, args, waiting } = this;
    this.keys = [];
    this.args = [];
    this.waiting = [];
    return {
      keys,
      args,
      answer: (reply) => {
        let offset = 0;
        for (const w of waiting) {
          w.resolve(w.width === 0 ? [] : reply.slice(offset, offset + w.width));
          offset += w.width;
        }
      },
      fail: (err) => {
        for (const w of waiting) w.reject(err);
      },
    };
  }
}
