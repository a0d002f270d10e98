/**
 * What a run's and a stage's status mean, for every view that shows one (the DAG's
 * colours, the live run's rows): the same vocabulary and the same meaning as the
 * notebook widget (bodywork_jupyter/widgets/dag.py COLOURS) and the engine
 * (bodywork_jupyter/engine/states.py). Pure: no DOM, no JupyterLab.
 */

import type { RunStatus, StageStatusName } from './api';

/**
 * A colour's meaning; style/run.css gives each one JupyterLab theme variables (pending:
 * none, running: blue, warning: orange, success: green, ready: a stronger green, error:
 * red, muted: grey).
 */
export type Tone = 'pending' | 'running' | 'warning' | 'success' | 'ready' | 'error' | 'muted';

export const STAGE_TONES: Record<StageStatusName, Tone> = {
  pending: 'pending',
  running: 'running',
  retrying: 'warning',
  restarting: 'warning',
  succeeded: 'success',
  ready: 'ready',
  failed: 'error',
  lost: 'error',
  cancelled: 'muted',
  skipped: 'muted',
  stopped: 'muted'
};

export const RUN_TONES: Record<RunStatus, Tone> = {
  queued: 'pending',
  running: 'running',
  deployed: 'ready',
  succeeded: 'success',
  failed: 'error',
  lost: 'error',
  cancelled: 'muted',
  stopped: 'muted'
};

/** A status the server may add later still gets a (neutral) tone. */
export function stageTone(status: string): Tone {
  return STAGE_TONES[status as StageStatusName] ?? 'pending';
}

export function runTone(status: string): Tone {
  return RUN_TONES[status as RunStatus] ?? 'pending';
}

/** states.py STAGE_STATUS_BY_EVENT: the event that moves a stage into a status. */
export const STAGE_STATUS_BY_EVENT: Readonly<Record<string, StageStatusName>> = {
  'stage.starting': 'running',
  'stage.retrying': 'retrying',
  'stage.succeeded': 'succeeded',
  'stage.failed': 'failed',
  'stage.ready': 'ready',
  'stage.cancelled': 'cancelled',
  'stage.skipped': 'skipped',
  'stage.stopped': 'stopped',
  'service.exited': 'restarting',
  'service.recovered': 'ready'
};

/** states.py RUN_STATUS_BY_EVENT. */
export const RUN_STATUS_BY_EVENT: Readonly<Record<string, RunStatus>> = {
  'run.started': 'running',
  'run.deployed': 'deployed',
  'run.succeeded': 'succeeded',
  'run.failed': 'failed',
  'run.cancelled': 'cancelled',
  'run.lost': 'lost',
  'run.stopped': 'stopped'
};

/** states.py STAGE_FINISHED: nothing more will happen to the stage in this run. */
export const STAGE_FINISHED: ReadonlySet<string> = new Set([
  'succeeded',
  'failed',
  'cancelled',
  'skipped',
  'lost',
  'stopped'
]);

/** states.py RUN_FINISHED (a deployed run is not: its services still serve). */
export const RUN_FINISHED: ReadonlySet<string> = new Set([
  'succeeded',
  'failed',
  'cancelled',
  'lost',
  'stopped'
]);

/** A stage whose clock ticks: it is doing something now. */
export function stageBusy(status: string): boolean {
  return status === 'running' || status === 'retrying' || status === 'restarting';
}

/** A stage whose log can still grow (a ready service logs its requests). */
export function stageLogging(status: string): boolean {
  return stageBusy(status) || status === 'ready';
}

/** A run that can be cancelled (runs/{id}/cancel accepts queued and running runs). */
export function runCancellable(status: string): boolean {
  return status === 'queued' || status === 'running';
}

/** states.settled: finished, or deployed with every service ready. */
export function runSettled(status: string): boolean {
  return RUN_FINISHED.has(status) || status === 'deployed';
}

/** The status as a screen reader says it, with the attempt when there was a retry. */
export function statusText(status: string, attempt = 0): string {
  return attempt > 1 ? `${status} (attempt ${attempt})` : status;
}

/**
 * Elapsed seconds as the widget shows them (widgets/runview.py elapsed): 12.3s, 4m 05s,
 * 2h 03m.
 */
export function formatElapsed(seconds: number): string {
  const s = Math.max(0, Number.isFinite(seconds) ? seconds : 0);
  if (s < 60) {
    return `${(Math.floor(s * 10) / 10).toFixed(1)}s`;
  }
  const whole = Math.floor(s);
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) {
    return `${minutes}m ${String(whole % 60).padStart(2, '0')}s`;
  }
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * How long something started at ``started`` (epoch seconds) has taken: until ``finished``,
 * else until ``now``; null when it has not started.
 */
export function elapsedSeconds(
  started: number | null | undefined,
  finished: number | null | undefined,
  now: number
): number | null {
  if (started === null || started === undefined) {
    return null;
  }
  return Math.max(0, (finished ?? now) - started);
}
