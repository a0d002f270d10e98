import assert from 'node:assert/strict';
import { test } from 'node:test';

import { describeGit } from '../src/gitline';

const sha = '3f0c1a2b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a';

test('a clean repository: branch and commit, no warning', () => {
  const line = describeGit({ is_repo: true, branch: 'main', commit: sha, dirty: false });
  assert.equal(line.text, 'main @ 3f0c1a2b');
  assert.equal(line.warning, null);
});

test('uncommitted changes are not part of a deploy, and the line says so', () => {
  const line = describeGit({
    is_repo: true,
    branch: 'main',
    commit: sha,
    dirty: true,
    changed_files: [
      { path: 'a.ipynb', status: 'M' },
      { path: 'b.ipynb', status: '??' }
    ]
  });
  assert.equal(
    line.warning,
    '2 uncommitted changes in this folder are not part of a deploy (commit 3f0c1a2b is) - ' +
      'commit them to include them'
  );
  assert.ok(line.dirty);
});

test('one change is one change', () => {
  const line = describeGit({
    is_repo: true,
    branch: 'main',
    commit: sha,
    dirty: true,
    changed_files: [{ path: 'a.ipynb', status: 'M' }]
  });
  assert.equal(
    line.warning,
    '1 uncommitted change in this folder is not part of a deploy (commit 3f0c1a2b is) - ' +
      'commit it to include it'
  );
});

test('detached HEAD, no commits, and no repository at all', () => {
  assert.equal(describeGit({ is_repo: true, branch: null, commit: sha }).text, 'detached HEAD @ 3f0c1a2b');
  assert.match(describeGit({ is_repo: true, branch: 'main', commit: null }).warning ?? '', /commit/);
  const outside = describeGit({ is_repo: false });
  assert.equal(outside.warning, null);
  assert.match(outside.text, /not in a git repository/);
});
