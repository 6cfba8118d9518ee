import { destination, type LoggerOptions } from 'pino';

/** pino options for the whole server. Keys and auth headers are redacted here and nowhere else. */
export function loggerOptions(level: string = process.env.LOG_LEVEL ?? 'info'): LoggerOptions {
  return {
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'req.headers["api-key"]',
        'req.headers["x-goog-api-key"]',
        'headers.authorization',
        'headers["x-api-key"]',
        'headers["api-key"]',
        'headers["x-goog-api-key"]',
        'api_key',
        '*.api_key',
        'apiKey',
      ],
      censor: '[redacted]',
    },
  };
}

/**
 * stdout, written in batches of at least 4 KB and at most 100 ms late: pino's minimum-overhead mode.
 * A write per line cost the event loop a thread-pool write and its callback per request
 * (bench/PROFILE.md, "log writes"). pino flushes what is waiting when the process exits; a process killed outright loses it.
 */
export function stdoutDestination(): ReturnType<typeof destination> {
  return destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 });
}

/** What fastify needs of a request's logger (pino's BaseLogger and `child`). */
interface RequestLogger {
  level: string;
  fatal(...args: unknown[]): void;
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  trace(...args: unknown[]): void;
  silent(...args: unknown[]): void;
  child(bindings: Record<string, unknown>, options?: Record<string, unknown>): RequestLogger;
  isLevelEnabled(level: string): boolean;
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * fastify's childLoggerFactory: a request's logger (pino's child with the request id) is made when
 * something first logs through it. Most requests never do, their access line has its own logger,
 * and a pino child per request showed on the time to first token (bench/PROFILE.md, "request logger").
 */
export function lazyRequestLogger(parent: RequestLogger, bindings: Record<string, unknown>, options: Record<string, unknown>): RequestLogger {
  return new LazyRequestLogger(parent, bindings, options);
}

class LazyRequestLogger implements RequestLogger {
  private made: RequestLogger | undefined;

  constructor(
    private readonly parent: RequestLogger,
    private readonly bindings: Record<string, unknown>,
    private readonly options: Record<string, unknown>,
  ) {}

  private get logger(): RequestLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.made?.level ?? (this.options.level as string | undefined) ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  /** A line at `level`: a level the logger leaves out makes no child either. */
  private write(level: Level, args: unknown[]): void {
    if (this.made === undefined && this.options.level === undefined && !this.parent.isLevelEnabled(level)) return;
    this.logger[level](...args);
  }

  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }

  error(...args: unknown[]): void {
    this.write('error', args);
  }

  warn(...args: unknown[]): void {
    this.write('warn', args);
  }

  info(...args: unknown[]): void {
    this.write('info', args);
  }

  debug(...args: unknown[]): void {
    this.write('debug', args);
  }

  trace(...args: unknown[]): void {
    this.write('trace', args);
  }

  silent(): void {}

  child(bindings: Record<string, unknown>, options?: Record<string, unknown>): RequestLogger {
    return this.logger.child(bindings, options);
  }
}
