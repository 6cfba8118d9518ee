import type { z } from 'zod';
import { badRequest, type SluiceError } from './errors.js';

/** A zod issue path as written in YAML and JSON alike: `providers[0].base_url`, `(root)` for none. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? '(root)' : out;
}

/** A request body's first zod issue as a 400 whose `param` names the field at fault. */
export function issueError(issue: z.core.$ZodIssue | undefined): SluiceError {
  if (issue === undefined) return badRequest('Invalid request body.');
  const param = formatPath(issue.path);
  return badRequest(`Invalid '${param}': ${issue.message}.`, param);
}
