import { afterEach } from 'vitest';
import { startGateway, type RunningGateway } from './gateway.js';
import type { ServerOptions as TlsServerOptions } from 'node:https';
import { startUpstream, type FakeUpstream, type UpstreamHandler } from './upstream.js';

export interface Scoped {
  upstream(handler: UpstreamHandler, tls?: TlsServerOptions): Promise<FakeUpstream>;
  gateway(yaml: string, env?: NodeJS.ProcessEnv): Promise<RunningGateway>;
  /** Anything else to close after the test. */
  defer(close: () => Promise<void>): void;
}

/** Upstreams and gateways started through this are closed after each test, newest first. */
export function closedAfterEach(): Scoped {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()?.();
  });
  const defer = (close: () => Promise<void>): void => {
    closers.push(close);
  };
  return {
    defer,
    async upstream(handler, tls) {
      const u = await startUpstream(handler, tls);
      defer(() => u.close());
      return u;
    },
    async gateway(yaml, env = {}) {
      const g = await startGateway(yaml, env);
      defer(() => g.close());
      return g;
    },
  };
}
