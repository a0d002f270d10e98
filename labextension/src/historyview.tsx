/**
 * The history section of the panel: each deployment (status, target, the version serving
 * and its URLs), opened to its runs (status, commit, duration, who started it, when), with
 * Show (in the live view), Cancel, Re-run, and Delete behind a confirm dialog. "Where"
 * picks whose history it is: this machine or a kubeconfig context.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { caretDownIcon, caretRightIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { Deployment, RunSummary } from './api';
import type { HistoryModel } from './history';
import { canDelete, codeOf, deleteConsequences, isGone, runActions } from './historylist';
import { formatDuration, fullTime, isoTime, relativeTime, runDuration } from './historytime';
import { useModel } from './usemodel';
import { sameWhere, whereKey } from './where';

/** How often relative times ("2 min ago") and running durations are drawn again. */
const TICK_MS = 10_000;

export function HistoryView({ history }: { history: HistoryModel }): JSX.Element {
  useModel(history);
  useModel(history.run); // which run the live view shows
  useTick(TICK_MS);
  React.useEffect(() => history.show(), [history]);
  const now = Date.now() / 1000;
  const headingId = 'bw-history-heading';
  const count = history.deployments.length;
  return (
    <section
      className="bw-Panel-section bw-History"
      data-bw="history"
      data-loaded={history.loaded ? 'true' : 'false'}
      aria-labelledby={headingId}
      aria-busy={history.loading}
    >
      <div className="bw-History-head">
        <h3 className="bw-Panel-heading" id={headingId}>
          History{' '}
          {history.loaded && (
            <span className="bw-Panel-muted">
              {count} deployment{count === 1 ? '' : 's'}
            </span>
          )}
        </h3>
        <WhereSelect history={history} />
        <label className="bw-History-showDeleted">
          <input
            type="checkbox"
            data-bw="history-show-deleted"
            checked={history.showDeleted}
            onChange={event => history.setShowDeleted(event.currentTarget.checked)}
          />{' '}
          Show deleted
        </label>
        <button
          type="button"
          className="jp-mod-styled bw-History-button"
          data-bw="history-refresh"
          aria-label="Refresh the history"
          onClick={() => void history.refresh()}
        >
          Refresh
        </button>
      </div>
      {history.targetsError && (
        <p
          className="bw-History-message bw-mod-warning"
          role="status"
          data-bw="history-targets-error"
        >
          {history.targetsError}
        </p>
      )}
      {history.error && (
        <p className="bw-History-message bw-mod-error" role="alert" data-bw="history-error">
          {history.error}
        </p>
      )}
      {history.actionError && (
        <p className="bw-History-message bw-mod-error" role="alert" data-bw="history-action-error">
          {history.actionError}
        </p>
      )}
      {history.notice && (
        <p className="bw-History-message bw-mod-warning" role="status" data-bw="history-notice">
          {history.notice}
        </p>
      )}
      {history.loaded && count === 0 && !history.error && (
        <p className="bw-History-empty" data-bw="history-empty">
          No deployments{history.showDeleted ? '' : ' now'}. Deploy runs this folder's pipeline;
          its runs are listed here.
        </p>
      )}
      {count > 0 && (
        <ul className="bw-History-deployments" aria-label="Deployments">
          {history.deployments.map(deployment => (
            <DeploymentItem
              key={deployment.name}
              history={history}
              deployment={deployment}
              now={now}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

/** Whose history: this machine, or one of the kubeconfig's contexts. */
function WhereSelect({ history }: { history: HistoryModel }): JSX.Element {
  const choices = history.choices;
  const chosen = Math.max(
    0,
    choices.findIndex(choice => sameWhere(choice.where, history.where))
  );
  return (
    <label className="bw-History-showDeleted">
      Where{' '}
      <select
        className="jp-mod-styled"
        data-bw="history-where"
        data-where={whereKey(history.where)}
        title="Whose deployments and runs the history lists"
        value={chosen}
        onChange={event => {
          const choice = choices[Number(event.currentTarget.value)];
          if (choice) {
            history.setWhere(choice.where);
          }
        }}
      >
        {choices.map((choice, index) => (
          <option
            key={whereKey(choice.where)}
            value={index}
            data-target={choice.where.target}
            data-context={choice.where.context ?? ''}
            data-namespace={choice.where.namespace ?? ''}
          >
            {choice.label}
          </option>
        ))}
      </select>
    </label>
  );
}

function DeploymentItem({
  history,
  deployment,
  now
}: {
  history: HistoryModel;
  deployment: Deployment;
  now: number;
}): JSX.Element {
  const name = deployment.name;
  const expanded = history.expanded.has(name);
  const runsId = `bw-history-runs-${domId(name)}`;
  const deleting = history.isPending(`delete:${name}`);
  const runs = history.runs.get(name);
  const latest = deployment.run;
  const Caret = expanded ? caretDownIcon : caretRightIcon;
  return (
    <li
      className={`bw-History-deployment${isGone(deployment) ? ' bw-mod-gone' : ''}`}
      data-bw="deployment"
      data-name={name}
      data-status={deployment.status}
    >
      <div className="bw-History-row">
        <button
          type="button"
          className="bw-History-toggle"
          data-bw="deployment-toggle"
          aria-expanded={expanded}
          aria-controls={runsId}
          aria-label={`${name}, ${deployment.status}: ${expanded ? 'hide' : 'show'} its runs`}
          onClick={() => history.toggle(name)}
        >
          <Caret.react tag="span" className="bw-History-caret" />
          <span className="bw-History-name">{name}</span>
        </button>
        <Status status={deployment.status} />
        {canDelete(deployment) && (
          <button
            type="button"
            className="jp-mod-styled jp-mod-warn bw-History-button"
            data-bw="deployment-delete"
            aria-label={`Delete deployment ${name}`}
            aria-disabled={deleting}
            onClick={() => {
              if (!deleting) {
                void confirmDelete(history, deployment);
              }
            }}
          >
            {deleting ? 'Deleting\u2026' : 'Delete'}
          </button>
        )}
      </div>
      <p className="bw-History-meta">
        <span data-bw="deployment-target">{targetLabel(deployment.target)}</span>
        {latest && (
          <>
            {' \u00b7 last run '}
            <When time={latest.created} now={now} />
          </>
        )}
      </p>
      {deployment.serving && Object.keys(deployment.serving.urls).length > 0 && (
        <div className="bw-History-serving" data-bw="deployment-serving">
          <span className="bw-Panel-label">serving</span>{' '}
          <code
            title={
              deployment.serving.commit
                ? `commit ${deployment.serving.commit} (run ${deployment.serving.run})`
                : `run ${deployment.serving.run}`
            }
          >
            {deployment.serving.commit ? deployment.serving.commit.slice(0, 8) : deployment.serving.run}
          </code>
          <ul className="bw-History-urls" aria-label={`Services of ${name}`}>
            {Object.entries(deployment.serving.urls)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([stage, url]) => (
                <li key={stage}>
                  <span className="bw-Panel-label">{stage}</span>{' '}
                  <a
                    href={url}
                    target="_blank"
                    rel="noopener noreferrer"
                    data-bw="deployment-url"
                    data-stage={stage}
                  >
                    {url}
                  </a>
                </li>
              ))}
          </ul>
        </div>
      )}
      {expanded && (
        <div id={runsId} className="bw-History-runs">
          {runs === undefined ? (
            <p className="bw-Panel-muted">Reading its runs{'\u2026'}</p>
          ) : runs.length === 0 ? (
            <p className="bw-Panel-muted">No runs.</p>
          ) : (
            <ol className="bw-History-runList" aria-label={`Runs of ${name}, newest first`}>
              {runs.map(run => (
                <RunItem
                  key={run.id}
                  history={history}
                  deployment={deployment}
                  run={run}
                  now={now}
                />
              ))}
            </ol>
          )}
        </div>
      )}
    </li>
  );
}

function RunItem({
  history,
  deployment,
  run,
  now
}: {
  history: HistoryModel;
  deployment: Deployment;
  run: RunSummary;
  now: number;
}): JSX.Element {
  const actions = runActions(run, deployment);
  const code = codeOf(run.source);
  const duration = runDuration(run, now);
  const followed = history.isFollowed(run.id);
  const startedBy = run.started_by ?? null;
  const cancelling = actions.cancelling || history.isPending(`cancel:${run.id}`);
  const rerunning = history.isPending(`rerun:${run.id}`);
  return (
    <li
      className={`bw-History-run${followed ? ' bw-mod-followed' : ''}`}
      data-bw="history-run"
      data-run={run.id}
      data-status={run.status}
      data-commit={code.commit ?? ''}
      data-following={followed ? 'true' : 'false'}
      aria-current={followed ? 'true' : undefined}
    >
      <div className="bw-History-row">
        <Status status={run.status} />
        {code.text && (
          <code className="bw-History-commit" data-bw="run-commit" title={code.title}>
            {code.text}
          </code>
        )}
        {duration !== null && (
          <span
            className="bw-History-duration"
            data-bw="run-duration"
            title={run.finished === null ? 'so far' : 'from start to finish'}
          >
            {formatDuration(duration)}
          </span>
        )}
        {startedBy && (
          <span className="bw-History-by" data-bw="run-started-by" title={`started by ${startedBy}`}>
            {startedBy}
          </span>
        )}
        <When time={run.created} now={now} />
      </div>
      <p className="bw-History-id">
        <code>{run.id}</code>
        {followed && <span className="bw-History-live"> {'\u00b7'} in the live view</span>}
      </p>
      {run.message && <p className="bw-History-runMessage">{run.message}</p>}
      <div className="bw-History-actions" role="group" aria-label={`Run ${run.id}`}>
        <button
          type="button"
          className="jp-mod-styled bw-History-button"
          data-bw="run-show"
          aria-label={`Show run ${run.id} in the live view`}
          aria-pressed={followed}
          onClick={() => history.follow(run.id)}
        >
          Show
        </button>
        {(actions.cancel || cancelling) && (
          <button
            type="button"
            className="jp-mod-styled jp-mod-warn bw-History-button"
            data-bw="run-cancel"
            aria-label={`Cancel run ${run.id}`}
            aria-disabled={cancelling}
            onClick={() => {
              if (!cancelling) {
                void history.cancel(run.id);
              }
            }}
          >
            {cancelling ? 'Cancelling\u2026' : 'Cancel'}
          </button>
        )}
        {actions.rerun && (
          <button
            type="button"
            className="jp-mod-styled bw-History-button"
            data-bw="run-rerun"
            aria-label={`Re-run run ${run.id}, as it was deployed`}
            aria-disabled={rerunning}
            onClick={() => {
              if (!rerunning) {
                void history.rerun(run.id);
              }
            }}
          >
            {rerunning ? 'Starting\u2026' : 'Re-run'}
          </button>
        )}
      </div>
    </li>
  );
}

function Status({ status }: { status: string }): JSX.Element {
  return (
    <span className={`bw-History-status bw-mod-${status}`} data-bw="status-badge">
      {status}
    </span>
  );
}

/** A relative time, with the full time in its title. */
function When({ time, now }: { time: number; now: number }): JSX.Element {
  const full = fullTime(time);
  return (
    <time className="bw-History-when" dateTime={isoTime(time)} title={full}>
      {relativeTime(time, now)}
    </time>
  );
}

/** Ask first, naming what stops; then delete. */
async function confirmDelete(history: HistoryModel, deployment: Deployment): Promise<void> {
  const name = deployment.name;
  const result = await showDialog({
    title: `Delete deployment ${name}?`,
    body: (
      <div className="bw-History-confirm" data-bw="delete-confirm">
        <ul>
          {deleteConsequences(deployment).map(line => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      </div>
    ),
    buttons: [
      Dialog.cancelButton({ label: 'Keep it' }),
      Dialog.warnButton({ label: 'Delete', ariaLabel: `Delete deployment ${name}` })
    ],
    defaultButton: 0 // Enter keeps it: deleting stops services
  });
  if (result.button.accept) {
    await history.remove(name);
  }
}

function targetLabel(target: string): string {
  return target === 'local' ? 'this machine' : target;
}

/** A name as part of an element id. */
function domId(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** Draw again every ``ms`` (relative times move on). */
function useTick(ms: number): void {
  const [, tick] = React.useReducer((n: number) => n + 1, 0);
  React.useEffect(() => {
    const timer = setInterval(tick, ms);
    return () => clearInterval(timer);
  }, [ms]);
}
