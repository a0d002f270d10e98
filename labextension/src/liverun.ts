/**
 * One run followed live: its detail (GET runs/{id}), its server-sent events (the stream
 * runs/{id}/events, resumed after the last seq when it drops), the log of the stage a
 * person picked, and each service's "try it" box. A run is followed where it lives
 * (its Where: this machine, or a kubeconfig context and namespace): every read asks there.
 * What the events mean is RunState's (runstate.ts); this model only does the requests and
 * says when something changed.
 */

import { ServerConnection } from '@jupyterlab/services';
import { VDomModel } from '@jupyterlab/ui-components';

import {
  BodyworkApiError,
  errorMessage,
  type RunDetail,
  type StageStatus,
  type Where
} from './api';
import type { PanelServices } from './context';
import { LogTail } from './runlog';
import { reconnectDelay, SseParser } from './runsse';
import { Coalescer, RunState } from './runstate';
import { runCancellable, RUN_FINISHED, stageLogging } from './runstatus';
import {
  type Answer,
  DEFAULT_PATH,
  describeAnswer,
  exampleBody,
  parseBody,
  parsePath
} from './runtry';
import { isLocal, LOCAL } from './where';

/** How the event stream is doing. */
export type StreamState = 'idle' | 'connecting' | 'open' | 'retrying' | 'ended' | 'failed';

/** A service's "try it" box. */
export interface TryBox {
  path: string;
  body: string;
  /** The person changed the body: the example no longer replaces it. */
  touched: boolean;
  busy: boolean;
  answer: Answer | null;
  error: string | null;
}

/** How often the followed log is read while its stage runs (or serves). */
const LOG_POLL_MS = 1000;
/** Log pieces read in one turn (each up to the server's chunk size). */
const LOG_PIECES = 8;
/** Changes are drawn at most this often (a burst of events is one redraw). */
const REDRAW_MS = 50;

/** One follow: its requests stop together when the next follow (or dispose) begins. */
class Follow {
  readonly abort = new AbortController();
  constructor(readonly where: Where) {}
  get stopped(): boolean {
    return this.abort.signal.aborted;
  }
}

export interface FollowOptions {
  /** What the deploy said (e.g. uncommitted changes are not part of it). */
  warnings?: string[];
  /** The run's detail as the deploy answered it. */
  detail?: RunDetail;
}

export class LiveRunModel extends VDomModel {
  /** The run followed (null: none yet). */
  runId: string | null = null;
  /** Where the followed run lives. */
  where: Where = LOCAL;
  /** Each stage's latest status, by name (the DAG's colours). */
  stages: ReadonlyMap<string, StageStatus> = new Map();
  /** The followed run's state (null until a follow). */
  state: RunState | null = null;
  stream: StreamState = 'idle';
  /** Why the run cannot be shown or followed (null: it can). */
  error: string | null = null;
  warnings: string[] = [];
  /** A note on the run shown above it (null: none). */
  notice: string | null = null;
  /** The stage whose log is followed. */
  selected: string | null = null;
  log: LogTail | null = null;
  logError: string | null = null;
  readonly tries = new Map<string, TryBox>();
  cancelling = false;
  cancelError: string | null = null;

  private follow_: Follow | null = null;
  private detailReader: Coalescer | null = null;
  private logReader: Coalescer | null = null;
  private logTimer: number | undefined;
  private redrawTimer: number | undefined;

  constructor(readonly services: PanelServices) {
    super();
  }

  /** The stages' status when the followed run is one of ``pipeline``'s, else undefined. */
  stagesOf(pipeline: string): ReadonlyMap<string, StageStatus> | undefined {
    // a deployment is named after its pipeline (targets: submit)
    return this.state && this.state.deployment === pipeline ? this.stages : undefined;
  }

  /** Follow ``runId``, which lives at ``where``, from now on (the one before is let go). */
  follow(runId: string, where: Where = LOCAL, options: FollowOptions = {}): void {
    this.stop();
    const follow = new Follow(isLocal(where) ? LOCAL : where);
    const state = new RunState(runId);
    this.follow_ = follow;
    this.runId = runId;
    this.where = follow.where;
    this.state = state;
    this.stages = state.stages;
    this.stream = 'connecting';
    this.error = null;
    this.warnings = options.warnings ?? [];
    this.selected = null;
    this.log = null;
    this.logError = null;
    this.tries.clear();
    this.cancelling = false;
    this.cancelError = null;
    this.notice = null;
    if (options.detail) {
      state.applyDetail(options.detail);
    }
    this.detailReader = new Coalescer(
      () => this.readDetail(follow, state),
      reason => this.detailFailed(follow, reason)
    );
    this.logReader = new Coalescer(() => this.readLog(follow, state));
    this.logTimer = window.setInterval(() => {
      if (this.wantsLog()) {
        void this.logReader?.request();
      }
    }, LOG_POLL_MS);
    this.stateChanged.emit(void 0);
    void this.start(follow, state);
  }

  /** Follow the log of ``stage`` (null: none). */
  select(stage: string | null): void {
    if (stage === this.selected) {
      return;
    }
    this.selected = stage;
    this.log = stage ? new LogTail(stage) : null;
    this.logError = null;
    this.stateChanged.emit(void 0);
    if (stage) {
      void this.logReader?.request();
    }
  }

  /** Ask the server to cancel the run (queued or running). */
  async cancel(): Promise<void> {
    const state = this.state;
    const follow = this.follow_;
    if (!state || !follow || this.cancelling || !runCancellable(state.status)) {
      return;
    }
    this.cancelling = true;
    this.cancelError = null;
    this.stateChanged.emit(void 0);
    try {
      const detail = await this.services.api.cancel(state.runId, follow.where);
      if (!follow.stopped) {
        state.applyDetail(detail);
      }
    } catch (reason) {
      this.cancelError = errorMessage(reason);
    } finally {
      this.cancelling = false;
      if (!follow.stopped) {
        this.stateChanged.emit(void 0);
      }
    }
  }

  /** Open the executed notebook of ``stage`` (read-only; a cluster run's: see notebookUrl). */
  openNotebook(stage: string): void {
    if (this.runId) {
      this.services.openExecuted(this.runId, stage);
    }
  }

  /**
   * A cluster run's executed notebook as a download (JupyterLab's read-only viewer reads
   * this machine's runs); null for a run on this machine, which opens in JupyterLab.
   */
  notebookUrl(stage: string): string | null {
    if (!this.runId || isLocal(this.where)) {
      return null;
    }
    return this.services.api.notebookUrl(this.runId, stage, this.where);
  }

  /** The service's try-it box (made on first use, with the service's example body). */
  tryBox(stage: string): TryBox {
    let box = this.tries.get(stage);
    if (!box) {
      box = {
        path: DEFAULT_PATH,
        body: exampleBody(this.state?.stages.get(stage)?.example),
        touched: false,
        busy: false,
        answer: null,
        error: null
      };
      this.tries.set(stage, box);
    }
    return box;
  }

  editTry(stage: string, change: { path?: string; body?: string }): void {
    const box = this.tryBox(stage);
    if (change.path !== undefined) {
      box.path = change.path;
    }
    if (change.body !== undefined) {
      box.body = change.body;
      box.touched = true;
    }
    box.error = null;
    this.stateChanged.emit(void 0);
  }

  /** Send the box's body to the service, from the server (POST deployments/{name}/call). */
  async sendTry(stage: string): Promise<void> {
    const box = this.tryBox(stage);
    const deployment = this.state?.deployment;
    const follow = this.follow_;
    if (box.busy || !deployment || !follow) {
      return;
    }
    const body = parseBody(box.body);
    const path = parsePath(box.path);
    if (!body.ok || !path.ok) {
      box.error = !body.ok ? body.error : !path.ok ? path.error : null;
      box.answer = null;
      this.stateChanged.emit(void 0);
      return; // a message, not a request
    }
    box.busy = true;
    box.error = null;
    this.stateChanged.emit(void 0);
    try {
      const result = await this.services.api.call(
        deployment,
        { stage, path: path.value, body: body.value },
        follow.where
      );
      box.answer = describeAnswer(result);
    } catch (reason) {
      box.answer = null;
      box.error = errorMessage(reason);
    } finally {
      box.busy = false;
      if (!follow.stopped) {
        this.stateChanged.emit(void 0);
      }
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.stop();
    super.dispose();
  }

  // -- requests ------------------------------------------------------------------------

  private stop(): void {
    this.follow_?.abort.abort();
    this.follow_ = null;
    window.clearInterval(this.logTimer);
    window.clearTimeout(this.redrawTimer);
    this.logTimer = undefined;
    this.redrawTimer = undefined;
  }

  private async start(follow: Follow, state: RunState): Promise<void> {
    await this.detailReader?.request();
    if (!follow.stopped) {
      await this.readStream(follow, state);
    }
  }

  private async readDetail(follow: Follow, state: RunState): Promise<void> {
    const asOf = state.lastSeq;
    const detail = await this.services.api.run(state.runId, follow.where);
    if (follow.stopped) {
      return;
    }
    state.applyDetail(detail, asOf);
    this.error = null;
    for (const [stage, box] of this.tries) {
      if (!box.touched) {
        box.body = exampleBody(state.stages.get(stage)?.example);
      }
    }
    this.redraw();
  }

  /** The event stream, until `end`; after a drop it resumes after the last seq applied. */
  private async readStream(follow: Follow, state: RunState): Promise<void> {
    const api = this.services.api;
    let failures = 0;
    while (!follow.stopped && !state.ended) {
      const parser = new SseParser();
      try {
        const response = await ServerConnection.makeRequest(
          api.eventsUrl(state.runId, state.lastSeq, follow.where),
          { headers: { Accept: 'text/event-stream' }, signal: follow.abort.signal },
          api.settings
        );
        if (response.status === 404) {
          throw new BodyworkApiError(404, `run ${state.runId} is gone (its history was deleted)`);
        }
        if (!response.ok || !response.body) {
          throw new Error(`the event stream answered ${response.status}`);
        }
        this.setStream(follow, 'open');
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done || follow.stopped) {
              break;
            }
            failures = 0;
            this.take(follow, state, parser.push(decoder.decode(value, { stream: true })));
            if (state.ended) {
              break;
            }
          }
        } finally {
          // close the connection (after `end` the server closes it too)
          reader.cancel().catch(() => undefined);
        }
      } catch (reason) {
        if (follow.stopped) {
          return;
        }
        if (reason instanceof BodyworkApiError) {
          this.failed(follow, reason);
          return;
        }
      }
      if (follow.stopped || state.ended) {
        break;
      }
      failures++;
      this.setStream(follow, 'retrying');
      await sleep(reconnectDelay(failures), follow.abort.signal);
    }
    if (!follow.stopped && state.ended) {
      this.setStream(follow, 'ended');
      await this.detailReader?.request(); // the last word on every stage
      if (this.wantsLog()) {
        await this.logReader?.request();
      }
    }
  }

  private take(
    follow: Follow,
    state: RunState,
    messages: { event: string; data: string }[]
  ): void {
    let detail = false;
    let log = false;
    for (const message of messages) {
      if (message.event === 'end') {
        state.ended = true;
        continue;
      }
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        continue; // not an event of ours
      }
      if (!event || typeof event.seq !== 'number') {
        continue;
      }
      const effect = state.applyEvent({ data: {}, ...event });
      detail ||= effect.detail;
      log ||= effect.log !== null && effect.log === this.selected;
    }
    if (follow.stopped) {
      return;
    }
    if (detail) {
      void this.detailReader?.request();
    }
    if (log) {
      void this.logReader?.request();
    }
    this.redraw();
  }

  /** Whether the followed log may have grown: its stage runs or serves, or was not all read. */
  private wantsLog(): boolean {
    const state = this.state;
    const log = this.log;
    if (!state || !log || !this.selected) {
      return false;
    }
    const row = state.stages.get(this.selected);
    if (!row || row.attempt === 0) {
      return false; // not started: it has no log yet
    }
    return stageLogging(row.status) || !log.finished || row.attempt !== log.attempt;
  }

  private async readLog(follow: Follow, state: RunState): Promise<void> {
    const log = this.log;
    if (!log || follow.stopped) {
      return;
    }
    const row = state.stages.get(log.stage);
    if (!row || row.attempt === 0) {
      return;
    }
    try {
      // a long log comes in pieces: read on to its end (a few pieces per turn at most)
      for (let piece = 0; piece < LOG_PIECES; piece++) {
        const chunk = await this.services.api.logs(
          state.runId,
          log.stage,
          log.offset,
          follow.where
        );
        if (log !== this.log || follow.stopped) {
          return;
        }
        const taken = log.take(chunk);
        if (taken === 'ok' && (chunk.eof || chunk.next_offset === chunk.offset)) {
          break;
        }
      }
      this.logError = null;
    } catch (reason) {
      if (log === this.log) {
        this.logError = errorMessage(reason);
      }
    }
    this.redraw();
  }

  /** A run that is gone ends the follow; another failure is shown until a read works. */
  private detailFailed(follow: Follow, reason: unknown): void {
    if (reason instanceof BodyworkApiError && reason.status === 404) {
      this.failed(follow, reason);
    } else if (!follow.stopped) {
      this.error = `Could not read the run: ${errorMessage(reason)}`;
      this.redraw();
    }
  }

  private failed(follow: Follow, reason: unknown): void {
    if (follow.stopped) {
      return;
    }
    this.error = errorMessage(reason);
    this.stream = 'failed';
    if (reason instanceof BodyworkApiError && reason.status === 404) {
      this.stop(); // nothing more to follow
    }
    this.stateChanged.emit(void 0);
  }

  private setStream(follow: Follow, stream: StreamState): void {
    if (!follow.stopped && this.stream !== stream) {
      this.stream = stream;
      this.redraw();
    }
  }

  /** Draw again soon: many changes close together are one redraw. */
  private redraw(): void {
    if (this.redrawTimer !== undefined || this.isDisposed) {
      return;
    }
    this.redrawTimer = window.setTimeout(() => {
      this.redrawTimer = undefined;
      if (!this.isDisposed) {
        this.stateChanged.emit(void 0);
      }
    }, REDRAW_MS);
  }
}

/** Whether the followed run is over (no event will come). */
export function runOver(model: LiveRunModel): boolean {
  return !!model.state && (model.state.ended || RUN_FINISHED.has(model.state.status));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = window.setTimeout(done, ms);
    function done() {
      window.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
