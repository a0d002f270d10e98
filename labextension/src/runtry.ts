/**
 * "Try it": a JSON request to one of a deployment's services (POST deployments/{name}/call),
 * from a path and a body a person typed. Pure: no DOM, no JupyterLab.
 */

import type { CallResult } from './api';

export const DEFAULT_PATH = '/predict';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** The body a try-it box starts with: the service's example, else an empty object. */
export function exampleBody(example: unknown): string {
  if (example === undefined || example === null) {
    return '{}';
  }
  return JSON.stringify(example, null, 2);
}

/** The typed body as JSON, or why it is not. */
export function parseBody(text: string): Parsed<unknown> {
  if (!text.trim()) {
    return { ok: false, error: 'The body is empty: write JSON, e.g. {}' };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { ok: false, error: `The body is not JSON (${why}): fix it, then send again` };
  }
}

/** The typed path, starting with one slash ('/predict' when left empty). */
export function parsePath(text: string): Parsed<string> {
  const path = text.trim();
  if (!path) {
    return { ok: true, value: DEFAULT_PATH };
  }
  if (/\s/.test(path)) {
    return { ok: false, error: 'The path has spaces: write it as in a URL, e.g. /predict' };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(path)) {
    return { ok: false, error: 'Write only the path (e.g. /predict), not a whole URL' };
  }
  return { ok: true, value: `/${path.replace(/^\/+/, '')}` };
}

/** The service's answer as shown: its HTTP status and its body (pretty when JSON). */
export interface Answer {
  status: number;
  ok: boolean;
  text: string;
}

export function describeAnswer(result: CallResult): Answer {
  let text: string;
  if (result.json !== undefined) {
    text = JSON.stringify(result.json, null, 2);
  } else {
    text = result.text;
  }
  if (result.truncated) {
    text += '\n\u2026 (the answer was cut at 1 MiB)';
  }
  return { status: result.status, ok: result.status >= 200 && result.status < 300, text };
}
