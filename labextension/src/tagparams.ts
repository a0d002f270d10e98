/**
 * A notebook parameter's override as the tag form reads it: the text typed in its field,
 * typed by the parameter's type (what `GET stages/{path}` says its `parameters` cell holds).
 * Pure: no DOM, no JupyterLab.
 *
 * An int parameter takes a whole number, a float a number, a bool true or false, a str the
 * text as it is (in double quotes to keep spaces or to give an empty string), a list or dict
 * JSON; any other type (None, an expression, an annotation we do not know) takes JSON when
 * the text is JSON, else the text, as `bodywork tag --param` reads a value.
 */

import type { Parameter } from './api';

export type Typed = { ok: true; value: unknown } | { ok: false; message: string };

const INT = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** What a type annotation asks for; `other` reads JSON, else text. */
type Shape = 'int' | 'float' | 'bool' | 'str' | 'list' | 'dict' | 'other';

function shapeOf(type: string): { shape: Shape; optional: boolean } {
  let text = type.replace(/\s+/g, '');
  let optional = false;
  const wrapped = /^(?:typing\.)?Optional\[(.+)\]$/.exec(text);
  if (wrapped) {
    text = wrapped[1];
    optional = true;
  } else if (/\|None$/.test(text) || /^None\|/.test(text)) {
    text = text.replace(/\|None$/, '').replace(/^None\|/, '');
    optional = true;
  }
  const base = text.replace(/^typing\./, '').replace(/\[.*$/, '').toLowerCase();
  switch (base) {
    case 'int':
    case 'float':
    case 'bool':
    case 'str':
    case 'list':
    case 'dict':
      return { shape: base, optional };
    case 'tuple':
    case 'sequence':
      return { shape: 'list', optional };
    case 'mapping':
      return { shape: 'dict', optional };
    default:
      return { shape: 'other', optional };
  }
}

function json(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** The override ``text`` typed for a parameter of ``type``; an empty text is no override. */
export function parseParameter(text: string, type: string): Typed {
  const trimmed = text.trim();
  const { shape, optional } = shapeOf(type);
  if (optional && (trimmed === 'null' || trimmed === 'None')) {
    return { ok: true, value: null };
  }
  switch (shape) {
    case 'int':
      return INT.test(trimmed)
        ? { ok: true, value: Number(trimmed) }
        : { ok: false, message: `'${trimmed}' is not an int - write a whole number, e.g. 3` };
    case 'float':
      return NUMBER.test(trimmed)
        ? { ok: true, value: Number(trimmed) }
        : { ok: false, message: `'${trimmed}' is not a number - write one, e.g. 0.5` };
    case 'bool': {
      const lower = trimmed.toLowerCase();
      return lower === 'true' || lower === 'false'
        ? { ok: true, value: lower === 'true' }
        : { ok: false, message: `'${trimmed}' is not a bool - write true or false` };
    }
    case 'str': {
      if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) {
        const quoted = json(trimmed);
        if (quoted.ok && typeof quoted.value === 'string') {
          return { ok: true, value: quoted.value };
        }
      }
      return { ok: true, value: trimmed };
    }
    case 'list':
    case 'dict': {
      const read = json(trimmed);
      const fits =
        read.ok &&
        (shape === 'list'
          ? Array.isArray(read.value)
          : typeof read.value === 'object' && read.value !== null && !Array.isArray(read.value));
      if (read.ok && fits) {
        return { ok: true, value: read.value };
      }
      const example = shape === 'list' ? '[1, 2]' : '{"a": 1}';
      return { ok: false, message: `not a ${shape} - write it as JSON, e.g. ${example}` };
    }
    default: {
      const read = json(trimmed);
      return { ok: true, value: read.ok ? read.value : trimmed };
    }
  }
}

/** The text that shows an override ``value`` in its field (parsed back to the same value). */
export function parameterText(value: unknown, type: string): string {
  if (value === undefined) {
    return '';
  }
  if (typeof value === 'string') {
    if (!value.trim()) {
      return JSON.stringify(value); // an empty field is no override: show "" instead
    }
    const back = parseParameter(value, type);
    return back.ok && back.value === value ? value : JSON.stringify(value);
  }
  return JSON.stringify(value);
}

/** The parameter's default as the form shows it (JSON, the language of its field). */
export function describeDefault(parameter: Parameter): string {
  if (parameter.type === 'expression') {
    return 'an expression (see the notebook)';
  }
  return JSON.stringify(parameter.default) ?? String(parameter.default);
}
