/**
 * "Export to Argo" (the deploy dialog's `argo` target): a dialog for the kind, namespace and
 * image; Export sends `POST pipeline/export` with write (bodywork export argo -o FILE),
 * then opens the written YAML in JupyterLab's editor and says what to run next. A refused
 * export (the commit is not on a remote, a check failed) keeps the dialog open with the
 * server's message and problems, as the deploy dialog does.
 */

import { Dialog, Notification, ReactWidget } from '@jupyterlab/apputils';
import * as React from 'react';

import { BodyworkApiError, errorMessage } from './api';
import type { PanelServices } from './context';
import {
  ARGO_KINDS,
  type ArgoKind,
  exportRequest,
  type ExportResult,
  exportSummary,
  fieldErrors,
  nextStep
} from './exportform';
import { formatProblem, location, type Problem, problemKey } from './problems';

export { isExportTarget } from './exportform';

export interface ExportOptions {
  /** The pipeline's name, for the title (the panel's DAG knows it). */
  pipeline?: string;
  /** The kind chosen first (default: workflow). */
  kind?: ArgoKind;
}

/** The dialog's button indices: [Cancel, Export]. */
const EXPORT_BUTTON = 1;

/**
 * Ask how to export the pipeline of ``folder`` (relative to the root), write it and open
 * it. Resolves with the export once written, null when cancelled.
 */
export async function exportToArgo(
  services: PanelServices,
  folder: string,
  options: ExportOptions = {}
): Promise<ExportResult | null> {
  const form = new ExportForm(services, folder, options.kind ?? 'workflow');
  const what = options.pipeline ? ` ${options.pipeline}` : '';
  const dialog = new ExportDialog(form, {
    title: `Export${what} to Argo Workflows`,
    body: form,
    buttons: [
      Dialog.cancelButton(),
      Dialog.okButton({ label: 'Export', ariaLabel: `Export${what} to Argo Workflows` })
    ],
    defaultButton: EXPORT_BUTTON,
    focusNodeSelector: 'select',
    hasClose: true
  });
  try {
    await dialog.launch();
  } finally {
    form.dispose();
  }
  const result = form.result;
  if (result?.path) {
    services.open(result.path, null);
    Notification.success(`${exportSummary(result)}. ${nextStep(result, form.namespace)}`, {
      autoClose: 8000
    });
    for (const warning of result.warnings) {
      Notification.warning(`Argo export: ${warning}`, { autoClose: false });
    }
  }
  return result;
}

/** A Dialog whose Export button sends the form, and closes only once the file is written. */
class ExportDialog extends Dialog<null> {
  constructor(
    private readonly form: ExportForm,
    options: Partial<Dialog.IOptions<null>>
  ) {
    super(options);
    form.dialogNode = this.node;
  }

  resolve(index?: number): void {
    const button = index ?? EXPORT_BUTTON;
    if (button !== EXPORT_BUTTON || this.form.result) {
      super.resolve(button);
      return;
    }
    void this.form.submit().then(done => {
      if (done) {
        super.resolve(EXPORT_BUTTON);
      }
    });
  }
}

let forms = 0;

/** The dialog's body: the form's state, drawn by React. */
class ExportForm extends ReactWidget {
  namespace = '';
  image = '';
  busy = false;
  error: string | null = null;
  problems: Problem[] = [];
  result: ExportResult | null = null;
  dialogNode: HTMLElement | null = null;
  readonly id_ = `bw-export-${++forms}`;

  constructor(
    readonly services: PanelServices,
    readonly folder: string,
    public kind: ArgoKind
  ) {
    super();
    this.addClass('bw-ExportForm');
  }

  /** Send the export; true once the file was written. */
  async submit(): Promise<boolean> {
    if (this.busy) {
      return false;
    }
    const fields = { kind: this.kind, namespace: this.namespace, image: this.image };
    if (Object.keys(fieldErrors(fields)).length) {
      this.error = 'Fix the values marked below: nothing was exported';
      this.problems = [];
      this.update();
      requestAnimationFrame(() => {
        this.node.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      });
      return false;
    }
    this.busy = true;
    this.error = null;
    this.problems = [];
    this.setAccepting(false);
    this.update();
    try {
      this.result = await this.services.api.request<ExportResult>(
        'POST',
        'pipeline/export',
        {},
        exportRequest(this.folder, fields)
      );
      return true;
    } catch (reason) {
      this.error =
        reason instanceof BodyworkApiError
          ? `The export was refused: ${reason.message}`
          : `The export failed: ${errorMessage(reason)}`;
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
        label.textContent = on ? 'Export' : 'Exporting\u2026';
      }
    }
  }

  render(): JSX.Element {
    return <ExportFormView form={this} />;
  }
}

function ExportFormView({ form }: { form: ExportForm }): JSX.Element {
  const id = form.id_;
  const errors = fieldErrors({ kind: form.kind, namespace: form.namespace, image: form.image });
  return (
    <div className="bw-Deploy" data-bw="export-dialog" aria-busy={form.busy}>
      <p className="bw-Deploy-help">
        Writes the pipeline as Argo Workflows YAML into the project folder (bodywork export
        argo). Every stage fetches its code from git at this folder's commit, so that commit
        must be on its git remote.
      </p>
      <div className="bw-Field">
        <label className="bw-Field-label" htmlFor={`${id}-kind`}>
          Kind
        </label>
        <select
          id={`${id}-kind`}
          className="jp-mod-styled bw-Input"
          data-bw="export-kind"
          value={form.kind}
          onChange={event => form.set(() => (form.kind = event.target.value as ArgoKind))}
        >
          {ARGO_KINDS.map(({ kind, label }) => (
            <option key={kind} value={kind}>
              {label}
            </option>
          ))}
        </select>
      </div>
      <TextField
        form={form}
        name="namespace"
        label="Namespace"
        placeholder="the pipeline's namespace, else its name"
        error={errors.namespace}
      />
      <TextField
        form={form}
        name="image"
        label="Stage image"
        placeholder="the default image (a stage's own wins)"
        error={errors.image}
      />
      {form.error && (
        <div className="bw-Deploy-error" role="alert" data-bw="export-error">
          <p>{form.error}</p>
          {form.problems.length > 0 && (
            <ul className="bw-Problems" data-bw="export-problems">
              {form.problems.map((problem, index) => (
                <li
                  key={problemKey(problem, index)}
                  className="bw-Problem bw-Problem-text"
                  data-bw="export-problem"
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
          Exporting{'\u2026'}
        </p>
      )}
    </div>
  );
}

function TextField({
  form,
  name,
  label,
  placeholder,
  error
}: {
  form: ExportForm;
  name: 'namespace' | 'image';
  label: string;
  placeholder: string;
  error: string | undefined;
}): JSX.Element {
  const inputId = `${form.id_}-${name}`;
  return (
    <div className="bw-Field">
      <label className="bw-Field-label" htmlFor={inputId}>
        {label}
      </label>
      <input
        id={inputId}
        className="jp-mod-styled bw-Input"
        data-bw={`export-${name}`}
        type="text"
        spellCheck={false}
        placeholder={placeholder}
        value={form[name]}
        aria-invalid={!!error}
        aria-describedby={error ? `${inputId}-error` : undefined}
        onChange={event => form.set(() => (form[name] = event.target.value))}
      />
      {error && (
        <p id={`${inputId}-error`} className="bw-Field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
