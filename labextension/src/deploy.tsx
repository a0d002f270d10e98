/**
 * The Deploy button (panel toolbar) and its dialog: where to (this machine, each
 * kubeconfig context), per-stage parameter overrides, max-parallel. Deploy sends only what
 * was typed; a value that does not fit its parameter's type is a message in the dialog, not
 * a request. The dialog stays open until the server took the deploy (its problems, if it
 * refused, are listed in it); then the live view follows the new run.
 */

import { Dialog, ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import {
  type BodyworkApi,
  BodyworkApiError,
  errorMessage,
  type RunDetail,
  type Target
} from './api';
import type { DagNode } from './dag';
import {
  deployRequest,
  MAX_PARALLEL_DEFAULT,
  MAX_PARALLEL_MAX,
  MAX_PARALLEL_MIN,
  maxParallel,
  orderTargets,
  overrides,
  type ParamField,
  type StageParams,
  stageParams
} from './deployform';
import type { HistoryModel } from './history';
import type { LiveRunModel } from './liverun';
import type { PanelModel } from './model';
import { formatProblem, location, type Problem, problemKey } from './problems';
import { exportToArgo, isExportTarget } from './exportargo';
import { whereOf } from './where';

export interface DeployButtonProps {
  model: PanelModel;
  run: LiveRunModel;
  history: HistoryModel;
}

export function DeployButton({ model, run, history }: DeployButtonProps): JSX.Element | null {
  const ready = model.status === 'ready' && !!model.dag;
  const [open, setOpen] = React.useState(false);
  const pipeline = model.dag?.pipeline ?? '';
  return (
    <button
      type="button"
      className="jp-mod-styled bw-Button"
      data-bw="deploy"
      aria-label={ready ? `Deploy pipeline ${pipeline}` : 'Deploy (needs a valid bodywork.yaml)'}
      title={ready ? undefined : 'Deploy needs a valid bodywork.yaml in this folder'}
      aria-disabled={!ready || open}
      onClick={() => {
        if (!ready || open || !model.dag) {
          return;
        }
        setOpen(true);
        void openDeployDialog(model, model.dag.nodes, run, history).finally(() => setOpen(false));
      }}
    >
      Deploy
    </button>
  );
}

/** The dialog's button indices: [Cancel, Deploy]. */
const DEPLOY_BUTTON = 1;

async function openDeployDialog(
  model: PanelModel,
  nodes: DagNode[],
  run: LiveRunModel,
  history: HistoryModel
): Promise<void> {
  const pipeline = model.dag?.pipeline ?? '';
  const gitWarning = model.git?.warning ?? null;
  const form = new DeployForm(
    run.services.api,
    model.folder,
    nodes,
    gitWarning,
    (detail, target) => {
      // the deploy was taken: follow its run, even when the dialog was closed meanwhile
      // where it was deployed to: the live view reads it there, the history shows it there
      const where = whereOf(target);
      run.follow(detail.id, where, { warnings: detail.warnings ?? [], detail });
      void history.showWhere(where);
    }
  );
  const dialog = new DeployDialog(form, {
    title: `Deploy ${pipeline}`,
    body: form,
    buttons: [
      Dialog.cancelButton(),
      Dialog.okButton({ label: 'Deploy', ariaLabel: `Deploy ${pipeline}` })
    ],
    defaultButton: DEPLOY_BUTTON,
    focusNodeSelector: 'select',
    hasClose: true
  });
  void form.load();
  try {
    await dialog.launch();
  } finally {
    form.dispose();
  }
  if (form.exporting) {
    await exportToArgo(run.services, model.folder, { pipeline });
  }
}

/** A Dialog whose Deploy button sends the form, and closes only once the deploy was taken. */
class DeployDialog extends Dialog<null> {
  constructor(
    private readonly form: DeployForm,
    options: Partial<Dialog.IOptions<null>>
  ) {
    super(options);
    form.dialogNode = this.node;
  }

  resolve(index?: number): void {
    const button = index ?? DEPLOY_BUTTON;
    if (button !== DEPLOY_BUTTON || this.form.deployed) {
      super.resolve(button);
      return;
    }
    void this.form.submit().then(taken => {
      if (taken) {
        super.resolve(DEPLOY_BUTTON);
      }
    });
  }
}

let forms = 0;

/** The dialog's body: the form's state, drawn by React. */
class DeployForm extends ReactWidget {
  targets: Target[] | null = null;
  targetsError: string | null = null;
  target = 0;
  stages: StageParams[] | null = null;
  stagesError: string | null = null;
  /** What was typed, by `stage.name`. */
  readonly typed: Record<string, string> = {};
  parallel = String(MAX_PARALLEL_DEFAULT);
  busy = false;
  error: string | null = null;
  problems: Problem[] = [];
  deployed: RunDetail | null = null;
  /** The Argo export was chosen: the dialog closes, then the export's dialog opens. */
  exporting = false;
  dialogNode: HTMLElement | null = null;
  readonly id_ = `bw-deploy-${++forms}`;

  constructor(
    readonly api: BodyworkApi,
    readonly folder: string,
    readonly nodes: DagNode[],
    readonly gitWarning: string | null,
    private readonly onDeployed: (detail: RunDetail, target: Target | undefined) => void
  ) {
    super();
    this.addClass('bw-DeployForm');
  }

  /** The choices: the targets, and each stage's parameters. */
  async load(): Promise<void> {
    const [targets, files] = await Promise.allSettled([
      this.api.targets(),
      this.api.stages(this.folder || '.')
    ]);
    if (this.isDisposed) {
      return;
    }
    if (targets.status === 'fulfilled') {
      this.targets = orderTargets(targets.value);
    } else {
      this.targets = [];
      this.targetsError = errorMessage(targets.reason);
    }
    if (files.status === 'fulfilled') {
      this.stages = stageParams(this.nodes, files.value);
    } else {
      this.stages = [];
      this.stagesError = errorMessage(files.reason);
    }
    this.update();
  }

  fields(): ParamField[] {
    return (this.stages ?? []).flatMap(stage => stage.fields);
  }

  /** Send the deploy; true once the server took it. */
  async submit(): Promise<boolean> {
    if (this.busy) {
      return false;
    }
    const { params, errors } = overrides(this.fields(), this.typed);
    const parallel = maxParallel(this.parallel);
    if (Object.keys(errors).length || !parallel.ok || this.targets === null) {
      this.error =
        this.targets === null
          ? 'Still reading the targets: try again in a moment'
          : 'Fix the values marked below: nothing was deployed';
      this.problems = [];
      this.update();
      this.focusFirstProblem();
      return false;
    }
    if (isExportTarget(this.targets[this.target])) {
      this.exporting = true;
      return true;
    }
    this.busy = true;
    this.error = null;
    this.problems = [];
    this.setAccepting(false);
    this.update();
    try {
      const target = this.targets[this.target];
      const request = deployRequest(this.folder, target, params, parallel.value as number);
      const detail = await this.api.deploy(request);
      this.deployed = detail;
      this.onDeployed(detail, target);
      return true;
    } catch (reason) {
      this.error =
        reason instanceof BodyworkApiError
          ? `The deploy was refused: ${reason.message}`
          : `The deploy failed: ${errorMessage(reason)}`;
      this.problems = reason instanceof BodyworkApiError ? reason.problems : [];
      return false;
    } finally {
      this.busy = false;
      if (!this.isDisposed) {
        this.setAccepting(true);
        this.update();
      }
    }
  }

  set(change: () => void): void {
    change();
    this.update();
  }

  private setAccepting(on: boolean): void {
    const button = this.dialogNode?.querySelector<HTMLButtonElement>(
      '.jp-Dialog-footer .jp-mod-accept'
    );
    if (button) {
      button.setAttribute('aria-disabled', on ? 'false' : 'true');
      const label = button.querySelector('.jp-Dialog-buttonLabel');
      if (label) {
        label.textContent = on ? 'Deploy' : 'Deploying\u2026';
      }
    }
  }

  private focusFirstProblem(): void {
    requestAnimationFrame(() => {
      this.node.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
    });
  }

  render(): JSX.Element {
    return <DeployFormView form={this} />;
  }
}

function DeployFormView({ form }: { form: DeployForm }): JSX.Element {
  const id = form.id_;
  const parallel = maxParallel(form.parallel);
  const { errors } = overrides(form.fields(), form.typed);
  return (
    <div className="bw-Deploy" data-bw="deploy-dialog" aria-busy={form.busy}>
      {form.gitWarning && (
        <p className="bw-Deploy-note" role="note">
          {form.gitWarning}
        </p>
      )}
      <div className="bw-Field">
        <label className="bw-Field-label" htmlFor={`${id}-target`}>
          Target
        </label>
        <select
          id={`${id}-target`}
          className="jp-mod-styled bw-Input"
          data-bw="deploy-target"
          value={form.target}
          onChange={event => form.set(() => (form.target = Number(event.target.value)))}
        >
          {form.targets === null && <option value={0}>reading the targets{'\u2026'}</option>}
          {(form.targets ?? []).map((target, index) => (
            <option
              key={`${target.target}:${target.context ?? ''}`}
              value={index}
              data-target={target.target}
              data-context={target.context ?? ''}
            >
              {target.label}
            </option>
          ))}
        </select>
        {form.targetsError && (
          <p className="bw-Field-error" role="alert">
            Could not read the targets: {form.targetsError}
          </p>
        )}
      </div>
      <div className="bw-Field">
        <label className="bw-Field-label" htmlFor={`${id}-parallel`}>
          Max parallel stages
        </label>
        <input
          id={`${id}-parallel`}
          className="jp-mod-styled bw-Input bw-Deploy-parallel"
          data-bw="deploy-parallel"
          type="number"
          min={MAX_PARALLEL_MIN}
          max={MAX_PARALLEL_MAX}
          step={1}
          value={form.parallel}
          aria-invalid={!parallel.ok}
          aria-describedby={!parallel.ok ? `${id}-parallel-error` : undefined}
          onChange={event => form.set(() => (form.parallel = event.target.value))}
        />
        {!parallel.ok && (
          <p id={`${id}-parallel-error`} className="bw-Field-error" role="alert">
            {parallel.error}
          </p>
        )}
      </div>
      <ParamsView form={form} errors={errors} />
      {form.error && (
        <div className="bw-Deploy-error" role="alert" data-bw="deploy-error">
          <p>{form.error}</p>
          {form.problems.length > 0 && (
            <ul className="bw-Problems" data-bw="deploy-problems">
              {form.problems.map((problem, index) => (
                <li
                  key={problemKey(problem, index)}
                  className="bw-Problem bw-Problem-text"
                  data-bw="deploy-problem"
                  data-severity={problem.severity}
                  title={formatProblem(problem)}
                >
                  <span className={`bw-Problem-severity bw-mod-${problem.severity}`}>
                    {problem.severity}
                  </span>
                  {problem.file && <span className="bw-Problem-where">{location(problem)}</span>}
                  {problem.path && <span className="bw-Problem-field">{problem.path}</span>}
                  <span className="bw-Problem-message">{problem.message}</span>
                  {problem.hint && <span className="bw-Problem-hint">{problem.hint}</span>}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {form.busy && (
        <p className="bw-Deploy-busy" role="status">
          Deploying{'\u2026'}
        </p>
      )}
    </div>
  );
}

function ParamsView({
  form,
  errors
}: {
  form: DeployForm;
  errors: Record<string, string>;
}): JSX.Element {
  if (form.stages === null) {
    return <p className="bw-Panel-muted">Reading the stages' parameters{'\u2026'}</p>;
  }
  const withParams = form.stages.filter(stage => stage.fields.length > 0);
  return (
    <div className="bw-Deploy-params" data-bw="deploy-params">
      <p className="bw-Deploy-help">
        Parameters: leave a value empty to keep the stage's own (shown greyed).
      </p>
      {form.stagesError && (
        <p className="bw-Field-error" role="alert">
          Could not read the stages' parameters: {form.stagesError}
        </p>
      )}
      {withParams.length === 0 && !form.stagesError && (
        <p className="bw-Panel-muted">No stage has a parameters cell.</p>
      )}
      {withParams.map(stage => (
        <fieldset key={stage.stage} className="bw-Deploy-stage" data-stage={stage.stage}>
          <legend>{stage.stage}</legend>
          {stage.fields.map(field => {
            const inputId = `${form.id_}-p-${field.key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
            const text = form.typed[field.key] ?? '';
            const error = errors[field.key];
            const described = [field.help ? `${inputId}-help` : '', error ? `${inputId}-error` : '']
              .filter(Boolean)
              .join(' ');
            return (
              <div key={field.key} className="bw-Field bw-Deploy-param">
                <label className="bw-Field-label" htmlFor={inputId}>
                  {field.name} <span className="bw-Panel-muted">{field.type}</span>
                </label>
                <input
                  id={inputId}
                  className={`jp-mod-styled bw-Input${error ? ' bw-mod-invalid' : ''}`}
                  data-bw="deploy-param"
                  data-stage={field.stage}
                  data-param={field.name}
                  data-type={field.type}
                  placeholder={field.placeholder}
                  value={text}
                  spellCheck={false}
                  aria-invalid={!!error}
                  aria-describedby={described || undefined}
                  onChange={event => form.set(() => (form.typed[field.key] = event.target.value))}
                />
                {field.help && (
                  <span id={`${inputId}-help`} className="bw-Field-help">
                    {field.help}
                  </span>
                )}
                {error && (
                  <p
                    id={`${inputId}-error`}
                    className="bw-Field-error"
                    role="alert"
                    data-bw="deploy-param-error"
                  >
                    {field.key}: {error}
                  </p>
                )}
              </div>
            );
          })}
        </fieldset>
      ))}
    </div>
  );
}
