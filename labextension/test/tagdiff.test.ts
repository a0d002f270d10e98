import assert from 'node:assert/strict';
import { test } from 'node:test';

import { classifyDiff, countChanges, diffHeading } from '../src/tagdiff';

const DIFF = `--- a/bodywork.yaml
+++ b/bodywork.yaml
@@ -1,4 +1,6 @@
 version: "2.0"
 pipeline:
   name: demo
-stages: {}
+stages:
+  prepare:
+    path: prepare.ipynb
--- a comment line removed
\\ No newline at end of file
`;

test('each diff line has its kind; --- inside a hunk is a removal', () => {
  const kinds = classifyDiff(DIFF).map(line => line.kind);
  assert.deepEqual(kinds, [
    'header',
    'header',
    'hunk',
    'context',
    'context',
    'context',
    'remove',
    'add',
    'add',
    'add',
    'remove',
    'note'
  ]);
  assert.equal(classifyDiff(DIFF)[7].text, '+stages:');
});

test('added and removed lines are counted, file lines not', () => {
  assert.deepEqual(countChanges(classifyDiff(DIFF)), { added: 3, removed: 2 });
  assert.deepEqual(countChanges(classifyDiff('')), { added: 0, removed: 0 });
});

test('the heading says how many lines changed, or unchanged', () => {
  assert.equal(
    diffHeading('demo/bodywork.yaml', DIFF, true),
    'bodywork.yaml: 3 lines added, 2 removed'
  );
  assert.equal(diffHeading('bodywork.yaml', '', false), 'bodywork.yaml: unchanged');
  const one = '--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n a\n+b\n';
  assert.equal(diffHeading('p/bodywork.yml', one, true), 'bodywork.yml: 1 line added, 0 removed');
});

test('a new file: everything is added', () => {
  const created =
    '--- a/bodywork.yaml\n+++ b/bodywork.yaml\n@@ -0,0 +1,2 @@\n+version: "2.0"\n+stages: {}\n';
  assert.equal(
    diffHeading('bodywork.yaml', created, true),
    'bodywork.yaml: 2 lines added, 0 removed'
  );
});
