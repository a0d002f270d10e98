/**
 * The Bodywork panel (left sidebar): the pipeline of the file browser's folder, its DAG,
 * Validate with every problem (a click opens the file at its line), and the git line.
 *
 * React (VDomRenderer) rather than hand-made DOM: the panel is state drawn again on each
 * answer, and the views that come next (tagging form, deploy dialog, live run, history)
 * are forms and lists of the same kind. React is JupyterLab's own, shared, not bundled.
 */

import { VDomRenderer } from '@jupyterlab/ui-components';
import type { Message } from '@lumino/messaging';
import * as React from 'react';

import type { PanelServices } from './context';
import { DagView } from './dagview';
import { DeployButton } from './deploy';
import type { GenerateModel } from './generate';
import { GenerateButton, GenerateResult } from './generateview';
import type { HistoryModel } from './history';
import { HistoryView } from './historyview';
import type { LiveRunModel } from './liverun';
import type { PanelModel } from './model';
import { LiveRunView } from './runview';
import { useModel } from './usemodel';
import { ProblemItems } from './problemlist';
import { type Problem, summarize } from './problems';
import { bodyworkIcon } from './icon';

export const PANEL_ID = 'bodywork-panel';

/** The panel's parts, each with its own model (index.ts builds them). */
export interface PanelParts {
  services: PanelServices;
  generate: GenerateModel;
  run: LiveRunModel;
  history: HistoryModel;
}

export class BodyworkPanel extends VDomRenderer<PanelModel> {
  private stale = true;

  constructor(
    model: PanelModel,
    private readonly parts: PanelParts
  ) {
    super(model);
    this.id = PANEL_ID;
    this.addClass('bw-Panel');
    this.title.icon = bodyworkIcon;
    this.title.caption = 'Bodywork';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Bodywork panel');
  }

  /** Show ``folder``; it is checked now when the panel is visible, else when it is shown. */
  showFolder(folder: string): void {
    this.model.setFolder(folder);
    this.stale = true;
    if (this.isVisible) {
      this.check();
    }
  }

  /** Check the folder again (when visible; else on the next show). */
  check(): void {
    if (!this.isVisible) {
      this.stale = true;
      return;
    }
    this.stale = false;
    void this.model.refresh();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.stale) {
      this.check();
    }
  }

  protected render(): React.ReactElement {
    return <PanelView model={this.model} parts={this.parts} onValidate={() => this.check()} />;
  }
}

interface PanelViewProps {
  model: PanelModel;
  parts: PanelParts;
  onValidate: () => void;
}

function PanelView({ model, parts, onValidate }: PanelViewProps): JSX.Element {
  const actions = parts.services;
  const folder = model.folder ? `/${model.folder}` : '/';
  return (
    <div className="bw-Panel-body" data-bw="panel" data-status={model.status} aria-busy={model.busy}>
      <header className="bw-Panel-header">
        <h2 className="bw-Panel-title">Bodywork</h2>
        <p className="bw-Panel-folder" data-bw="folder" title={folder}>
          <span className="bw-Panel-label">Folder</span> <code>{folder}</code>
        </p>
      </header>
      <div className="bw-Panel-toolbar">
        <button
          type="button"
          className="jp-mod-styled jp-mod-accept bw-Button"
          data-bw="validate"
          aria-label="Validate bodywork.yaml in this folder"
          aria-disabled={model.busy}
          onClick={() => {
            if (!model.busy) {
              onValidate();
            }
          }}
        >
          {model.busy ? 'Checking\u2026' : 'Validate'}
        </button>
        <GenerateButton model={parts.generate} />
        <DeployButton model={model} run={parts.run} history={parts.history} />
      </div>
      <StatusLine model={model} />
      <GitLineView model={model} />
      {model.validation && model.validation.problems.length > 0 && (
        <ProblemList problems={model.validation.problems} actions={actions} />
      )}
      <GenerateResult model={parts.generate} />
      {model.status === 'ready' && <DagSection model={model} parts={parts} />}
      <LiveRunView run={parts.run} />
      <HistoryView history={parts.history} />
    </div>
  );
}

/** The DAG; drawn again when the followed run changes too (its stages' colours). */
function DagSection({ model, parts }: { model: PanelModel; parts: PanelParts }): JSX.Element | null {
  const run = useModel(parts.run);
  if (!model.layout || !model.dag) {
    return null;
  }
  return (
    <section className="bw-Panel-section" aria-label="Pipeline DAG">
      <h3 className="bw-Panel-heading">
        {model.dag.pipeline}{' '}
        <span className="bw-Panel-muted">
          {model.layout.nodes.length} stage{model.layout.nodes.length === 1 ? '' : 's'}
        </span>
      </h3>
      <DagView
        pipeline={model.dag.pipeline}
        layout={model.layout}
        onOpen={path => parts.services.open(path, null)}
        statuses={run.stagesOf(model.dag.pipeline)}
      />
    </section>
  );
}

function StatusLine({ model }: { model: PanelModel }): JSX.Element {
  let text: string;
  let kind = 'info';
  switch (model.status) {
    case 'idle':
    case 'loading':
      text = 'Reading the folder\u2026';
      break;
    case 'none':
      text =
        'No bodywork.yaml in this folder. Tag notebooks as stages (the "Bodywork stage" ' +
        'button of a notebook\'s toolbar), then Generate writes one.';
      break;
    case 'invalid':
      kind = 'error';
      text = model.validation ? summarize(model.validation) : 'bodywork.yaml is not valid';
      break;
    case 'ready':
      kind = model.validation && model.validation.warnings ? 'warning' : 'ok';
      text = model.validation ? summarize(model.validation) : 'valid';
      break;
    case 'error':
      kind = 'error';
      text = `The bodywork API did not answer: ${model.error ?? 'unknown error'}`;
      break;
  }
  return (
    <p
      className={`bw-Panel-status bw-mod-${kind}`}
      role="status"
      aria-live="polite"
      data-bw="status"
      data-kind={kind}
    >
      {text}
    </p>
  );
}

function GitLineView({ model }: { model: PanelModel }): JSX.Element | null {
  if (model.gitError) {
    return (
      <p className="bw-Git bw-mod-error" data-bw="git">
        git: {model.gitError}
      </p>
    );
  }
  const git = model.git;
  if (!git) {
    return null;
  }
  return (
    <div
      className="bw-Git"
      data-bw="git"
      data-branch={git.branch ?? ''}
      data-commit={git.commit ?? ''}
      data-dirty={git.dirty ? 'true' : 'false'}
      aria-label="Git"
      role="group"
    >
      <p className="bw-Git-line">
        <span className="bw-Panel-label">git</span> <code>{git.text}</code>
      </p>
      {git.warning && (
        <p className="bw-Git-warning" role="note" data-bw="git-warning">
          {git.warning}
        </p>
      )}
    </div>
  );
}

function ProblemList({
  problems,
  actions
}: {
  problems: Problem[];
  actions: PanelServices;
}): JSX.Element {
  return (
    <section className="bw-Panel-section" aria-label="Problems">
      <h3 className="bw-Panel-heading">
        Problems <span className="bw-Panel-muted">{problems.length}</span>
      </h3>
      <ProblemItems
        problems={problems}
        open={(path, line) => actions.open(path, line)}
        hook="problem"
      />
    </section>
  );
}
