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
