import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { StageFile, Target } from '../src/api';
import {
  baseType,
  deployRequest,
  maxParallel,
  orderTargets,
  overrides,
  stageParams,
  typedValue
} from '../src/deployform';

function file(
  path: string,
  stage: string,
  parameters: StageFile['parameters'],
  tag = {}
): StageFile {
  return { path, type: 'notebook', stage, tag: { stage, ...tag }, parameters, problems: [] };
}

const files: StageFile[] = [
  file('iris/prepare.ipynb', 'prepare', [
    { name: 'test_size', type: 'float', default: 0.25, help: 'share held out' },
    { name: 'seed', type: 'int', default: 42, help: '' }
  ]),
  file(
    'iris/train.ipynb',
    'train',
    [{ name: 'n_estimators', type: 'int', default: 100, help: 'trees' }],
    { parameters: { n_estimators: 50 } }
  ),
  file('iris/predict.ipynb', 'predict', [
    { name: 'model_file', type: 'str', default: 'model.joblib', help: '' }
  ])
];

test("each stage has its notebook's parameters; the tag's value is the placeholder", () => {
  const stages = stageParams(
    [
      { name: 'prepare', path: 'iris/prepare.ipynb' },
      { name: 'train', path: 'iris/train.ipynb' },
      { name: 'predict', path: 'elsewhere/predict.ipynb' }, // found by its stage name
      { name: 'report', path: 'iris/report.ipynb' }
    ],
    files
  );
  assert.deepEqual(
    stages.map(stage => [
      stage.stage,
      stage.fields.map(f => `${f.key}=${f.placeholder}:${f.type}`)
    ]),
    [
      ['prepare', ['prepare.test_size=0.25:float', 'prepare.seed=42:int']],
      ['train', ['train.n_estimators=50:int']],
      ['predict', ['predict.model_file=model.joblib:str']],
      ['report', []]
    ]
  );
});

test('a typed value is sent as its parameter type says', () => {
  assert.deepEqual(typedValue('int', ' 7 '), { ok: true, value: 7 });
  assert.deepEqual(typedValue('int', '-3'), { ok: true, value: -3 });
  assert.equal(typedValue('int', 'abc').ok, false);
  assert.equal(typedValue('int', '1.5').ok, false);
  assert.equal(typedValue('int', '99999999999999999999').ok, false);
  assert.deepEqual(typedValue('float', '0.5'), { ok: true, value: 0.5 });
  assert.deepEqual(typedValue('float', '3'), { ok: true, value: 3 });
  assert.deepEqual(typedValue('float', '1e-3'), { ok: true, value: 0.001 });
  assert.equal(typedValue('float', 'half').ok, false);
  assert.deepEqual(typedValue('bool', 'True'), { ok: true, value: true });
  assert.deepEqual(typedValue('bool', 'false'), { ok: true, value: false });
  assert.equal(typedValue('bool', 'maybe').ok, false);
  assert.deepEqual(typedValue('str', '42'), { ok: true, value: '42' });
  assert.deepEqual(typedValue('list', '[1, "a"]'), { ok: true, value: [1, 'a'] });
  assert.equal(typedValue('list', '{"a": 1}').ok, false);
  assert.deepEqual(typedValue('dict', '{"a": 1}'), { ok: true, value: { a: 1 } });
  assert.equal(typedValue('dict', '[1]').ok, false);
  // unknown types: JSON when it is JSON, else the text
  assert.deepEqual(typedValue('None', '3'), { ok: true, value: 3 });
  assert.deepEqual(typedValue('expression', 'np.pi'), { ok: true, value: 'np.pi' });
});

test('annotations: Optional and unions with None, generics', () => {
  assert.deepEqual(baseType('Optional[int]'), { base: 'int', optional: true });
  assert.deepEqual(baseType('int | None'), { base: 'int', optional: true });
  assert.deepEqual(baseType('list[str]'), { base: 'list', optional: false });
  assert.deepEqual(baseType('Dict[str, int]'), { base: 'dict', optional: false });
  assert.deepEqual(typedValue('int | None', 'None'), { ok: true, value: null });
  assert.equal(typedValue('int', 'None').ok, false);
});

test('only typed values are sent; a wrong one is an error, not a value', () => {
  const nodes = [
    { name: 'prepare', path: 'iris/prepare.ipynb' },
    { name: 'train', path: 'iris/train.ipynb' }
  ];
  const fields = stageParams(nodes, files).flatMap(s => s.fields);
  assert.deepEqual(overrides(fields, { 'prepare.seed': '7', 'prepare.test_size': '  ' }), {
    params: { 'prepare.seed': 7 },
    errors: {}
  });
  const wrong = overrides(fields, { 'train.n_estimators': 'lots' });
  assert.deepEqual(wrong.params, {});
  assert.match(wrong.errors['train.n_estimators'], /not an int/);
});

test('max-parallel is 1..64, 4 when left empty', () => {
  assert.deepEqual(maxParallel(''), { ok: true, value: 4 });
  assert.deepEqual(maxParallel('8'), { ok: true, value: 8 });
  assert.equal(maxParallel('0').ok, false);
  assert.equal(maxParallel('65').ok, false);
  assert.equal(maxParallel('2.5').ok, false);
});

const local: Target = {
  target: 'local',
  label: 'this machine',
  context: null,
  namespace: null,
  current: false
};
const kind: Target = {
  target: 'kubernetes',
  label: 'Kubernetes: kind (namespace ml)',
  context: 'kind',
  namespace: 'ml',
  current: true
};

test('the request: the folder (. for the root), the target with its context', () => {
  assert.deepEqual(deployRequest('', local, {}, 4), {
    path: '.',
    target: 'local',
    params: {},
    max_parallel: 4
  });
  assert.deepEqual(deployRequest('iris', kind, { 'train.n': 1 }, 2), {
    path: 'iris',
    target: 'kubernetes',
    context: 'kind',
    namespace: 'ml',
    params: { 'train.n': 1 },
    max_parallel: 2
  });
  assert.deepEqual(orderTargets([kind, local]), [local, kind]);
});
