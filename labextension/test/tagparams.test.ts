import assert from 'node:assert/strict';
import { test } from 'node:test';

import { describeDefault, parameterText, parseParameter } from '../src/tagparams';

test('an override is typed by its parameter type', () => {
  assert.deepEqual(parseParameter('50', 'int'), { ok: true, value: 50 });
  assert.deepEqual(parseParameter(' -3 ', 'int'), { ok: true, value: -3 });
  assert.deepEqual(parseParameter('0.25', 'float'), { ok: true, value: 0.25 });
  assert.deepEqual(parseParameter('2', 'float'), { ok: true, value: 2 });
  assert.deepEqual(parseParameter('1e-3', 'float'), { ok: true, value: 0.001 });
  assert.deepEqual(parseParameter('True', 'bool'), { ok: true, value: true });
  assert.deepEqual(parseParameter('false', 'bool'), { ok: true, value: false });
  // a str parameter keeps digits as text: "5" is not 5
  assert.deepEqual(parseParameter('5', 'str'), { ok: true, value: '5' });
  assert.deepEqual(parseParameter('data/iris.csv', 'str'), { ok: true, value: 'data/iris.csv' });
  assert.deepEqual(parseParameter('""', 'str'), { ok: true, value: '' });
  assert.deepEqual(parseParameter('" padded "', 'str'), { ok: true, value: ' padded ' });
  assert.deepEqual(parseParameter('[1, 2]', 'list'), { ok: true, value: [1, 2] });
  assert.deepEqual(parseParameter('[1]', 'List[int]'), { ok: true, value: [1] });
  assert.deepEqual(parseParameter('{"a": 1}', 'dict'), { ok: true, value: { a: 1 } });
});

test('a value that does not fit its type is refused with what to write', () => {
  const int = parseParameter('1.5', 'int');
  assert.equal(int.ok, false);
  assert.match(!int.ok ? int.message : '', /not an int - write a whole number/);
  assert.equal(parseParameter('many', 'float').ok, false);
  assert.equal(parseParameter('yes', 'bool').ok, false);
  assert.equal(parseParameter('1, 2', 'list').ok, false);
  assert.equal(parseParameter('[1]', 'dict').ok, false);
});

test('optional and unknown types: null, JSON, else the text', () => {
  assert.deepEqual(parseParameter('None', 'Optional[int]'), { ok: true, value: null });
  assert.deepEqual(parseParameter('7', 'int | None'), { ok: true, value: 7 });
  assert.equal(parseParameter('x', 'int | None').ok, false);
  assert.deepEqual(parseParameter('12', 'None'), { ok: true, value: 12 });
  assert.deepEqual(parseParameter('null', 'None'), { ok: true, value: null });
  assert.deepEqual(parseParameter('some text', 'expression'), { ok: true, value: 'some text' });
  assert.deepEqual(parseParameter('{"k": [true]}', 'expression'), {
    ok: true,
    value: { k: [true] }
  });
});

test('an override is shown as the text that reads back as the same value', () => {
  assert.equal(parameterText(undefined, 'int'), '');
  assert.equal(parameterText(50, 'int'), '50');
  assert.equal(parameterText('5', 'str'), '5');
  assert.equal(parameterText('', 'str'), '""');
  assert.equal(parameterText('5', 'expression'), '"5"');
  assert.equal(parameterText('abc', 'expression'), 'abc');
  assert.equal(parameterText(true, 'bool'), 'true');
  assert.equal(parameterText([1, 2], 'list'), '[1,2]');
  for (const [value, type] of [
    [3, 'int'],
    ['5', 'str'],
    ['5', 'None'],
    [' x', 'str'],
    [{ a: 1 }, 'dict'],
    [null, 'Optional[int]']
  ] as const) {
    const back = parseParameter(parameterText(value, type), type);
    assert.deepEqual(back, { ok: true, value }, `${JSON.stringify(value)} as ${type}`);
  }
});

test('defaults are shown as JSON', () => {
  const p = { name: 'n', type: 'int', default: 100, help: '' };
  assert.equal(describeDefault(p), '100');
  assert.equal(describeDefault({ ...p, type: 'str', default: 'iris.csv' }), '"iris.csv"');
  assert.equal(describeDefault({ ...p, type: 'None', default: null }), 'null');
  assert.match(describeDefault({ ...p, type: 'expression', default: null }), /expression/);
});
