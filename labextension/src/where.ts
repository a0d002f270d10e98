/**
 * Where a run or a deployment lives (api.ts: Where): this machine, or a kubeconfig context
 * and namespace. A run carries the Where it was deployed to; the history lists one Where's
 * deployments and remembers the choice. Pure: no DOM, no JupyterLab.
 */

import type { Target, Where } from './api';

/** This machine. */
export const LOCAL: Where = { target: 'local', context: null, namespace: null };

/** The Where a deploy target of `GET targets` deploys to (undefined: this machine). */
export function whereOf(target: Target | undefined | null): Where {
  if (!target || target.target === 'local') {
    return LOCAL;
  }
  return { target: target.target, context: target.context, namespace: target.namespace };
}

export function isLocal(where: Where | null | undefined): boolean {
  return !where || (where.target === 'local' && !where.context && !where.namespace);
}

/** One string per Where (equal Wheres, equal keys). */
export function whereKey(where: Where | null | undefined): string {
  if (isLocal(where)) {
    return 'local';
  }
  const w = where as Where;
  return JSON.stringify([w.target, w.context || null, w.namespace || null]);
}

export function sameWhere(a: Where | null | undefined, b: Where | null | undefined): boolean {
  return whereKey(a) === whereKey(b);
}

/** How a person reads it: "this machine", "kind-x (namespace ns)". */
export function whereLabel(where: Where | null | undefined): string {
  if (isLocal(where)) {
    return 'this machine';
  }
  const w = where as Where;
  const place = w.context ? w.context : `${w.target} (the kubeconfig's current context)`;
  return w.namespace ? `${place} (namespace ${w.namespace})` : place;
}

/** The CLI's options that name it (none for this machine), for a hint. */
export function whereOptions(where: Where | null | undefined): string {
  if (isLocal(where)) {
    return '';
  }
  const w = where as Where;
  const parts = [`--target ${w.target}`];
  if (w.context) {
    parts.push(`--context ${w.context}`);
  }
  if (w.namespace) {
    parts.push(`--namespace ${w.namespace}`);
  }
  return parts.join(' ');
}

/**
 * The history's choices: this machine first, then each kubeconfig context (no repeats).
 * Only places that keep deployments: not a destination without a context (an export).
 */
export function whereChoices(targets: Target[]): { where: Where; label: string }[] {
  const choices = [{ where: LOCAL, label: 'this machine' }];
  const seen = new Set([whereKey(LOCAL)]);
  for (const target of targets) {
    if (target.target !== 'local' && !target.context) {
      continue;
    }
    const where = whereOf(target);
    const key = whereKey(where);
    if (!seen.has(key)) {
      seen.add(key);
      choices.push({ where, label: target.target === 'local' ? 'this machine' : target.label });
    }
  }
  return choices;
}

/** A Where as it is remembered (JSON). */
export function storeWhere(where: Where): string {
  return JSON.stringify(isLocal(where) ? LOCAL : where);
}

/** A remembered Where, or null when there is none or it is not one. */
export function parseWhere(raw: string | null | undefined): Where | null {
  if (!raw) {
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') {
    return null;
  }
  const { target, context, namespace } = value as Record<string, unknown>;
  const optional = (v: unknown) => v === undefined || v === null || typeof v === 'string';
  if (typeof target !== 'string' || !target || !optional(context) || !optional(namespace)) {
    return null;
  }
  if (target === 'local') {
    return LOCAL;
  }
  return {
    target,
    context: (context as string | null | undefined) ?? null,
    namespace: (namespace as string | null | undefined) ?? null
  };
}
