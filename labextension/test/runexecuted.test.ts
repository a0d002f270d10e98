import assert from 'node:assert/strict';
import { test } from 'node:test';

import { executedPath, notebookModel, parseExecutedPath } from '../src/runexecuted';

test('an executed notebook has a path of the BodyworkRuns drive, and back', () => {
  assert.equal(executedPath('r-123', 'train'), 'BodyworkRuns:r-123/train.ipynb');
  assert.deepEqual(parseExecutedPath('r-123/train.ipynb'), {
    kind: 'notebook',
    runId: 'r-123',
    stage: 'train'
  });
  assert.deepEqual(parseExecutedPath(''), { kind: 'root' });
  assert.deepEqual(parseExecutedPath('r-123'), { kind: 'run', runId: 'r-123' });
  assert.deepEqual(parseExecutedPath('r-123/train.txt'), { kind: 'none' });
  assert.deepEqual(parseExecutedPath('a/b/c.ipynb'), { kind: 'none' });
});

test('its model is a read-only notebook', () => {
  const model = notebookModel('r/train.ipynb', { cells: [] }, '2026-01-01T00:00:00.000Z');
  assert.equal(model.type, 'notebook');
  assert.equal(model.writable, false);
  assert.equal(model.name, 'train.ipynb');
  assert.equal(model.format, 'json');
  assert.equal(notebookModel('r/train.ipynb', null, '').format, null);
});
