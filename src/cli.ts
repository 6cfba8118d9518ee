#!/usr/bin/env node
import { check, serve } from './main.js';

const [command, ...rest] = process.argv.slice(2);
if (command === 'check') {
  check(rest, process.env);
} else {
  serve(process.argv.slice(2), process.env).catch((err: unknown) => {
    process.stderr.write(`sluice: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
