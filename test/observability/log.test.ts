import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { lazyRequestLogger } from '../../src/observability/log.js';

/** A pino logger writing to memory, seen through a parent that counts the children made of it. */
function capture(level: string): { logger: Parameters<typeof lazyRequestLogger>[0]; lines: () => Array<Record<string, unknown>>; children: () => number } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  const root = pino({ level }, stream);
  let children = 0;
  const logger = Object.assign(Object.create(root) as pino.Logger, {
    child(bindings: pino.Bindings, options?: pino.ChildLoggerOptions) {
      children++;
      return root.child(bindings, options);
    },
  });
  return { logger: logger as never, lines: () => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), children: () => children };
}

describe('lazyRequestLogger', () => {
  it('makes the pino child on the first line it writes, with the request id, and only once', () => {
    const { logger, lines, children } = capture('info');
    const log = lazyRequestLogger(logger, { reqId: 'r-1' }, {});
    expect(children()).toBe(0);
    log.info({ status: 400 }, 'request rejected');
    log.error('internal error');
    expect(children()).toBe(1);
    expect(lines()).toMatchObject([
      { level: 30, reqId: 'r-1', status: 400, msg: 'request rejected' },
      { level: 50, reqId: 'r-1', msg: 'internal error' },
    ]);
  });

  it('a level the logger leaves out writes nothing and makes no child', () => {
    const { logger, lines, children } = capture('info');
    const log = lazyRequestLogger(logger, { reqId: 'r-2' }, {});
    log.debug({ retry: 1 }, 'retrying upstream');
    log.trace('detail');
    expect(children()).toBe(0);
    expect(lines()).toEqual([]);
    expect(log.level).toBe('info');
    expect(log.isLevelEnabled('debug')).toBe(false);
  });

  it('a child of it carries both bindings', () => {
    const { logger, lines } = capture('debug');
    const log = lazyRequestLogger(logger, { reqId: 'r-3' }, {});
    log.child({ provider: 'up' }).debug('attempt');
    expect(lines()).toMatchObject([{ level: 20, reqId: 'r-3', provider: 'up', msg: 'attempt' }]);
  });
});
