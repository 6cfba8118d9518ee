import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { parseConfigText } from '../../src/config/load.js';
import { buildApp } from '../../src/server/app.js';
import type { FastifyInstance } from 'fastify';

export interface RunningGateway {
  url: string;
  app: FastifyInstance;
  /** Every log line written so far, parsed. */
  logs: Array<Record<string, unknown>>;
  rawLogs: string[];
  client(options?: { apiKey?: string; maxRetries?: number; timeout?: number }): OpenAI;
  close(): Promise<void>;
}

/** The real server, from YAML text (env interpolation included), listening on a free loopback port. */
export async function startGateway(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<RunningGateway> {
  const config = parseConfigText(yaml, env);
  config.server.host = '127.0.0.1';
  config.server.port = 0;
  const rawLogs: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const { app } = await buildApp(config, {
    logLevel: 'debug',
    logStream: {
      write(line: string): void {
        rawLogs.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    app,
    logs,
    rawLogs,
    client: (options = {}) =>
      new OpenAI({ baseURL: `${url}/v1`, apiKey: options.apiKey ?? 'client-key', maxRetries: options.maxRetries ?? 0, timeout: options.timeout ?? 10_000 }),
    close: async () => {
      const closed = app.close();
      // The test's own fetch may hold a connection it opened and never used: node:http does not
      // count it as idle, and would wait for its headersTimeout.
      app.server.closeAllConnections();
      await closed;
    },
  };
}

/** Reads a whole fetch response body as text. */
export async function bodyText(response: Response): Promise<string> {
  return new TextDecoder().decode(await response.arrayBuffer());
}

export function accessLines(gateway: RunningGateway): Array<Record<string, unknown>> {
  return gateway.logs.filter((l) => l.msg === 'request completed');
}

export async function waitFor(predicate: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
