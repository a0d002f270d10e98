/**
 * A followed run's state, from its detail (GET runs/{id}) and its events (the stream):
 * each event is applied at once (the stage's colour turns without waiting), and the
 * detail, read again when events say a stage changed, fills in the rest (URLs, the
 * executed notebook, timings). Every event is counted once, by seq, so a view can show
 * that none was dropped. Pure: no DOM, no JupyterLab, no requests.
 */

import type { RunDetail, RunEvent, RunStatus, StageStatus, StageStatusName } from './api';
import { RUN_STATUS_BY_EVENT, STAGE_FINISHED, STAGE_STATUS_BY_EVENT } from './runstatus';

/** What applying one event asks the model to do next. */
export interface EventEffect {
  /** The event was seen before (its seq is not after the last one): nothing was done. */
  duplicate: boolean;
  /** Read the run's detail again (a stage or the run changed). */
  detail: boolean;
  /** The stage whose log grew (its notebook ran a cell), or null. */
  log: string | null;
}

/** A notebook stage's progress: cells run so far and its cell count. */
export interface CellProgress {
  index: number;
  total: number;
}

export class RunState {
  detail: RunDetail | null = null;
  status: RunStatus | 'unknown' = 'unknown';
  /** Each stage's status, in the detail's order (stages first seen in events follow). */
  readonly stages = new Map<string, StageStatus>();
  readonly cells = new Map<string, CellProgress>();
  /** The seq of the last event applied (the stream resumes after it). */
  lastSeq = 0;
  /** Events applied, each once. */
  applied = 0;
  /** The time (epoch seconds) of the last event applied. */
  lastTime: number | null = null;
  /** The stream said `end`: the run is over and every event was sent. */
  ended = false;

  /** The seq of the last event that set a stage's (or the run's) status. */
  private readonly statusSeq = new Map<string, number>();
  private runStatusSeq = 0;

  constructor(readonly runId: string) {}

  get deployment(): string | null {
    return this.detail?.deployment ?? null;
  }

  /**
   * Take the run's detail, read when the last event applied was ``asOfSeq``. A status an
   * event set after that is newer than the detail and stays; the detail gives the rest.
   */
  applyDetail(detail: RunDetail, asOfSeq = this.lastSeq): void {
    this.detail = detail;
    if (this.runStatusSeq <= asOfSeq) {
      this.status = detail.status;
    }
    const previous = new Map(this.stages);
    this.stages.clear();
    for (const row of detail.stages) {
      const before = previous.get(row.name);
      const newer = before !== undefined && (this.statusSeq.get(row.name) ?? 0) > asOfSeq;
      const attempt = newer ? Math.max(row.attempt, before.attempt) : row.attempt;
      this.stages.set(row.name, newer ? { ...row, status: before.status, attempt } : row);
      previous.delete(row.name);
    }
    for (const [name, row] of previous) {
      this.stages.set(name, row); // known from events only (the detail is older)
    }
  }

  /** Apply one event; what it asks for next. */
  applyEvent(event: RunEvent): EventEffect {
    if (event.seq <= this.lastSeq) {
      return { duplicate: true, detail: false, log: null };
    }
    this.lastSeq = event.seq;
    this.lastTime = event.time;
    this.applied++;
    const effect: EventEffect = { duplicate: false, detail: false, log: null };

    const runStatus = RUN_STATUS_BY_EVENT[event.type];
    if (runStatus !== undefined) {
      this.status = runStatus;
      this.runStatusSeq = event.seq;
      effect.detail = true;
    } else if (event.type.startsWith('run.')) {
      effect.detail = true; // queued, resumed: the detail says what changed
    }

    const stage = event.stage;
    if (stage) {
      const status = STAGE_STATUS_BY_EVENT[event.type];
      if (status !== undefined) {
        this.setStage(stage, status, event);
        effect.detail = true;
      } else if (event.type.startsWith('stage.') || event.type.startsWith('service.')) {
        effect.detail = true;
      }
      if (event.type === 'runner.cell.finished') {
        const index = Number(event.data.index ?? 0);
        const total = Number(event.data.total ?? 0);
        this.cells.set(stage, {
          index: Number.isFinite(index) ? index : 0,
          total: Number.isFinite(total) ? total : 0
        });
      }
      if (event.type.startsWith('runner.') || status !== undefined) {
        effect.log = stage;
      }
    }
    return effect;
  }

  /** The stage's cells run so far; a succeeded batch stage ran them all. */
  progress(stage: string): CellProgress | null {
    const cells = this.cells.get(stage);
    if (!cells) {
      return null;
    }
    const row = this.stages.get(stage);
    if (row?.status === 'succeeded' && row.kind === 'batch' && cells.total) {
      return { index: cells.total, total: cells.total };
    }
    return cells;
  }

  private setStage(name: string, status: StageStatusName, event: RunEvent): void {
    const before: StageStatus = this.stages.get(name) ?? placeholder(name);
    const row: StageStatus = { ...before, status };
    if (event.type === 'stage.starting') {
      row.attempt = event.attempt ?? before.attempt + 1;
      row.started = event.time;
      row.finished = null;
      row.duration = null;
      row.message = '';
      this.cells.delete(name); // a new attempt runs its cells again
    } else if (event.attempt) {
      row.attempt = Math.max(row.attempt, event.attempt);
    }
    if (STAGE_FINISHED.has(status) && row.finished === null) {
      row.finished = event.time;
      row.duration = row.started !== null ? event.time - row.started : null;
    }
    const message = event.data.message;
    if (typeof message === 'string' && message) {
      row.message = message;
    }
    const url = event.data.url;
    if (status === 'ready' && typeof url === 'string' && url) {
      row.url = url;
      row.kind = 'service';
    }
    this.stages.set(name, row);
    this.statusSeq.set(name, event.seq);
  }
}

function placeholder(name: string): StageStatus {
  return {
    name,
    kind: 'batch',
    status: 'pending',
    attempt: 0,
    started: null,
    finished: null,
    duration: null,
    message: '',
    url: null,
    log: null,
    notebook: null
  };
}

/** Each service's URL: the run's ``urls``, else a ready stage's own. */
export function serviceUrls(state: RunState): Map<string, string> {
  const urls = new Map<string, string>();
  for (const row of state.stages.values()) {
    const url = state.detail?.urls?.[row.name] ?? (row.status === 'ready' ? row.url : null);
    if (row.kind === 'service' && url) {
      urls.set(row.name, url);
    }
  }
  for (const [name, url] of Object.entries(state.detail?.urls ?? {})) {
    if (!urls.has(name) && url) {
      urls.set(name, url);
    }
  }
  return urls;
}

/**
 * Run ``task`` when asked, never two at once: asking while one runs makes exactly one
 * more run after it, however often it was asked (a burst of events costs one request at
 * a time, and the last one always sees the newest state).
 */
export class Coalescer {
  /** How many times ``task`` ran (tests; a view may show it). */
  runs = 0;
  private wanted = false;
  private current: Promise<void> | null = null;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly onError: (reason: unknown) => void = () => undefined
  ) {}

  get busy(): boolean {
    return this.current !== null;
  }

  /** Ask for a run; resolves when no run is wanted any more. */
  request(): Promise<void> {
    this.wanted = true;
    if (this.current === null) {
      this.current = this.loop();
    }
    return this.current;
  }

  private async loop(): Promise<void> {
    try {
      while (this.wanted) {
        this.wanted = false;
        this.runs++;
        try {
          await this.task();
        } catch (reason) {
          this.onError(reason);
        }
      }
    } finally {
      this.current = null;
    }
  }
}
