import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Target } from '../src/api';
import {
  ARGO_KINDS,
  exportRequest,
  type ExportResult,
  exportSummary,
  fieldErrors,
  isExportTarget,
  nextStep
} from '../src/exportform';

const none = { kind: 'workflow' as const, namespace: '', image: '' };

function target(name: string): Target {
  return { target: name, label: name, context: null, namespace: null, current: false };
}

function result(kind: ExportResult['kind'], name: string | null, path: string | null): ExportResult {
  return { kind, name, yaml: 'kind: Workflow\n', written: path !== null, path, warnings: [] };
}

test('only the argo target is the export', () => {
  assert.equal(isExportTarget(target('argo')), true);
  assert.equal(isExportTarget(target('local')), false);
  assert.equal(isExportTarget(target('kubernetes')), false);
  assert.equal(isExportTarget(undefined), false);
  assert.deepEqual(
    ARGO_KINDS.map(k => k.kind),
    ['workflow', 'template', 'cron']
  );
});

test('the request sends what was typed, trimmed, and always writes', () => {
  assert.deepEqual(exportRequest('', none), { folder: '.', kind: 'workflow', write: true });
  assert.deepEqual(
    exportRequest('iris', { kind: 'cron', namespace: ' ml ', image: ' python:3.12 ' }),
    { folder: 'iris', kind: 'cron', write: true, namespace: 'ml', image: 'python:3.12' }
  );
});

test('a namespace or image that cannot be right is a message, not a request', () => {
  assert.deepEqual(fieldErrors(none), {});
  assert.deepEqual(fieldErrors({ ...none, namespace: 'ml-prod', image: 'ghcr.io/a/b:1' }), {});
  for (const bad of ['ML', 'ml_prod', '-ml', 'ml-', 'x'.repeat(64)]) {
    assert.ok(fieldErrors({ ...none, namespace: bad }).namespace, bad);
  }
  assert.ok(fieldErrors({ ...none, image: 'python 3' }).image);
});

test('the summary and the next step name the written file', () => {
  const workflow = result('workflow', 'iris-', 'iris/iris-workflow.yaml');
  assert.equal(exportSummary(workflow), 'Exported Workflow iris- to iris/iris-workflow.yaml');
  assert.equal(nextStep(workflow, ''), 'Run it with: argo submit iris/iris-workflow.yaml');
  assert.equal(nextStep(workflow, 'ml'), 'Run it with: argo submit -n ml iris/iris-workflow.yaml');
  const template = result('template', 'iris', 't.yaml');
  assert.equal(
    nextStep(template, 'ml'),
    'Add it with: kubectl apply -f t.yaml, then run it with: argo submit -n ml ' +
      '--from workflowtemplate/iris'
  );
  assert.equal(nextStep(result('cron', 'iris', 'c.yaml'), ''), 'Schedule it with: kubectl apply -f c.yaml');
  assert.equal(exportSummary(result('cron', 'iris', null)), 'Exported CronWorkflow iris (not written)');
});
