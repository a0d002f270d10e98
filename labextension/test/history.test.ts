import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Deployment, RunStatus, RunSummary } from '../src/api';
import {
  anyChanging,
  canDelete,
  codeOf,
  deleteConsequences,
  isActive,
  runActions,
  runToFollow,
  sortDeployments,
  sortRuns
} from '../src/historylist';
import { formatDuration, fullTime, isoTime, relativeTime, runDuration } from '../src/historytime';

const sha = '3f0c1a2b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a';

function run(id: string, status: RunStatus, more: Partial<RunSummary> = {}): RunSummary {
  return {
    id,
    deployment: 'demo',
    status,
    message: '',
    created: 1000,
    started: 1001,
    finished: null,
    source: { repo: 'file:///work/demo', commit: sha, local_path: null, project_dir: '.' },
    cancel_requested: false,
    started_by: null,
    ...more
  };
}

function deployment(name: string, status: string, more: Partial<Deployment> = {}): Deployment {
  return {
    name,
    pipeline: name,
    target: 'local',
    status,
    source: {},
    created: 1000,
    updated: 1000,
    current_run: null,
    run: null,
    serving_run: null,
    serving: null,
    urls: {},
    ...more
  };
}

// -- times ------------------------------------------------------------------------------------

test('a duration runs from start to finish, or to now while the run goes', () => {
  assert.equal(runDuration(run('a', 'succeeded', { started: 10, finished: 72.5 }), 500), 62.5);
  assert.equal(runDuration(run('a', 'running', { started: 10 }), 40), 30);
  assert.equal(runDuration(run('a', 'queued', { started: null }), 40), null);
  // clocks of two machines: never negative
  assert.equal(runDuration(run('a', 'running', { started: 50 }), 40), 0);
});

test('durations read as a person says them', () => {
  assert.equal(formatDuration(0.44), '0.4 s');
  assert.equal(formatDuration(9.99), '9.9 s');
  assert.equal(formatDuration(12.7), '12 s');
  assert.equal(formatDuration(184), '3 min 04 s');
  assert.equal(formatDuration(3720), '1 h 02 min');
  assert.equal(formatDuration(2 * 86400 + 3 * 3600 + 5), '2 d 3 h');
});

test('relative times, and a clock a little ahead is just now', () => {
  const now = 1_000_000;
  assert.equal(relativeTime(now, now), 'just now');
  assert.equal(relativeTime(now + 3, now), 'just now');
  assert.equal(relativeTime(now - 40, now), '40 s ago');
  assert.equal(relativeTime(now - 5 * 60 - 10, now), '5 min ago');
  assert.equal(relativeTime(now - 3 * 3600, now), '3 h ago');
  assert.equal(relativeTime(now - 30 * 3600, now), 'yesterday');
  assert.equal(relativeTime(now - 4 * 86400, now), '4 days ago');
  const old = now - 400 * 86400;
  assert.equal(relativeTime(old, now), `on ${fullTime(old).slice(0, 10)}`);
});

test('the full time is local, to the second; dateTime is ISO 8601', () => {
  const t = new Date(2026, 11, 3, 14, 5, 9).getTime() / 1000;
  assert.equal(fullTime(t), '2026-12-03 14:05:09');
  assert.equal(isoTime(0), '1970-01-01T00:00:00.000Z');
});

// -- actions ----------------------------------------------------------------------------------

test('cancel while queued or running; re-run once it is over', () => {
  for (const status of ['queued', 'running'] as RunStatus[]) {
    assert.deepEqual(runActions(run('a', status)), { cancel: true, cancelling: false, rerun: false });
    assert.ok(isActive(status));
  }
  assert.deepEqual(runActions(run('a', 'running', { cancel_requested: true })), {
    cancel: false,
    cancelling: true,
    rerun: false
  });
  for (const status of ['deployed', 'succeeded', 'failed', 'cancelled', 'lost', 'stopped'] as RunStatus[]) {
    assert.deepEqual(runActions(run('a', status)), { cancel: false, cancelling: false, rerun: true });
    assert.ok(!isActive(status));
  }
  // a deployment being deleted takes no new run
  assert.equal(runActions(run('a', 'stopped'), deployment('demo', 'deleting')).rerun, false);
  assert.equal(runActions(run('a', 'stopped'), deployment('demo', 'deleted')).rerun, true);
});

test('delete applies until the deployment is deleted', () => {
  assert.ok(canDelete(deployment('a', 'serving')));
  assert.ok(canDelete(deployment('a', 'failed')));
  assert.ok(!canDelete(deployment('a', 'deleting')));
  assert.ok(!canDelete(deployment('a', 'deleted')));
});

test('the history asks again while anything in it is still changing', () => {
  assert.ok(!anyChanging([], []));
  assert.ok(!anyChanging([deployment('a', 'serving', { run: run('r', 'deployed') })], []));
  assert.ok(anyChanging([deployment('a', 'pending')], []));
  assert.ok(anyChanging([deployment('a', 'deleting')], []));
  assert.ok(anyChanging([deployment('a', 'failed', { run: run('r', 'queued') })], []));
  assert.ok(anyChanging([deployment('a', 'serving')], [[run('x', 'succeeded'), run('y', 'running')]]));
  assert.ok(!anyChanging([deployment('a', 'serving')], [[run('x', 'succeeded')]]));
});

// -- order ------------------------------------------------------------------------------------

test('deployments most recently changed first, runs newest first', () => {
  const list = [
    deployment('b', 'serving', { updated: 5 }),
    deployment('a', 'failed', { updated: 5 }),
    deployment('c', 'running', { updated: 9 })
  ];
  assert.deepEqual(sortDeployments(list).map(d => d.name), ['c', 'a', 'b']);
  assert.deepEqual(list.map(d => d.name), ['b', 'a', 'c'], 'the input is left alone');
  const runs = [
    run('20261203-140000-aaaaaa', 'failed', { created: 10 }),
    run('20261203-140100-bbbbbb', 'succeeded', { created: 20 }),
    run('20261203-140100-cccccc', 'running', { created: 20 })
  ];
  assert.deepEqual(sortRuns(runs).map(r => r.id.slice(-6)), ['cccccc', 'bbbbbb', 'aaaaaa']);
});

// -- following after a reload -----------------------------------------------------------------

test("a reload follows the folder's pipeline's run only while it is queued or running", () => {
  const going = deployment('iris', 'running', { run: run('r2', 'running'), updated: 20 });
  const others = [
    deployment('other', 'running', { run: run('r9', 'running'), updated: 30 }),
    deployment('done', 'serving', { pipeline: 'done', run: run('r3', 'deployed') })
  ];
  assert.equal(runToFollow([...others, going], 'iris'), 'r2');
  assert.equal(runToFollow([...others, going], 'done'), null);
  assert.equal(runToFollow([...others, going], null), null);
  assert.equal(runToFollow([deployment('iris', 'pending', { run: run('q', 'queued') })], 'iris'), 'q');
});

// -- delete and code --------------------------------------------------------------------------

test('the delete dialog names what stops and what stays', () => {
  const serving = deployment('iris', 'serving', {
    urls: { predict: 'http://127.0.0.1:5000', api: 'http://127.0.0.1:5001' },
    run: run('r1', 'deployed')
  });
  assert.deepEqual(deleteConsequences(serving), [
    'Service api stops answering at http://127.0.0.1:5001.',
    'Service predict stops answering at http://127.0.0.1:5000.',
    'Its schedule, if it has one, is deleted.',
    'Its run history is kept: "Show deleted" lists it here, bodywork get runs iris in a terminal.'
  ]);
  const running = deployment('b', 'running', { run: run('r2', 'running') });
  assert.equal(deleteConsequences(running)[0], 'Run r2 (running) is stopped.');
  assert.equal(deleteConsequences(deployment('c', 'failed'))[0], 'Nothing of it is running or serving now.');
});

test("a run's code: its commit, short and in full, or the folder it ran as is", () => {
  assert.deepEqual(codeOf({ repo: 'file:///w/r', commit: sha, project_dir: 'iris' }), {
    text: '3f0c1a2b',
    title: `commit ${sha} of file:///w/r (iris)`,
    commit: sha
  });
  assert.deepEqual(codeOf({ local_path: '/w/plain', commit: null, repo: null }), {
    text: 'folder',
    title: 'the folder /w/plain, as it was on disk (not in git)',
    commit: null
  });
  assert.equal(codeOf({}).text, '');
});
