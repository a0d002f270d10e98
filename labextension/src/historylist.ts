/**
 * What the history list decides, without a DOM: the order of deployments and runs, which
 * actions a status allows, which run a reloaded page follows, what a delete stops, and how
 * a run's code is named. Pure.
 */

import type { Deployment, RunStatus, RunSummary, Source } from './api';

/** Run statuses with work still to do: cancel applies, and the history asks again soon. */
const ACTIVE_RUNS: ReadonlySet<string> = new Set<RunStatus>(['queued', 'running']);
/** Deployment statuses that change by themselves soon. */
const CHANGING_DEPLOYMENTS: ReadonlySet<string> = new Set(['pending', 'running', 'deleting']);
/** A deployment that is gone, or going (`bodywork get deployments` leaves deleted ones out). */
const GONE: ReadonlySet<string> = new Set(['deleted', 'deleting']);

export function isActive(status: string): boolean {
  return ACTIVE_RUNS.has(status);
}

export function isGone(deployment: Deployment): boolean {
  return GONE.has(deployment.status);
}

/** What a person may do with a run now. */
export interface RunActions {
  /** Cancel it (queued or running, not asked yet). */
  cancel: boolean;
  /** Cancel was asked and it has not stopped yet. */
  cancelling: boolean;
  /** Run it again, as it was deployed (not while it goes: cancel it first). */
  rerun: boolean;
}

export function runActions(run: RunSummary, deployment?: Deployment): RunActions {
  const active = isActive(run.status);
  return {
    cancel: active && !run.cancel_requested,
    cancelling: active && run.cancel_requested,
    rerun: !active && deployment?.status !== 'deleting'
  };
}

/** Delete applies to a deployment that is not deleted or being deleted. */
export function canDelete(deployment: Deployment): boolean {
  return !isGone(deployment);
}

/** Whether anything shown may change by itself soon (then the history asks again). */
export function anyChanging(
  deployments: readonly Deployment[],
  runs: Iterable<readonly RunSummary[]>
): boolean {
  if (deployments.some(d => CHANGING_DEPLOYMENTS.has(d.status) || (d.run && isActive(d.run.status)))) {
    return true;
  }
  for (const list of runs) {
    if (list.some(r => isActive(r.status))) {
      return true;
    }
  }
  return false;
}

/** Most recently changed first; the name breaks ties. */
export function sortDeployments(deployments: readonly Deployment[]): Deployment[] {
  return [...deployments].sort(
    (a, b) => b.updated - a.updated || a.name.localeCompare(b.name)
  );
}

/** Newest first (as the API lists them); the id (its time, then a random part) breaks ties. */
export function sortRuns(runs: readonly RunSummary[]): RunSummary[] {
  return [...runs].sort((a, b) => b.created - a.created || b.id.localeCompare(a.id));
}

/**
 * The run a reloaded page follows in the live view: the queued or running current run of
 * ``pipeline``'s deployment (a deployment is named for its pipeline); null: none.
 */
export function runToFollow(
  deployments: readonly Deployment[],
  pipeline: string | null
): string | null {
  if (!pipeline) {
    return null;
  }
  const going = sortDeployments(deployments).find(
    d => d.pipeline === pipeline && d.run !== null && isActive(d.run.status)
  );
  return going?.run?.id ?? null;
}

/** What ``Delete`` stops, and what stays, one sentence each, for the confirm dialog. */
export function deleteConsequences(deployment: Deployment): string[] {
  const lines: string[] = [];
  const services = Object.entries(deployment.urls).sort(([a], [b]) => a.localeCompare(b));
  for (const [stage, url] of services) {
    lines.push(`Service ${stage} stops answering at ${url}.`);
  }
  if (deployment.run && isActive(deployment.run.status)) {
    lines.push(`Run ${deployment.run.id} (${deployment.run.status}) is stopped.`);
  }
  if (!lines.length) {
    lines.push('Nothing of it is running or serving now.');
  }
  lines.push('Its schedule, if it has one, is deleted.');
  lines.push(
    `Its run history is kept: "Show deleted" lists it here, bodywork get runs ${deployment.name} in a terminal.`
  );
  return lines;
}

/** How a run's code is named: its commit (short, and in full), or the folder it ran as is. */
export interface CodeName {
  text: string;
  title: string;
  commit: string | null;
}

export function codeOf(source: Source): CodeName {
  const commit = typeof source.commit === 'string' ? source.commit : null;
  const repo = typeof source.repo === 'string' ? source.repo : null;
  const dir = typeof source.project_dir === 'string' && source.project_dir !== '.' ? source.project_dir : '';
  if (commit) {
    const where = repo ? `${repo}${dir ? ` (${dir})` : ''}` : 'git';
    return { text: commit.slice(0, 8), title: `commit ${commit} of ${where}`, commit };
  }
  const folder = typeof source.local_path === 'string' ? source.local_path : null;
  if (folder) {
    return { text: 'folder', title: `the folder ${folder}, as it was on disk (not in git)`, commit: null };
  }
  return { text: '', title: '', commit: null };
}

