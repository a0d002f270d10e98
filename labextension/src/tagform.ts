/**
 * The stage tag form's state and the tag it writes. Pure: no DOM, no JupyterLab.
 *
 * The meaning is the ipywidget's (bodywork_jupyter/widgets/tagform.py) and `bodywork tag`'s
 * (cli/tagging.py build_tag): the form owns stage, kind, depends_on, the service's port and
 * replicas, requirements, resources' cpu_request, memory_request_mb and gpu, retries,
 * timeout and the overrides of the notebook's own parameters; every other field of the
 * tag (env, secrets, image, python, a retry policy's backoff, other overrides) is kept as
 * it is. Numbers are read where the text is one, else passed on as text for the server's
 * tag check to say what is wrong (its problems come back next to their fields).
 */

import type { Parameter, StageFile, StageTag } from './api';
import type { Problem } from './problems';
import { parameterText, parseParameter } from './tagparams';

export type Kind = 'batch' | 'service';

export interface TagFormState {
  stage: string;
  kind: Kind;
  dependsOn: string[];
  port: string;
  replicas: string;
  requirements: string;
  cpu: string;
  memory: string;
  gpu: string;
  retries: string;
  timeout: string;
  /** A parameter's override text by its name ('' : its default). */
  parameters: Record<string, string>;
}

/** A field of the form ('param:NAME' for a parameter); 'form' is the form as a whole. */
export type FieldKey = keyof Omit<TagFormState, 'parameters'> | `param:${string}` | 'form';

/** Messages by field. */
export type FieldMessages = Partial<Record<FieldKey, string[]>>;

/** The tag fields the form owns; the others are kept (and listed as kept). */
const OWNED = new Set([
  'stage',
  'kind',
  'depends_on',
  'service',
  'requirements',
  'resources',
  'retries',
  'timeout',
  'parameters'
]);

/** bodywork_jupyter/pipeline/tags.py: StageTag.stage. */
const STAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string {
  if (value === undefined || value === null) {
    return '';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A number where the text is one; other text is passed on for the tag check to report. */
export function numberOrText(value: string): number | string {
  const trimmed = value.trim();
  return NUMBER.test(trimmed) ? Number(trimmed) : trimmed;
}

/**
 * A valid stage name from a file's name, as the ipywidget proposes one ('Train Model.ipynb'
 * -> 'train-model'), with dots too made dashes: a stage name has none.
 */
export function defaultStageName(path: string): string {
  const file = path.split('/').pop() ?? path;
  const stem = file.replace(/\.(ipynb|py)$/i, '');
  const name = stem
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return name || 'stage';
}

/** `requirements` as the form shows it: one per line (or the requirements file's name). */
export function requirementsText(value: unknown): string {
  if (Array.isArray(value)) {
    return value.map(String).join('\n');
  }
  return text(value);
}

/**
 * `requirements` from the form: one per line (or `;`-separated, as `bodywork tag
 * --requirements` takes them); a single `.txt` or `.in` file is the requirements file.
 */
export function parseRequirements(value: string): string[] | string {
  const items = value
    .split(/[\n;]/)
    .map(item => item.trim())
    .filter(item => item);
  return items.length === 1 && /\.(txt|in)$/.test(items[0]) ? items[0] : items;
}

/** The form for a file's current tag (or for a new one: its defaults). */
export function formFromTag(
  path: string,
  tag: StageTag | null,
  parameters: Parameter[]
): TagFormState {
  const current: Json = tag ?? {};
  const service = isObject(current.service) ? current.service : {};
  const resources = isObject(current.resources) ? current.resources : {};
  const overrides = isObject(current.parameters) ? current.parameters : {};
  const retries = current.retries;
  const kind: Kind =
    current.kind === 'service' || current.kind === 'batch'
      ? current.kind
      : 'service' in current
        ? 'service'
        : 'batch';
  const params: Record<string, string> = {};
  for (const parameter of parameters) {
    params[parameter.name] =
      parameter.name in overrides ? parameterText(overrides[parameter.name], parameter.type) : '';
  }
  return {
    stage:
      typeof current.stage === 'string' && current.stage ? current.stage : defaultStageName(path),
    kind,
    dependsOn: Array.isArray(current.depends_on) ? current.depends_on.map(String) : [],
    port: text(service.port),
    replicas: text(service.replicas),
    requirements: requirementsText(current.requirements),
    cpu: text(resources.cpu_request),
    memory: text(resources.memory_request_mb),
    gpu: text(resources.gpu),
    // a retry policy shows its count; its backoff is kept (see tagFromForm)
    retries: isObject(retries) ? text(retries.count) : text(retries),
    timeout: text(current.timeout),
    parameters: params
  };
}

/** The other tagged stages of the folder, to depend on (the file itself left out). */
export function otherStages(path: string, files: StageFile[]): { stage: string; path: string }[] {
  return files
    .filter(file => file.path !== path && typeof file.stage === 'string' && file.stage)
    .map(file => ({ stage: file.stage as string, path: file.path }));
}

/**
 * The names offered to depend on: the other stages, then any the tag names that is not
 * among them (so a save keeps it rather than dropping it unseen).
 */
export function dependencyChoices(others: { stage: string }[], dependsOn: string[]): string[] {
  const names = others.map(other => other.stage);
  return [...names, ...dependsOn.filter(name => !names.includes(name))];
}

/** Tag fields the form does not show: kept as they are. */
export function keptFields(tag: StageTag | null): string[] {
  return tag ? Object.keys(tag).filter(key => !OWNED.has(key)) : [];
}

export type TagResult = { ok: true; tag: StageTag } | { ok: false; messages: FieldMessages };

function add(messages: FieldMessages, key: FieldKey, message: string): void {
  (messages[key] ??= []).push(message);
}

/**
 * The tag Save writes: ``current`` with every field the form owns replaced by the form's
 * value. Refused (with messages by field) when the stage has no valid name, takes the
 * name of another stage, or a parameter's override does not fit its type; every other
 * check is the server's.
 */
export function tagFromForm(
  form: TagFormState,
  current: StageTag | null,
  parameters: Parameter[],
  others: { stage: string; path: string }[] = []
): TagResult {
  const messages: FieldMessages = {};
  const stage = form.stage.trim();
  if (!stage) {
    add(messages, 'stage', 'give the stage a name, e.g. train');
  } else if (!STAGE_NAME.test(stage)) {
    add(
      messages,
      'stage',
      `'${stage}' is not a stage name - use letters, digits, - and _, ` +
        'starting with a letter or digit (e.g. train-model)'
    );
  } else {
    const taken = others.find(other => other.stage === stage);
    if (taken) {
      add(
        messages,
        'stage',
        `'${stage}' is already the stage of ${taken.path} - give each stage its own name`
      );
    }
  }

  const tag: Json = { ...(current ?? {}) };
  tag.stage = stage;
  tag.kind = form.kind;

  const service: Json = isObject(tag.service) ? { ...tag.service } : {};
  delete service.port;
  delete service.replicas;
  delete tag.service;
  if (form.kind === 'service') {
    if (form.port.trim()) {
      service.port = numberOrText(form.port);
    }
    if (form.replicas.trim()) {
      service.replicas = numberOrText(form.replicas);
    }
    if (Object.keys(service).length) {
      tag.service = service;
    }
  }

  const choices = dependencyChoices(others, form.dependsOn);
  const dependsOn = choices.filter(name => form.dependsOn.includes(name));
  if (dependsOn.length) {
    tag.depends_on = dependsOn;
  } else {
    delete tag.depends_on;
  }

  const requirements = parseRequirements(form.requirements);
  if (requirements.length) {
    tag.requirements = requirements;
  } else {
    delete tag.requirements;
  }

  const resources: Json = isObject(tag.resources) ? { ...tag.resources } : {};
  for (const [key, value] of [
    ['cpu_request', form.cpu],
    ['memory_request_mb', form.memory],
    ['gpu', form.gpu]
  ] as const) {
    if (value.trim()) {
      resources[key] = numberOrText(value);
    } else {
      delete resources[key];
    }
  }
  if (Object.keys(resources).length) {
    tag.resources = resources;
  } else {
    delete tag.resources;
  }

  if (form.retries.trim()) {
    const count = numberOrText(form.retries);
    const policy = tag.retries;
    tag.retries = isObject(policy) && typeof count === 'number' ? { ...policy, count } : count;
  } else {
    delete tag.retries;
  }

  if (form.timeout.trim()) {
    tag.timeout = numberOrText(form.timeout);
  } else {
    delete tag.timeout;
  }

  const known = new Set(parameters.map(parameter => parameter.name));
  const overrides: Json = {};
  if (isObject(tag.parameters)) {
    for (const [name, value] of Object.entries(tag.parameters)) {
      if (!known.has(name)) {
        overrides[name] = value;
      }
    }
  }
  for (const parameter of parameters) {
    const typed = (form.parameters[parameter.name] ?? '').trim();
    if (!typed) {
      continue;
    }
    const read = parseParameter(typed, parameter.type);
    if (read.ok) {
      overrides[parameter.name] = read.value;
    } else {
      add(messages, `param:${parameter.name}`, read.message);
    }
  }
  if (Object.keys(overrides).length) {
    tag.parameters = overrides;
  } else {
    delete tag.parameters;
  }

  if (Object.keys(messages).length) {
    return { ok: false, messages };
  }
  return { ok: true, tag: tag as StageTag };
}

/** The field a problem of the server's tag check is about ('form' when none of them). */
export function fieldOfProblem(problem: Problem, parameters: string[]): FieldKey {
  const path = problem.path.replace(/^(metadata\.bodywork|# \/\/\/ bodywork)\.?/, '');
  const [head, ...rest] = path.split('.');
  const name = head.replace(/\[.*$/, '');
  const next = (rest[0] ?? '').replace(/\[.*$/, '');
  switch (name) {
    case 'stage':
      return 'stage';
    case 'kind':
      return 'kind';
    case 'depends_on':
      return 'dependsOn';
    case 'requirements':
      return 'requirements';
    case 'retries':
      return 'retries';
    case 'timeout':
      return 'timeout';
    case 'service':
      return next === 'port' ? 'port' : next === 'replicas' ? 'replicas' : 'kind';
    case 'resources':
      return next === 'cpu_request'
        ? 'cpu'
        : next === 'memory_request_mb'
          ? 'memory'
          : next === 'gpu'
            ? 'gpu'
            : 'form';
    case 'parameters':
      return parameters.includes(rest.join('.')) ? `param:${rest.join('.')}` : 'form';
    default:
      return 'form';
  }
}

/** A problem as the form shows it next to its field: what is wrong - how to fix it. */
export function problemText(problem: Problem): string {
  const general = /^(change the value|see the OpenAPI document.*)$/.test(problem.hint);
  return problem.hint && !general ? `${problem.message} - ${problem.hint}` : problem.message;
}

/** The server's problems by field. */
export function messagesOf(problems: Problem[], parameters: string[]): FieldMessages {
  const messages: FieldMessages = {};
  for (const problem of problems) {
    const key = fieldOfProblem(problem, parameters);
    const where = key === 'form' && problem.path ? `${problem.path}: ` : '';
    add(messages, key, where + problemText(problem));
  }
  return messages;
}
