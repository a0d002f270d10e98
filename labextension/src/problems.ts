/**
 * Problems as `GET /bodywork/api/pipeline/validate` gives them, and how the panel shows them.
 * Pure: no DOM, no JupyterLab.
 */

export type Severity = 'error' | 'warning';

/** openapi.yaml: Problem. ``file`` is relative to the server's root; ``line`` 0 = no line. */
export interface Problem {
  file: string;
  line: number;
  path: string;
  message: string;
  hint: string;
  severity: Severity;
}

/** openapi.yaml: Validation. */
export interface Validation {
  valid: boolean;
  config_file: string;
  /** The folder has a bodywork.yaml (or bodywork.yml). */
  found: boolean;
  pipeline: string | null;
  version: string | null;
  errors: number;
  warnings: number;
  problems: Problem[];
}

/** ``FILE:LINE`` (just ``FILE`` when no line applies). */
export function location(problem: Problem): string {
  return problem.line > 0 ? `${problem.file}:${problem.line}` : problem.file;
}

/**
 * The problem as one line, exactly as `bodywork validate` prints it (Problem.render in
 * bodywork_jupyter/pipeline/problems.py): ``FILE:LINE: field: what is wrong - how to fix``.
 */
export function formatProblem(problem: Problem): string {
  const where = location(problem);
  const what = problem.path ? `${problem.path}: ${problem.message}` : problem.message;
  const text = problem.severity === 'warning' ? `${where}: warning: ${what}` : `${where}: ${what}`;
  return problem.hint ? `${text} - ${problem.hint}` : text;
}

function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** One line saying what validating found. */
export function summarize(validation: Validation): string {
  const file = validation.config_file;
  if (!validation.valid) {
    const found = [count(validation.errors, 'error')];
    if (validation.warnings) {
      found.push(count(validation.warnings, 'warning'));
    }
    return `${file}: ${found.join(' and ')}`;
  }
  const version = validation.version ? ` (bodywork.yaml ${validation.version})` : '';
  const warnings = validation.warnings ? `, ${count(validation.warnings, 'warning')}` : '';
  return `${file} is valid: pipeline ${validation.pipeline ?? ''}${version}${warnings}`;
}

/** Where clicking a problem goes: a file under the root, and a 0-based line (or none). */
export interface OpenTarget {
  path: string;
  line: number | null;
}

/**
 * The file a problem is in, to open in JupyterLab; null when it names no file (a request
 * body, or nothing).
 */
export function openTarget(problem: Problem): OpenTarget | null {
  const file = problem.file.trim();
  if (!file || file === 'request body' || file.startsWith('/')) {
    return null;
  }
  return { path: file, line: problem.line > 0 ? problem.line - 1 : null };
}

/** A stable key for a problem in a list. */
export function problemKey(problem: Problem, index: number): string {
  return `${index}:${problem.file}:${problem.line}:${problem.path}`;
}
