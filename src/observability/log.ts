import type { LoggerOptions } from 'pino';

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
