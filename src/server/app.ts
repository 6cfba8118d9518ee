import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Config } from '../config/schema.js';
import { SluiceError } from '../core/errors.js';
import { closeState, createState, type Gateway, type StateServices } from './state.js';
import { lazyRequestLogger, loggerOptions } from '../observability/log.js';
import { Metrics } from '../observability/metrics.js';
import { SharedHealth } from '../routing/shared-health.js';
import { StoreGuard } from '../state/guard.js';
import { createStore, describeStore } from '../state/index.js';
import { Tracing } from '../observability/tracing.js';
import { loadPriceDataFor } from '../limits/pricing.js';
import type { ClientIdentity } from './auth.js';
import type { Front } from '../fronts/front.js';
import { fronts } from '../fronts/index.js';
import { openaiClientKey, openaiErrorReply } from '../fronts/openai.js';
import { AccessLog } from '../observability/access.js';
import { serveFront } from './exchange.js';
import { fromFastifyError, sendError, tooDeep } from './error-reply.js';
import { bodyBudgetRefusal, clientErrorHandler, guardServer, httpServerOptions, lingerAfterRejecting } from './client-limits.js';
import { jsonDepthExceeds } from '../core/json-depth.js';
import { findModel, listModels } from './models.js';
import { adminDisabled, usageReport } from './usage.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The client key's identity; undefined when client auth is off. */
    client: ClientIdentity | undefined;
  }
}

export interface AppOptions {
  logLevel?: string;
  /** Where log lines go (stdout by default); tests read them. */
  logStream?: { write(line: string): void };
}

export interface App {
  app: FastifyInstance;
  gateway: Gateway;
  /** Swap in a new config for new requests (once the price data it needs is loaded); in-flight requests keep the old one. */
  reload(config: Config): Promise<void>;
  /** Stop accepting, let in-flight requests finish for `graceMs`, end the rest, close. */
  shutdown(graceMs: number): Promise<void>;
  /** GET /metrics on its own port (server.metrics_port). */
  listenMetrics(host: string, port: number): Promise<Server>;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Whether `url` is `prefix` itself or below it (`/v1/messages`, `/v1/messages/x`, `/v1/messages?q`). */
function isUnder(url: string, prefix: string): boolean {
  if (!url.startsWith(prefix)) return false;
  const next = url[prefix.length];
  return next === undefined || next === '/' || next === '?';
}
/** After the grace period: how long the streams it ended get to write their last event. */
const LAST_WRITES_MS = 100;

/**
 * The fastify instance with every route; it never listens (main.ts does). Async only to load what
 * just some configs use (the Redis client, the tracing SDK, the price data) when they use it.
 */
export async function buildApp(config: Config, options: AppOptions = {}): Promise<App> {
  const bodyLimitMb = config.server.body_limit_mb;
  const bodyLimitBytes = Math.floor(bodyLimitMb * 1024 * 1024);
  const app = Fastify({
    http: httpServerOptions(config.server),
    requestTimeout: config.server.request_timeout_ms,
    clientErrorHandler,
    logger: options.logStream ? { ...loggerOptions(options.logLevel), stream: options.logStream } : loggerOptions(options.logLevel),
    bodyLimit: bodyLimitBytes,
    // One access line per request is written by the routes themselves, not fastify's pair.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    childLoggerFactory: lazyRequestLogger as unknown as FastifyServerOptions['childLoggerFactory'],
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
  });
  guardServer(app.server, config.server, bodyLimitBytes);
  const metrics = new Metrics();
  // The store is made once: a reload keeps it (a change under `state:` needs a restart).
  const guard = new StoreGuard(app.log, metrics, describeStore(config.state));
  const store = await createStore(config.state, (err) => guard.failed('connection', err));
  await loadPriceDataFor(config);
  // Called only once the gateway exists (a health change, a load).
  const health = new SharedHealth(store, guard, () => gateway.state.providers, app.log);
  const services: StateServices = { store, guard, health, metrics, log: app.log };
  const gateway: Gateway = {
    state: createState(config, services),
    log: app.log,
    // The same destination without redaction: an access line carries only fields Sluice sets.
    access: new AccessLog(app.log.child({}, { redact: [] }), metrics),
    sseAutodetectWarned: new Set(),
    responsesFieldsIgnored: new Set(),
    inflight: new Set(),
    metrics,
    services,
    tracing: Tracing.enabled(config.tracing) ? await Tracing.create(config.tracing, app.log) : undefined,
  };
  const frontByPath = new Map(fronts.flatMap((front) => front.paths.map((path) => [path, front] as const)));
  /** The front whose route this request is on, if any. */
  const frontOf = (request: FastifyRequest): Front | undefined => {
    // A front's own path, as sent (no query string): that is its route. Else ask fastify (a getter that builds an object).
    const exact = frontByPath.get(request.url);
    if (exact !== undefined) return exact;
    const url = request.routeOptions.url;
    if (url !== undefined) return frontByPath.get(url);
    // No route: an unknown endpoint, in the shape of the front whose prefix it is under.
    return fronts.find((front) => front.prefix !== undefined && isUnder(request.url, front.prefix));
  };

  // Before the port opens: the store answers (or the wait gives up; on_error covers the rest), and
  // the shared health in force is loaded.
  app.addHook('onReady', async () => {
    if (store.kind === 'memory') return;
    const ready = await store.ready(Math.max(2000, config.state.timeout_ms));
    if (!ready) guard.failed('connect', new Error('no answer at start-up'));
    await health.start();
  });

  app.decorateRequest('client', undefined);

  // Any content type is read as JSON: curl without -H 'content-type' must still work.
  app.removeAllContentTypeParsers();
  const maxDepth = config.server.max_json_depth;
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, undefined);
    if (jsonDepthExceeds(text, maxDepth)) return done(tooDeep(maxDepth), undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(Object.assign(new Error((err as Error).message), { code: 'SLUICE_INVALID_JSON', statusCode: 400 }), undefined);
    }
  });

  // A callback hook, not an async one: it never waits, and a promise per request is not free.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    try {
      const busy = bodyBudgetRefusal(request.raw, config.server.inflight_body_mb);
      if (busy !== undefined) throw busy;
      if (request.url.startsWith('/v1/sluice/')) {
        // Sluice's own admin API: admin keys only (client keys are not enough).
        if (!gateway.state.admin.enabled) throw adminDisabled();
        gateway.state.admin.check(openaiClientKey(request.headers));
      } else if (request.url.startsWith('/v1/')) request.client = gateway.state.auth.check((frontOf(request)?.clientKey ?? openaiClientKey)(request.headers));
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  });

  app.setErrorHandler(async (err, request, reply) => {
    const error = fromFastifyError(err as Parameters<typeof fromFastifyError>[0], bodyLimitMb);
    if (error.code === 'SLUICE_ERR_BODY_TOO_LARGE' || error.code === 'SLUICE_ERR_SERVER_BUSY') lingerAfterRejecting(request, reply);
    if (error.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ status: error.status, code: error.code, url: request.url }, 'request rejected');
    // On a front's path, in that front's shape (fastify's errors, a failed client-key check).
    return sendError(reply, (frontOf(request)?.errorReply ?? openaiErrorReply)(error));
  });

  app.setNotFoundHandler(async (request, reply) =>
    sendError(reply, (frontOf(request)?.errorReply ?? openaiErrorReply)(new SluiceError('SLUICE_ERR_BAD_REQUEST', 404, 'invalid_request_error', `Unknown endpoint: ${request.method} ${request.url.split('?')[0]}.`, { openaiCode: 'unknown_url' }))),
  );

  // Codex may try a WebSocket transport for /v1/responses; Sluice serves HTTP (SSE) only. 426 makes
  // Codex fall back to HTTP at once (to a 404 it retries seven times over seconds; a 400 fails the turn).
  app.server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => refuseUpgrade(socket));

  app.get('/healthz', async () => ({ status: 'ok' }));

  if (config.server.metrics_port === undefined) {
    app.get('/metrics', async (_request, reply) => reply.type(gateway.metrics.contentType).send(await gateway.metrics.render()));
  }

  app.get('/v1/models', async () => ({ object: 'list', data: await listModels(gateway.state, app.log) }));
  // Model ids hold slashes (`openai/gpt-4o`): the rest of the path is the id.
  app.get('/v1/models/*', async (request) => findModel(gateway.state, (request.params as { '*': string })['*'], app.log));

  app.get('/v1/sluice/usage', async () => usageReport(gateway.state, gateway.services));

  for (const front of fronts) {
    for (const path of front.paths) {
      app.post(path, async (request, reply) => {
        if (request.body === undefined) throw fromFastifyError({ code: 'FST_ERR_CTP_EMPTY_JSON_BODY', message: '' }, bodyLimitMb);
        await serveFront(gateway, front, path, request, reply);
      });
    }
  }

  const metricsServers: Server[] = [];

  app.addHook('onClose', async () => {
    await closeState(gateway.state);
    await gateway.state.limits.flush();
    await store.close();
    await gateway.tracing?.shutdown();
    await Promise.all(
      metricsServers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            // A scrape is quick; a connection that never sends one would hold close() until
            // node:http's headersTimeout.
            server.closeAllConnections();
          }),
      ),
    );
  });

  return {
    app,
    gateway,
    async reload(next: Config): Promise<void> {
      await loadPriceDataFor(next);
      const previous = gateway.state;
      gateway.state = createState(next, services);
      if (next.state.store !== config.state.store || next.state.url !== config.state.url || next.state.key_prefix !== config.state.key_prefix) {
        app.log.warn('state: store, url and key_prefix changes apply at the next restart; the running store stays');
      }
      // The new KeyPools and breakers start healthy: read what other processes have in force.
      void health.load();
      void closeState(previous);
    },
    listenMetrics(host: string, port: number): Promise<Server> {
      const server = createServer((req, res) => {
        if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
          res.writeHead(404).end();
          return;
        }
        gateway.metrics.render().then(
          (text) => res.writeHead(200, { 'content-type': gateway.metrics.contentType }).end(text),
          () => res.writeHead(500).end(),
        );
      });
      metricsServers.push(server);
      return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
    },
    async shutdown(graceMs: number): Promise<void> {
      const closed = app.close();
      // close() only drops the keep-alive connections idle at that moment; a stream that finishes
      // later leaves its connection idle until keepAliveTimeout, so sweep until all are gone.
      const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
      let cut: NodeJS.Timeout | undefined;
      const deadline = setTimeout(() => {
        const reason = new SluiceError('SLUICE_ERR_SHUTDOWN', 503, 'server_error', 'Sluice is shutting down; the request was ended.', { outcome: 'shutdown', openaiCode: 'server_shutting_down' });
        for (const cancellation of gateway.inflight) cancellation.abort(reason);
        // node:http does not count a connection that has sent nothing (or half a request) as idle, so
        // it would hold close() until its headersTimeout; cut every connection once the ended
        // streams have written their error events.
        cut = setTimeout(() => app.server.closeAllConnections(), LAST_WRITES_MS);
      }, graceMs);
      try {
        await closed;
      } finally {
        clearTimeout(deadline);
        clearTimeout(cut);
        clearInterval(sweep);
      }
    },
  };
}

function refuseUpgrade(socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  const body = JSON.stringify(
    new SluiceError('SLUICE_ERR_BAD_REQUEST', 426, 'invalid_request_error', 'Sluice serves this API over HTTP (Server-Sent Events); WebSocket upgrades are not supported.', {
      openaiCode: 'websocket_not_supported',
    }).toBody(),
  );
  socket.end(`HTTP/1.1 426 Upgrade Required\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
