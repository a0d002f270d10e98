/**
 * The deploy dialog's form as data: which parameters each stage has (its notebook's
 * `parameters` cell), what a typed override means for the parameter's type, and the
 * request it makes (POST deployments). Only values a person typed are sent. Pure: no DOM,
 * no JupyterLab.
 */

import type { DeployRequest, StageFile, Target } from './api';
import type { DagNode } from './dag';

export const MAX_PARALLEL_DEFAULT = 4;
export const MAX_PARALLEL_MIN = 1;
export const MAX_PARALLEL_MAX = 64;

/** One parameter of one stage, as the dialog shows it. */
export interface ParamField {
  /** `stage.name`: the key of DeployRequest.params. */
  key: string;
  stage: string;
  name: string;
  /** The parameter's Python type (`int`, `float`, `str`, `bool`, `list`, `dict`, an annotation). */
  type: string;
  /** What the stage uses when nothing is typed: its tag's value, else the notebook's default. */
  placeholder: string;
  help: string;
}

/** Each stage of the DAG with its parameters, in the DAG's order. */
export interface StageParams {
  stage: string;
  path: string;
  fields: ParamField[];
}

/**
 * The parameters of every stage of ``nodes``, from the folder's stage files (matched by
 * path, else by the stage name of their tag).
 */
export function stageParams(
  nodes: Pick<DagNode, 'name' | 'path'>[],
  files: StageFile[]
): StageParams[] {
  const byPath = new Map(files.map(file => [file.path, file]));
  const byStage = new Map<string, StageFile>();
  for (const file of files) {
    if (file.stage) {
      byStage.set(file.stage, file);
    }
  }
  return nodes.map(node => {
    const file = byPath.get(node.path) ?? byStage.get(node.name);
    const tagged = file?.tag?.parameters;
    const values =
      tagged && typeof tagged === 'object' && !Array.isArray(tagged)
        ? (tagged as Record<string, unknown>)
        : {};
    const fields = (file?.parameters ?? []).map(parameter => ({
      key: `${node.name}.${parameter.name}`,
      stage: node.name,
      name: parameter.name,
      type: parameter.type,
      placeholder: shown(parameter.name in values ? values[parameter.name] : parameter.default),
      help: parameter.help
    }));
    return { stage: node.name, path: node.path, fields };
  });
}

/** A default as a person would type it. */
function shown(value: unknown): string {
  if (value === undefined || value === null) {
    return value === null ? 'None' : '';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export type Typed = { ok: true; value: unknown } | { ok: false; error: string };

/** An annotation's base type: `Optional[int]` and `int | None` are `int`; `list[str]` is `list`. */
export function baseType(type: string): { base: string; optional: boolean } {
  let text = type.replace(/\s+/g, '');
  let optional = false;
  const wrapped = /^Optional\[(.*)\]$/.exec(text);
  if (wrapped) {
    text = wrapped[1];
    optional = true;
  }
  const parts = text.split('|').filter(part => part !== 'None');
  if (parts.length !== text.split('|').length) {
    optional = true;
  }
  text = parts.length === 1 ? parts[0] : parts.length === 0 ? 'None' : 'union';
  const generic = /^(\w+)\[/.exec(text);
  if (generic) {
    text = generic[1];
  }
  const base = { List: 'list', Dict: 'dict', Tuple: 'tuple', Set: 'set' }[text] ?? text;
  return { base, optional };
}

function json(text: string): Typed {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, error: '' };
  }
}

/**
 * What ``text`` typed for a parameter of ``type`` is sent as, or why it cannot be: a
 * number for int and float, true/false for bool, the text itself for str, JSON for the
 * rest (a value of a type the dialog does not know is sent as JSON when it is JSON, else
 * as text, as `bodywork deploy --param` reads it).
 */
export function typedValue(type: string, text: string): Typed {
  const raw = text.trim();
  const { base, optional } = baseType(type);
  if (optional && (raw === 'None' || raw === 'null')) {
    return { ok: true, value: null };
  }
  switch (base) {
    case 'str':
      return { ok: true, value: text };
    case 'int': {
      if (!/^[+-]?\d+$/.test(raw)) {
        return { ok: false, error: `"${text}" is not an int: write a whole number, e.g. 10` };
      }
      const value = Number(raw);
      if (!Number.isSafeInteger(value)) {
        return { ok: false, error: `${raw} is too large for an int sent as JSON` };
      }
      return { ok: true, value };
    }
    case 'float': {
      const value = Number(raw);
      if (!raw || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) || !Number.isFinite(value)) {
        return { ok: false, error: `"${text}" is not a float: write a number, e.g. 0.5` };
      }
      return { ok: true, value };
    }
    case 'bool': {
      const lower = raw.toLowerCase();
      if (lower === 'true' || lower === '1') {
        return { ok: true, value: true };
      }
      if (lower === 'false' || lower === '0') {
        return { ok: true, value: false };
      }
      return { ok: false, error: `"${text}" is not a bool: write true or false` };
    }
    case 'list':
    case 'tuple':
    case 'set': {
      const parsed = json(raw);
      if (!parsed.ok || !Array.isArray(parsed.value)) {
        return { ok: false, error: `"${text}" is not a JSON list: write e.g. [1, 2]` };
      }
      return parsed;
    }
    case 'dict': {
      const parsed = json(raw);
      if (
        !parsed.ok ||
        typeof parsed.value !== 'object' ||
        parsed.value === null ||
        Array.isArray(parsed.value)
      ) {
        return { ok: false, error: `"${text}" is not a JSON object: write e.g. {"a": 1}` };
      }
      return parsed;
    }
    default: {
      const parsed = json(raw);
      return parsed.ok ? parsed : { ok: true, value: text };
    }
  }
}

/** The overrides to send: each typed value by its `stage.name`, and each one that is wrong. */
export function overrides(
  fields: ParamField[],
  typed: Readonly<Record<string, string>>
): { params: Record<string, unknown>; errors: Record<string, string> } {
  const params: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const text = typed[field.key];
    if (text === undefined || text.trim() === '') {
      continue; // not typed: the stage keeps its own value
    }
    const value = typedValue(field.type, text);
    if (value.ok) {
      params[field.key] = value.value;
    } else {
      errors[field.key] = value.error;
    }
  }
  return { params, errors };
}

/** max-parallel as typed, or why it is not one. */
export function maxParallel(text: string): Typed {
  const raw = text.trim();
  if (!raw) {
    return { ok: true, value: MAX_PARALLEL_DEFAULT };
  }
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < MAX_PARALLEL_MIN || value > MAX_PARALLEL_MAX) {
    return {
      ok: false,
      error: `max-parallel is a whole number from ${MAX_PARALLEL_MIN} to ${MAX_PARALLEL_MAX}`
    };
  }
  return { ok: true, value };
}

/** The POST deployments body for the folder, the chosen target and the overrides. */
export function deployRequest(
  folder: string,
  target: Target | undefined,
  params: Record<string, unknown>,
  parallel: number
): DeployRequest {
  const request: DeployRequest = {
    path: folder || '.',
    target: target?.target ?? 'local',
    params,
    max_parallel: parallel
  };
  if (target?.context) {
    request.context = target.context;
  }
  if (target?.namespace) {
    request.namespace = target.namespace;
  }
  return request;
}

/** "This machine" first, then the rest in the server's order. */
export function orderTargets(targets: Target[]): Target[] {
  return [
    ...targets.filter(target => target.target === 'local'),
    ...targets.filter(target => target.target !== 'local')
  ];
}
