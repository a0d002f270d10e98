import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Parameter, StageFile, StageTag } from '../src/api';
import {
  defaultStageName,
  dependencyChoices,
  fieldOfProblem,
  formFromTag,
  keptFields,
  messagesOf,
  otherStages,
  parseRequirements,
  tagFromForm,
  type TagFormState
} from '../src/tagform';

const PARAMS: Parameter[] = [
  { name: 'n_estimators', type: 'int', default: 100, help: 'trees in the forest' },
  { name: 'label', type: 'str', default: 'x', help: '' }
];

function file(path: string, stage: string | null): StageFile {
  const tag = stage ? { stage } : null;
  return { path, type: 'notebook', stage, tag, parameters: [], problems: [] };
}

test('a new tag proposes the file name as a valid stage name', () => {
  assert.equal(defaultStageName('demo/prepare.ipynb'), 'prepare');
  assert.equal(defaultStageName('Train Model.ipynb'), 'train-model');
  assert.equal(defaultStageName('a/my_nb.v2.ipynb'), 'my-nb-v2');
  assert.equal(defaultStageName('__.ipynb'), 'stage');
  const form = formFromTag('demo/prepare.ipynb', null, PARAMS);
  assert.equal(form.stage, 'prepare');
  assert.equal(form.kind, 'batch');
  assert.deepEqual(form.parameters, { n_estimators: '', label: '' });
});

test('the form is prefilled from the tag, and saving it unchanged gives the same tag', () => {
  const tag: StageTag = {
    stage: 'train',
    depends_on: ['prepare'],
    parameters: { n_estimators: 50, other: 1 },
    requirements: 'requirements.txt',
    timeout: '10m',
    retries: { count: 2, backoff: '30s' },
    resources: { cpu_request: 0.5, cpu_limit: 2, gpu: 1 },
    env: { A: '1' }
  };
  const form = formFromTag('demo/train.ipynb', tag, PARAMS);
  assert.equal(form.stage, 'train');
  assert.deepEqual(form.dependsOn, ['prepare']);
  assert.equal(form.requirements, 'requirements.txt');
  assert.equal(form.timeout, '10m');
  assert.equal(form.retries, '2');
  assert.equal(form.cpu, '0.5');
  assert.equal(form.gpu, '1');
  assert.equal(form.memory, '');
  assert.deepEqual(form.parameters, { n_estimators: '50', label: '' });
  const result = tagFromForm(form, tag, PARAMS, [{ stage: 'prepare', path: 'demo/prepare.ipynb' }]);
  assert.ok(result.ok);
  assert.deepEqual(result.tag, { ...tag, kind: 'batch' });
  assert.deepEqual(keptFields(tag), ['env']);
});

test('the fields the form owns are replaced; a batch stage has no service', () => {
  const tag: StageTag = {
    stage: 'serve',
    kind: 'service',
    service: { port: 5000, ingress: true },
    retries: { count: 2, backoff: '30s' }
  };
  const form: TagFormState = {
    ...formFromTag('serve.ipynb', tag, PARAMS),
    port: '8080',
    replicas: '2',
    retries: '4',
    requirements: 'pandas\n scikit-learn==1.5 ; joblib',
    memory: '512',
    parameters: { n_estimators: '10', label: '7' }
  };
  assert.equal(form.kind, 'service');
  assert.equal(formFromTag('serve.ipynb', tag, PARAMS).port, '5000');
  const saved = tagFromForm(form, tag, PARAMS);
  assert.ok(saved.ok);
  assert.deepEqual(saved.tag, {
    stage: 'serve',
    kind: 'service',
    service: { ingress: true, port: 8080, replicas: 2 },
    retries: { count: 4, backoff: '30s' },
    requirements: ['pandas', 'scikit-learn==1.5', 'joblib'],
    resources: { memory_request_mb: 512 },
    parameters: { n_estimators: 10, label: '7' }
  });
  const batch = tagFromForm({ ...form, kind: 'batch', retries: '', requirements: '' }, tag, PARAMS);
  assert.ok(batch.ok);
  assert.equal(batch.tag.kind, 'batch');
  assert.equal('service' in batch.tag, false);
  assert.equal('retries' in batch.tag, false);
  assert.equal('requirements' in batch.tag, false);
});

test('numbers are read where they are one; other text goes to the server check', () => {
  const form = { ...formFromTag('a.ipynb', null, []), retries: '-1', timeout: '600', cpu: 'lots' };
  const saved = tagFromForm(form, null, []);
  assert.ok(saved.ok);
  assert.equal(saved.tag.retries, -1);
  assert.equal(saved.tag.timeout, 600);
  assert.deepEqual(saved.tag.resources, { cpu_request: 'lots' });
  const minutes = tagFromForm({ ...form, timeout: '1h30m', cpu: '' }, null, []);
  assert.ok(minutes.ok);
  assert.equal(minutes.tag.timeout, '1h30m');
});

test('the form refuses a bad stage name, a taken one, and a parameter of the wrong type', () => {
  const others = [{ stage: 'prepare', path: 'demo/prepare.ipynb' }];
  const base = formFromTag('demo/train.ipynb', null, PARAMS);
  for (const [stage, pattern] of [
    ['', /give the stage a name/],
    ['my stage', /not a stage name/],
    ['-x', /not a stage name/],
    ['prepare', /already the stage of demo\/prepare\.ipynb/]
  ] as const) {
    const result = tagFromForm({ ...base, stage }, null, PARAMS, others);
    assert.equal(result.ok, false, stage);
    assert.match(!result.ok ? (result.messages.stage ?? []).join() : '', pattern);
  }
  const many = { ...base, parameters: { n_estimators: 'many', label: '' } };
  const typed = tagFromForm(many, null, PARAMS);
  assert.equal(typed.ok, false);
  assert.match(!typed.ok ? (typed.messages['param:n_estimators'] ?? []).join() : '', /not an int/);
});

test('depends-on offers the other tagged stages, and keeps names not among them', () => {
  const files = [
    file('d/prepare.ipynb', 'prepare'),
    file('d/train.ipynb', 'train'),
    file('d/x.ipynb', null)
  ];
  const others = otherStages('d/train.ipynb', files);
  assert.deepEqual(others, [{ stage: 'prepare', path: 'd/prepare.ipynb' }]);
  assert.deepEqual(dependencyChoices(others, ['gone']), ['prepare', 'gone']);
  const form = { ...formFromTag('d/train.ipynb', null, []), dependsOn: ['gone', 'prepare'] };
  const saved = tagFromForm(form, null, [], others);
  assert.ok(saved.ok);
  assert.deepEqual(saved.tag.depends_on, ['prepare', 'gone']);
  const current = { stage: 'train', depends_on: ['prepare'] };
  const none = tagFromForm({ ...form, dependsOn: [] }, current, [], others);
  assert.ok(none.ok);
  assert.equal('depends_on' in none.tag, false);
});

test('requirements: one per line or ;-separated, or one requirements file', () => {
  assert.equal(parseRequirements('requirements.txt'), 'requirements.txt');
  assert.equal(parseRequirements(' reqs/base.in \n'), 'reqs/base.in');
  assert.deepEqual(parseRequirements('pandas\n\nnumpy; scipy'), ['pandas', 'numpy', 'scipy']);
  assert.deepEqual(parseRequirements('  '), []);
});

test("the server's problems land next to their fields", () => {
  const problem = (path: string, message = 'm', hint = 'h') => ({
    file: 'a.ipynb',
    line: 0,
    path,
    message,
    hint,
    severity: 'error' as const
  });
  const names = ['n_estimators'];
  const field = (path: string) => fieldOfProblem(problem(path), names);
  assert.equal(field('metadata.bodywork.stage'), 'stage');
  assert.equal(field('metadata.bodywork.retries'), 'retries');
  assert.equal(field('metadata.bodywork.retries.count'), 'retries');
  assert.equal(field('metadata.bodywork.service.port'), 'port');
  assert.equal(field('metadata.bodywork.service.replicas'), 'replicas');
  assert.equal(field('metadata.bodywork.service'), 'kind');
  assert.equal(field('metadata.bodywork.resources.cpu_request'), 'cpu');
  assert.equal(field('metadata.bodywork.resources.memory_request_mb'), 'memory');
  assert.equal(field('metadata.bodywork.resources.gpu'), 'gpu');
  assert.equal(field('metadata.bodywork.resources.cpu_limit'), 'form');
  assert.equal(field('metadata.bodywork.requirements[0]'), 'requirements');
  assert.equal(field('metadata.bodywork.depends_on[1]'), 'dependsOn');
  assert.equal(field('metadata.bodywork.timeout'), 'timeout');
  assert.equal(field('metadata.bodywork.parameters.n_estimators'), 'param:n_estimators');
  assert.equal(field('metadata.bodywork.parameters.unknown'), 'form');
  assert.equal(field('metadata.bodywork.env'), 'form');
  assert.equal(field(''), 'form');
  const messages = messagesOf(
    [
      problem('metadata.bodywork.retries', 'must be at least 0, got -1', 'use 0 or more'),
      problem('metadata.bodywork.stage', "String should match pattern", 'change the value'),
      problem('metadata.bodywork.env.A', 'expected text', '')
    ],
    names
  );
  assert.deepEqual(messages, {
    retries: ['must be at least 0, got -1 - use 0 or more'],
    stage: ['String should match pattern'],
    form: ['metadata.bodywork.env.A: expected text']
  });
});
