import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Target } from '../src/api';
import {
  isLocal,
  LOCAL,
  parseWhere,
  sameWhere,
  storeWhere,
  whereChoices,
  whereKey,
  whereLabel,
  whereOf,
  whereOptions
} from '../src/where';

const here: Target = {
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
const other: Target = { ...kind, label: 'Kubernetes: other', context: 'other', namespace: null };

test('a deploy target becomes the Where its run is read from', () => {
  assert.deepEqual(whereOf(undefined), LOCAL);
  assert.deepEqual(whereOf(here), LOCAL);
  assert.deepEqual(whereOf(kind), { target: 'kubernetes', context: 'kind', namespace: 'ml' });
  assert.ok(isLocal(whereOf(here)) && !isLocal(whereOf(kind)));
});

test('equal Wheres have equal keys, however an empty setting is spelt', () => {
  assert.ok(sameWhere({ target: 'local' }, LOCAL));
  const noNamespace = { ...whereOf(kind), namespace: '' };
  assert.ok(sameWhere({ target: 'kubernetes', context: 'kind' }, noNamespace));
  assert.ok(!sameWhere(whereOf(kind), whereOf(other)));
  assert.equal(whereKey(null), 'local');
});

test('labels and CLI options name the place', () => {
  assert.equal(whereLabel(LOCAL), 'this machine');
  assert.equal(whereLabel(whereOf(kind)), 'kind (namespace ml)');
  assert.equal(whereOptions(LOCAL), '');
  assert.equal(whereOptions(whereOf(kind)), '--target kubernetes --context kind --namespace ml');
});

test('the choices: this machine first, then each context once', () => {
  const argo: Target = { ...here, target: 'argo', label: 'Export to Argo Workflows' };
  const choices = whereChoices([kind, here, argo, other, kind]);
  assert.deepEqual(
    choices.map(c => c.label),
    ['this machine', 'Kubernetes: kind (namespace ml)', 'Kubernetes: other']
  );
  assert.deepEqual(whereChoices([]), [{ where: LOCAL, label: 'this machine' }]);
});

test('a remembered choice is read back, and anything else is none', () => {
  assert.deepEqual(parseWhere(storeWhere(whereOf(kind))), whereOf(kind));
  assert.deepEqual(parseWhere(storeWhere(LOCAL)), LOCAL);
  const bad = [null, '', 'nope', '[]', '1', '{"target": 3}', '{"target": "k", "context": 1}'];
  for (const raw of bad) {
    assert.equal(parseWhere(raw), null, String(raw));
  }
});
