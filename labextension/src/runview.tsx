/**
 * The run followed, live: its status, a Cancel button while it can be cancelled, one row
 * per stage (status, attempt, elapsed time, cells run), the log of the stage picked, each
 * executed notebook, each service's URL and a "try it" box. What it shows is the model's
 * (liverun.ts); the clock ticks here, once a second, while something runs.
 */

import * as React from 'react';

import type { StageStatus } from './api';
import type { LiveRunModel, StreamState } from './liverun';
import { serviceUrls } from './runstate';
import {
  elapsedSeconds,
  formatElapsed,
  runCancellable,
  runSettled,
  runTone,
  stageBusy,
  stageTone
} from './runstatus';
import { useModel } from './usemodel';
import { isLocal, whereKey, whereLabel } from './where';

export function LiveRunView({ run }: { run: LiveRunModel }): JSX.Element | null {
  const model = useModel(run);
  const state = model.state;
  const ticking =
    !!state &&
    (state.status === 'running' ||
      state.status === 'queued' ||
      [...state.stages.values()].some(row => stageBusy(row.status)));
  useTick(ticking);
  if (!model.runId || !state) {
    return null;
  }
  const now = Date.now() / 1000;
  const detail = state.detail;
  const status = state.status;
  const started = detail?.started ?? null;
  // a settled run's clock stops at its last event (a deployed run's services still serve)
  const end =
    detail?.finished ?? (runSettled(status) && state.lastTime !== null ? state.lastTime : null);
  const took = elapsedSeconds(started, end, now);
  const urls = serviceUrls(state);
  const rows = [...state.stages.values()];

  return (
    <section
      className="bw-Panel-section bw-Run"
      aria-label={`Run ${model.runId}`}
      data-bw="run"
      data-run={model.runId}
      data-status={status}
      data-seq={state.lastSeq}
      data-events={state.applied}
      data-stream={model.stream}
      data-where={whereKey(model.where)}
    >
      <h3 className="bw-Panel-heading bw-Run-heading">
        Run <code>{model.runId}</code>{' '}
        <span
          className={`bw-Badge bw-mod-tone-${runTone(status)}`}
          role="status"
          aria-live="polite"
          data-bw="run-status"
        >
          {status === 'unknown' ? 'loading' : status}
        </span>
      </h3>
      <p className="bw-Run-meta">
        {state.deployment && (
          <>
            <span className="bw-Panel-label">deployment</span> <code>{state.deployment}</code>
          </>
        )}
        {!isLocal(model.where) && (
          <span data-bw="run-where">
            {' \u00b7 '}
            <span className="bw-Panel-label">on</span> {whereLabel(model.where)}
          </span>
        )}
        {took !== null && (
          <span className="bw-Run-elapsed" data-bw="run-elapsed">
            {' \u00b7 '}
            {end !== null ? 'took ' : ''}
            {formatElapsed(took)}
          </span>
        )}
        <StreamNote stream={model.stream} />
      </p>
      {model.warnings.map(warning => (
        <p key={warning} className="bw-Run-warning" role="note" data-bw="run-warning">
          {warning}
        </p>
      ))}
      {model.notice && (
        <p className="bw-Run-warning" role="note" data-bw="run-notice">
          {model.notice}
        </p>
      )}
      {detail?.message && <p className="bw-Run-message">{detail.message}</p>}
      {model.error && (
        <p className="bw-Run-error" role="alert" data-bw="run-error">
          {model.error}
        </p>
      )}
      {runCancellable(status) && !model.notice && (
        <div className="bw-Run-actions">
          <button
            type="button"
            className="jp-mod-styled jp-mod-warn bw-Button"
            data-bw="cancel"
            aria-label={`Cancel run ${model.runId}`}
            aria-disabled={model.cancelling || detail?.cancel_requested}
            onClick={() => void model.cancel()}
          >
            {model.cancelling || detail?.cancel_requested ? 'Cancelling\u2026' : 'Cancel'}
          </button>
        </div>
      )}
      {model.cancelError && (
        <p className="bw-Run-error" role="alert">
          Could not cancel: {model.cancelError}
        </p>
      )}
      <ul className="bw-RunStages" aria-label="Stages">
        {rows.map(row => (
          <StageRow
            key={row.name}
            model={model}
            row={row}
            now={now}
            url={urls.get(row.name) ?? null}
          />
        ))}
      </ul>
      {model.selected && <LogView model={model} />}
    </section>
  );
}

/** Draw again once a second while ``on``. */
function useTick(on: boolean): void {
  const [, tick] = React.useReducer((n: number) => n + 1, 0);
  React.useEffect(() => {
    if (!on) {
      return;
    }
    const timer = window.setInterval(tick, 1000);
    return () => window.clearInterval(timer);
  }, [on]);
}

function StreamNote({ stream }: { stream: StreamState }): JSX.Element | null {
  const text: Partial<Record<StreamState, string>> = {
    connecting: 'connecting\u2026',
    open: 'live',
    retrying: 'reconnecting\u2026'
  };
  const shown = text[stream];
  return shown ? (
    <span className={`bw-Run-stream bw-mod-${stream}`} data-bw="run-stream">
      {' \u00b7 '}
      {shown}
    </span>
  ) : null;
}

interface StageRowProps {
  model: LiveRunModel;
  row: StageStatus;
  now: number;
  url: string | null;
}

function StageRow({ model, row, now, url }: StageRowProps): JSX.Element {
  const selected = model.selected === row.name;
  const took = elapsedSeconds(row.started, row.finished, now);
  const cells = model.state?.progress(row.name) ?? null;
  // the name a screen reader says: no ticking clock in it (it would be read again and again)
  const parts: string[] = [row.status];
  if (row.attempt) {
    parts.push(`attempt ${row.attempt}`);
  }
  return (
    <li
      className={`bw-RunStage bw-mod-tone-${stageTone(row.status)}`}
      data-bw="run-stage"
      data-stage={row.name}
      data-status={row.status}
      data-attempt={row.attempt}
      data-kind={row.kind}
    >
      <button
        type="button"
        className="bw-RunStage-head"
        aria-pressed={selected}
        aria-label={`${row.name}: ${parts.join(', ')}. ${selected ? 'Hide' : 'Show'} its log`}
        data-bw="run-stage-log"
        onClick={() => model.select(selected ? null : row.name)}
      >
        <span className={`bw-Badge bw-mod-tone-${stageTone(row.status)}`}>{row.status}</span>
        <span className="bw-RunStage-name">{row.name}</span>
        <span className="bw-RunStage-facts">
          {row.attempt > 0 && <span data-bw="run-stage-attempt">attempt {row.attempt}</span>}
          {took !== null && <span data-bw="run-stage-elapsed">{formatElapsed(took)}</span>}
          {cells && cells.total > 0 && (
            <span data-bw="run-stage-cells">
              {cells.index}/{cells.total} cells
            </span>
          )}
        </span>
      </button>
      {row.message && <p className="bw-RunStage-message">{row.message}</p>}
      {(row.notebook || url) && (
        <div className="bw-RunStage-extras">
          {row.notebook && model.notebookUrl(row.name) !== null && (
            <a
              className="bw-LinkButton"
              href={model.notebookUrl(row.name) ?? undefined}
              download={`${row.name}.ipynb`}
              data-bw="open-notebook"
              data-stage={row.name}
              aria-label={`Download the executed notebook of ${row.name}`}
            >
              Download executed notebook
            </a>
          )}
          {row.notebook && model.notebookUrl(row.name) === null && (
            <button
              type="button"
              className="bw-LinkButton"
              data-bw="open-notebook"
              data-stage={row.name}
              aria-label={`Open the executed notebook of ${row.name}`}
              onClick={() => model.openNotebook(row.name)}
            >
              Open executed notebook
            </button>
          )}
          {url && (
            <p className="bw-RunStage-url">
              <span className="bw-Panel-label">serving at</span>{' '}
              <a
                href={url}
                target="_blank"
                rel="noopener noreferrer"
                data-bw="service-url"
                data-stage={row.name}
              >
                {url}
              </a>
            </p>
          )}
          {url && <TryIt model={model} stage={row.name} />}
        </div>
      )}
    </li>
  );
}

function TryIt({ model, stage }: { model: LiveRunModel; stage: string }): JSX.Element {
  const box = model.tryBox(stage);
  const id = `bw-try-${stage.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return (
    <form
      className="bw-Try"
      data-bw="try"
      data-stage={stage}
      aria-label={`Try ${stage}`}
      onSubmit={event => {
        event.preventDefault();
        void model.sendTry(stage);
      }}
    >
      <div className="bw-Try-title">Try it</div>
      <label className="bw-Field" htmlFor={`${id}-path`}>
        <span className="bw-Field-label">Path</span>
        <input
          id={`${id}-path`}
          className="jp-mod-styled bw-Input"
          data-bw="try-path"
          value={box.path}
          spellCheck={false}
          onChange={event => model.editTry(stage, { path: event.target.value })}
        />
      </label>
      <label className="bw-Field" htmlFor={`${id}-body`}>
        <span className="bw-Field-label">JSON body</span>
        <textarea
          id={`${id}-body`}
          className="jp-mod-styled bw-Input bw-Try-body"
          data-bw="try-body"
          rows={5}
          value={box.body}
          spellCheck={false}
          aria-invalid={!!box.error}
          aria-describedby={box.error ? `${id}-error` : undefined}
          onChange={event => model.editTry(stage, { body: event.target.value })}
        />
      </label>
      <div>
        <button
          type="submit"
          className="jp-mod-styled jp-mod-accept bw-Button"
          data-bw="try-send"
          aria-label={`Send to ${stage}`}
          aria-disabled={box.busy}
        >
          {box.busy ? 'Sending\u2026' : 'Send'}
        </button>
      </div>
      {box.error && (
        <p id={`${id}-error`} className="bw-Try-error" role="alert" data-bw="try-error">
          {box.error}
        </p>
      )}
      {box.answer && (
        <div
          className={`bw-Try-answer ${box.answer.ok ? 'bw-mod-ok' : 'bw-mod-error'}`}
          data-bw="try-answer"
          data-status={box.answer.status}
          role="status"
          aria-live="polite"
        >
          <span className="bw-Try-status">HTTP {box.answer.status}</span>
          <pre className="bw-Try-text">{box.answer.text}</pre>
        </div>
      )}
    </form>
  );
}

function LogView({ model }: { model: LiveRunModel }): JSX.Element {
  const log = model.log;
  const stage = model.selected ?? '';
  const pre = React.useRef<HTMLPreElement>(null);
  const text = log?.text ?? '';
  // keep the end in sight while it grows, unless the person scrolled up to read
  const atEnd = React.useRef(true);
  React.useLayoutEffect(() => {
    const node = pre.current;
    if (node && atEnd.current) {
      node.scrollTop = node.scrollHeight;
    }
  }, [text]);
  const row = model.state?.stages.get(stage);
  const empty = !row || row.attempt === 0 ? 'not started: no log yet' : 'no lines yet';
  return (
    <section className="bw-RunLog" data-bw="log" data-stage={stage} aria-label={`Log of ${stage}`}>
      <h4 className="bw-RunLog-heading">
        Log of <code>{stage}</code>
        {log && log.attempt > 1 && <span className="bw-Panel-muted"> attempt {log.attempt}</span>}
        {log?.cut && <span className="bw-Panel-muted"> (earlier lines cut)</span>}
      </h4>
      {model.logError && (
        <p className="bw-Run-error" role="alert">
          {model.logError}
        </p>
      )}
      <pre
        ref={pre}
        className="bw-RunLog-text"
        tabIndex={0}
        aria-label={`Log of ${stage}`}
        onScroll={event => {
          const node = event.currentTarget;
          atEnd.current = node.scrollHeight - node.scrollTop - node.clientHeight < 8;
        }}
      >
        {text || empty}
      </pre>
    </section>
  );
}
