/**
 * The stage tag form: a JupyterLab Dialog with a React body (Escape closes it, focus stays
 * inside). Save and "Remove tag" keep the dialog open until the server has written the
 * tag: what it refuses comes back as problems shown next to their fields, and nothing is
 * written then. The form's meaning is tagform.ts's (the ipywidget's and `bodywork tag`'s).
 */

import { Dialog, Notification, showErrorMessage } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { ReactWidget, VDomModel } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  type BodyworkApi,
  BodyworkApiError,
  errorMessage,
  type Parameter,
  type StageFile,
  type StageTag
} from './api';
import {
  dependencyChoices,
  type FieldKey,
  type FieldMessages,
  formFromTag,
  keptFields,
  type Kind,
  messagesOf,
  otherStages,
  tagFromForm,
  type TagFormState
} from './tagform';
import { describeDefault } from './tagparams';
import { useModel } from './usemodel';

/** What the form needs from its plugin: the API, and what to do once the file changed. */
export interface TagFormDeps {
  api: BodyworkApi;
  /** The file's tag is now ``tag`` on disk (null: removed): bring open views up to date. */
  afterChange(path: string, tag: StageTag | null): Promise<void>;
}

let dialogs = 0;

/** What the form shows besides its fields: messages, and whether a request is under way. */
class TagFormModel extends VDomModel {
  form: TagFormState;
  messages: FieldMessages;
  status = '';
  busy = false;
  /** Counts refused saves: the view moves the focus to the first field with a message. */
  refusals = 0;
  readonly others: { stage: string; path: string }[];
  readonly ids: string;

  constructor(
    readonly path: string,
    readonly file: StageFile,
    folderFiles: StageFile[]
  ) {
    super();
    this.ids = `bw-tag-${++dialogs}`;
    this.others = otherStages(path, folderFiles);
    this.form = formFromTag(path, file.tag, file.parameters);
    // a tag that is already wrong on disk: say so where it is wrong
    this.messages = messagesOf(file.problems, this.parameterNames);
  }

  get parameters(): Parameter[] {
    return this.file.parameters;
  }

  get parameterNames(): string[] {
    return this.file.parameters.map(parameter => parameter.name);
  }

  id(field: string): string {
    return `${this.ids}-${field.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  }

  /** The user changed ``key``: its messages are answered (or will be, on the next save). */
  edited(key: FieldKey, form: TagFormState): void {
    this.form = form;
    if (this.messages[key]) {
      const rest = { ...this.messages };
      delete rest[key];
      this.messages = rest;
      this.stateChanged.emit(void 0);
    }
  }

  refuse(messages: FieldMessages, status: string): void {
    this.messages = messages;
    this.status = status;
    this.busy = false;
    this.refusals += 1;
    this.stateChanged.emit(void 0);
  }

  working(status: string): void {
    this.busy = true;
    this.status = status;
    this.stateChanged.emit(void 0);
  }
}

class TagFormBody extends ReactWidget {
  constructor(readonly model: TagFormModel) {
    super();
    this.addClass('bw-TagDialog-body');
  }

  protected render(): React.ReactElement {
    return <TagFormView model={this.model} />;
  }
}

type Action = 'cancel' | 'remove' | 'save';

/**
 * A Dialog whose Save and Remove wait for the server: ``resolve`` (every button, Enter)
 * closes the dialog only once ``act`` says the file was written.
 */
class TagDialog extends Dialog<void> {
  private pending = false;

  constructor(
    options: Partial<Dialog.IOptions<void>>,
    private readonly actions: Action[],
    private readonly defaultIndex: number,
    private readonly act: (action: Action) => Promise<boolean>
  ) {
    super(options);
  }

  resolve(index?: number): void {
    const at = index ?? this.defaultIndex;
    const action = this.actions[at];
    if (action === 'cancel' || action === undefined) {
      super.resolve(at);
      return;
    }
    if (this.pending) {
      return;
    }
    this.pending = true;
    void this.act(action).then(done => {
      this.pending = false;
      if (done) {
        super.resolve(at);
      }
    });
  }
}

/** Read the file's tag, parameters and the folder's other stages, then show the form. */
export async function openTagForm(path: string, deps: TagFormDeps): Promise<void> {
  const folder = PathExt.dirname(path) || '.';
  let file: StageFile;
  let folderFiles: StageFile[];
  try {
    [file, folderFiles] = await Promise.all([deps.api.stage(path), deps.api.stages(folder, true)]);
  } catch (reason) {
    await showErrorMessage(`Could not read the stage tag of ${path}`, errorMessage(reason));
    return;
  }
  const model = new TagFormModel(path, file, folderFiles);
  const actions: Action[] = file.tag ? ['cancel', 'remove', 'save'] : ['cancel', 'save'];
  const buttons = actions.map(action =>
    action === 'cancel'
      ? Dialog.cancelButton()
      : action === 'remove'
        ? Dialog.warnButton({
            label: 'Remove tag',
            ariaLabel: `Remove the stage tag of ${PathExt.basename(path)}`
          })
        : Dialog.okButton({ label: 'Save', ariaLabel: 'Save the stage tag' })
  );
  const defaultIndex = actions.indexOf('save');
  const dialog = new TagDialog(
    {
      title: `Bodywork stage: ${PathExt.basename(path)}`,
      body: new TagFormBody(model),
      buttons,
      defaultButton: defaultIndex,
      focusNodeSelector: `#${model.id('stage')}`,
      hasClose: true
    },
    actions,
    defaultIndex,
    action => (action === 'remove' ? remove(model, deps) : save(model, deps))
  );
  dialog.addClass('bw-TagDialog');
  dialog.node.dataset.bw = 'tag-dialog';
  dialog.node.setAttribute('aria-label', `Bodywork stage of ${PathExt.basename(path)}`);
  await dialog.launch();
  model.dispose();
}

async function save(model: TagFormModel, deps: TagFormDeps): Promise<boolean> {
  const built = tagFromForm(model.form, model.file.tag, model.parameters, model.others);
  if (!built.ok) {
    model.refuse(built.messages, 'Not saved: fix the fields marked below.');
    return false;
  }
  model.working('Saving\u2026');
  let written: StageFile;
  try {
    written = await deps.api.setTag(model.path, built.tag);
  } catch (reason) {
    const problems = reason instanceof BodyworkApiError ? reason.problems : [];
    model.refuse(
      problems.length
        ? messagesOf(problems, model.parameterNames)
        : { form: [errorMessage(reason)] },
      'Not saved: nothing was written. Fix the fields marked below.'
    );
    return false;
  }
  await deps.afterChange(model.path, written.tag);
  const tag = written.tag ?? built.tag;
  const after = tag.depends_on?.length ? `, after ${tag.depends_on.join(', ')}` : '';
  const state = written.changed === false ? 'already tagged' : 'tagged';
  Notification.success(
    `${PathExt.basename(model.path)}: ${state} as stage '${tag.stage}' ` +
      `(${tag.kind ?? 'batch'}${after})`,
    { autoClose: 5000 }
  );
  return true;
}

async function remove(model: TagFormModel, deps: TagFormDeps): Promise<boolean> {
  model.working('Removing the tag\u2026');
  try {
    await deps.api.removeTag(model.path);
  } catch (reason) {
    model.refuse({ form: [errorMessage(reason)] }, 'The tag was not removed.');
    return false;
  }
  await deps.afterChange(model.path, null);
  Notification.success(`${PathExt.basename(model.path)}: stage tag removed`, { autoClose: 5000 });
  return true;
}

// -- the view ------------------------------------------------------------------------

function TagFormView({ model }: { model: TagFormModel }): JSX.Element {
  useModel(model);
  const [form, setForm] = React.useState<TagFormState>(model.form);
  const formRef = React.useRef<HTMLFormElement>(null);
  const change = (key: FieldKey, next: TagFormState) => {
    setForm(next);
    model.edited(key, next);
  };
  const set =
    (key: Exclude<keyof TagFormState, 'parameters' | 'dependsOn' | 'kind'>) =>
    (event: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) =>
      change(key, { ...form, [key]: event.target.value });

  React.useEffect(() => {
    // a refused save: the first field with a message takes the focus
    if (model.refusals === 0) {
      return;
    }
    const first =
      formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]') ??
      formRef.current?.querySelector<HTMLElement>('[data-bw=tag-messages]');
    first?.focus();
    // its message is under it: in view too
    first?.parentElement?.scrollIntoView({ block: 'nearest' });
  }, [model.refusals]);

  const messages = model.messages;
  const choices = dependencyChoices(model.others, form.dependsOn);
  const kept = keptFields(model.file.tag);
  const owner = new Map(model.others.map(other => [other.stage, other.path]));
  const field = (key: FieldKey) => ({
    field: key,
    id: model.id(key),
    messages: messages[key] ?? [],
    messageId: model.id(`${key}-message`)
  });

  return (
    <form
      ref={formRef}
      className="bw-TagForm"
      data-bw="tag-form"
      aria-busy={model.busy}
      onSubmit={event => event.preventDefault()}
    >
      <p className="bw-TagForm-file">
        <span className="bw-TagForm-muted">File</span> <code>{model.path}</code>
        {model.file.tag ? '' : ' (not a stage yet)'}
      </p>
      {messages.form && messages.form.length > 0 && (
        <div className="bw-TagForm-alert" role="alert" tabIndex={-1} data-bw="tag-messages">
          {messages.form.map((message, index) => (
            <p key={index} data-bw="tag-problem" data-field="form">
              {message}
            </p>
          ))}
        </div>
      )}

      <TextField
        label="Stage name"
        {...field('stage')}
        value={form.stage}
        onChange={set('stage')}
        hint="Letters, digits, - and _ (its name in bodywork.yaml)."
        bw="tag-stage"
      />

      <fieldset
        className="bw-TagForm-group"
        data-bw="tag-kind"
        aria-describedby={field('kind').messageId}
      >
        <legend>Kind</legend>
        {(['batch', 'service'] as Kind[]).map(kind => (
          <span key={kind} className="bw-TagForm-choice">
            <input
              type="radio"
              id={model.id(`kind-${kind}`)}
              name={model.id('kind')}
              value={kind}
              checked={form.kind === kind}
              data-bw={`tag-kind-${kind}`}
              onChange={() => change('kind', { ...form, kind })}
            />
            <label htmlFor={model.id(`kind-${kind}`)}>
              {kind === 'batch' ? 'batch (runs to completion)' : 'service (serves HTTP)'}
            </label>
          </span>
        ))}
        <FieldMessages {...field('kind')} />
      </fieldset>

      {form.kind === 'service' && (
        <div className="bw-TagForm-pair">
          <TextField
            label="Service port"
            {...field('port')}
            value={form.port}
            onChange={set('port')}
            placeholder="8000"
            inputMode="numeric"
            bw="tag-port"
          />
          <TextField
            label="Replicas"
            {...field('replicas')}
            value={form.replicas}
            onChange={set('replicas')}
            placeholder="1"
            inputMode="numeric"
            bw="tag-replicas"
          />
        </div>
      )}

      <fieldset
        className="bw-TagForm-group"
        data-bw="tag-depends"
        aria-describedby={field('dependsOn').messageId}
      >
        <legend>Depends on</legend>
        {choices.length === 0 && (
          <p className="bw-TagForm-muted">No other tagged stages in this folder.</p>
        )}
        {choices.map(name => {
          const id = model.id(`dep-${name}`);
          const path = owner.get(name);
          return (
            <span key={name} className="bw-TagForm-choice">
              <input
                type="checkbox"
                className="jp-mod-styled"
                id={id}
                value={name}
                data-bw="tag-depends-on"
                data-stage={name}
                checked={form.dependsOn.includes(name)}
                onChange={event => {
                  const dependsOn = event.target.checked
                    ? [...form.dependsOn, name]
                    : form.dependsOn.filter(other => other !== name);
                  change('dependsOn', { ...form, dependsOn });
                }}
              />
              <label htmlFor={id}>
                {name}{' '}
                <span className="bw-TagForm-muted">
                  {path ? `(${PathExt.basename(path)})` : '(no tagged file has this name)'}
                </span>
              </label>
            </span>
          );
        })}
        <FieldMessages {...field('dependsOn')} />
      </fieldset>

      <div className="bw-TagForm-field">
        <label htmlFor={field('requirements').id}>Requirements</label>
        <textarea
          id={field('requirements').id}
          className="jp-mod-styled bw-TagForm-textarea"
          rows={3}
          value={form.requirements}
          data-bw="tag-requirements"
          placeholder="requirements.txt, or one package per line"
          aria-invalid={field('requirements').messages.length > 0}
          aria-describedby={`${field('requirements').messageId} ${model.id('requirements-hint')}`}
          onChange={set('requirements')}
        />
        <p className="bw-TagForm-hint" id={model.id('requirements-hint')}>
          A requirements file (its name), or one requirement per line.
        </p>
        <FieldMessages {...field('requirements')} />
      </div>

      <fieldset className="bw-TagForm-group">
        <legend>Resources (requests)</legend>
        <div className="bw-TagForm-pair">
          <TextField
            label="CPU (cores)"
            {...field('cpu')}
            value={form.cpu}
            onChange={set('cpu')}
            placeholder="e.g. 0.5"
            inputMode="decimal"
            bw="tag-cpu"
          />
          <TextField
            label="Memory (MB)"
            {...field('memory')}
            value={form.memory}
            onChange={set('memory')}
            placeholder="e.g. 512"
            inputMode="numeric"
            bw="tag-memory"
          />
          <TextField
            label="GPUs"
            {...field('gpu')}
            value={form.gpu}
            onChange={set('gpu')}
            placeholder="0"
            inputMode="numeric"
            bw="tag-gpu"
          />
        </div>
      </fieldset>

      <div className="bw-TagForm-pair">
        <TextField
          label="Retries"
          {...field('retries')}
          value={form.retries}
          onChange={set('retries')}
          placeholder="0"
          inputMode="numeric"
          hint={
            typeof model.file.tag?.retries === 'object'
              ? 'The count of its retry policy (its backoff is kept).'
              : 'Attempts after a failed one (batch).'
          }
          bw="tag-retries"
        />
        <TextField
          label="Timeout"
          {...field('timeout')}
          value={form.timeout}
          onChange={set('timeout')}
          placeholder="e.g. 600 or 10m"
          hint="Seconds, or 90s, 10m, 1h30m."
          bw="tag-timeout"
        />
      </div>

      <ParameterFields model={model} form={form} change={change} />

      {kept.length > 0 && (
        <p className="bw-TagForm-hint" data-bw="tag-kept">
          Also in the tag, kept as they are: {kept.join(', ')}.
        </p>
      )}
      <p className="bw-TagForm-status" role="status" aria-live="polite" data-bw="tag-status">
        {model.status}
      </p>
    </form>
  );
}

function ParameterFields({
  model,
  form,
  change
}: {
  model: TagFormModel;
  form: TagFormState;
  change: (key: FieldKey, next: TagFormState) => void;
}): JSX.Element {
  const parameters = model.parameters;
  return (
    <fieldset className="bw-TagForm-group" data-bw="tag-parameters">
      <legend>Parameters</legend>
      {parameters.length === 0 ? (
        <p className="bw-TagForm-muted">
          {model.file.type === 'notebook'
            ? 'No parameters cell in this notebook (a code cell tagged "parameters").'
            : 'A module takes args, not parameters.'}
        </p>
      ) : (
        <>
          <p className="bw-TagForm-hint">
            From the notebook&apos;s parameters cell. A value here overrides the default for this
            stage; leave it empty to keep the default.
          </p>
          {parameters.map(parameter => {
            const key: FieldKey = `param:${parameter.name}`;
            const id = model.id(key);
            const messages = model.messages[key] ?? [];
            const messageId = model.id(`${key}-message`);
            const hintId = model.id(`${key}-hint`);
            const shown = describeDefault(parameter);
            return (
              <div
                key={parameter.name}
                className="bw-TagForm-param"
                data-bw="tag-param"
                data-name={parameter.name}
              >
                <label htmlFor={id}>
                  <code>{parameter.name}</code>{' '}
                  <span className="bw-TagForm-muted">{parameter.type}</span>
                </label>
                <input
                  type="text"
                  id={id}
                  className="jp-mod-styled"
                  value={form.parameters[parameter.name] ?? ''}
                  placeholder={`default: ${shown}`}
                  aria-invalid={messages.length > 0}
                  aria-describedby={`${messageId} ${hintId}`}
                  data-bw="tag-param-input"
                  onChange={event =>
                    change(key, {
                      ...form,
                      parameters: { ...form.parameters, [parameter.name]: event.target.value }
                    })
                  }
                />
                <p className="bw-TagForm-hint" id={hintId} data-bw="tag-param-default">
                  default <code>{shown}</code>
                  {parameter.help ? ` \u2014 ${parameter.help}` : ''}
                </p>
                <FieldMessages field={key} messages={messages} messageId={messageId} />
              </div>
            );
          })}
        </>
      )}
    </fieldset>
  );
}

interface TextFieldProps {
  label: string;
  field: FieldKey;
  id: string;
  messageId: string;
  messages: string[];
  value: string;
  onChange: (event: React.ChangeEvent<HTMLInputElement>) => void;
  placeholder?: string;
  hint?: string;
  inputMode?: 'numeric' | 'decimal';
  bw: string;
}

function TextField(props: TextFieldProps): JSX.Element {
  const hintId = `${props.id}-hint`;
  const describedBy = [props.messageId, props.hint ? hintId : ''].filter(Boolean).join(' ');
  return (
    <div className="bw-TagForm-field">
      <label htmlFor={props.id}>{props.label}</label>
      <input
        type="text"
        id={props.id}
        className="jp-mod-styled"
        value={props.value}
        placeholder={props.placeholder}
        inputMode={props.inputMode}
        aria-invalid={props.messages.length > 0}
        aria-describedby={describedBy}
        data-bw={props.bw}
        onChange={props.onChange}
      />
      {props.hint && (
        <p className="bw-TagForm-hint" id={hintId}>
          {props.hint}
        </p>
      )}
      <FieldMessages field={props.field} messages={props.messages} messageId={props.messageId} />
    </div>
  );
}

/** A field's messages; always there (empty when fine), as aria-describedby points at it. */
function FieldMessages({
  field,
  messages,
  messageId
}: {
  field: FieldKey;
  messages: string[];
  messageId: string;
}): JSX.Element {
  return (
    <div id={messageId} className="bw-TagForm-messages">
      {messages.map((message, index) => (
        <p key={index} className="bw-TagForm-problem" data-bw="tag-problem" data-field={field}>
          {message}
        </p>
      ))}
    </div>
  );
}
