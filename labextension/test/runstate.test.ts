import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { RunDetail, RunEvent, StageStatus } from '../src/api';
import { Coalescer, RunState, serviceUrls } from '../src/runstate';

function stage(name: string, change: Partial<StageStatus> = {}): StageStatus {
  return {
    name,
    kind: 'batch',
    status: 'pending',
    attempt: 0,
    started: null,
    finished: null,
    duration: null,
    message: '',
    url: null,
    log: null,
    notebook: null,
    ...change
  };
}

function detail(stages: StageStatus[], change: Partial<RunDetail> = {}): RunDetail {
  return {
    id: 'r1',
    deployment: 'iris',
    status: 'running',
    message: '',
    created: 100,
    started: 100,
    finished: null,
    source: {},
    cancel_requested: false,
    started_by: null,
    options: {},
    settled: false,
    finished_ok: false,
    stages,
    urls: {},
    links: { self: '', events: '', cancel: '' },
    ...change
  };
}

let seq = 0;
function event(type: string, stageName: string | null, change: Partial<RunEvent> = {}): RunEvent {
  seq++;
  return {
    seq,
    run_id: 'r1',
    time: 100 + seq,
    type,
    stage: stageName,
    attempt: null,
    data: {},
    ...change
  };
}

test('an event turns its stage at once and asks for the detail', () => {
  seq = 0;
  const state = new RunState('r1');
  state.applyDetail(detail([stage('prepare'), stage('train')]));
  const effect = state.applyEvent(event('stage.starting', 'prepare', { attempt: 1 }));
  assert.deepEqual(effect, { duplicate: false, detail: true, log: 'prepare' });
  const prepare = state.stages.get('prepare')!;
  assert.equal(prepare.status, 'running');
  assert.equal(prepare.attempt, 1);
  assert.equal(prepare.started, 101);
  state.applyEvent(event('stage.succeeded', 'prepare', { attempt: 1 }));
  assert.equal(state.stages.get('prepare')!.status, 'succeeded');
  assert.equal(state.stages.get('prepare')!.finished, 102);
  assert.equal(state.lastSeq, 2);
  assert.equal(state.applied, 2);
});

test('each event counts once: a replayed seq is a duplicate', () => {
  seq = 0;
  const state = new RunState('r1');
  const first = event('run.started', null);
  state.applyEvent(first);
  assert.equal(state.status, 'running');
  assert.deepEqual(state.applyEvent(first), { duplicate: true, detail: false, log: null });
  assert.equal(state.applied, 1);
});

test('100 stages x 3 events: every one applied, in any chunking', () => {
  seq = 0;
  const state = new RunState('r1');
  const events: RunEvent[] = [event('run.started', null)];
  for (let i = 0; i < 100; i++) {
    const name = `s${i}`;
    events.push(event('stage.starting', name, { attempt: 1 }));
    events.push(event('runner.cell.finished', name, { data: { index: 1, total: 2 } }));
    events.push(event('stage.succeeded', name, { attempt: 1 }));
  }
  events.push(event('run.succeeded', null));
  for (const item of events) {
    state.applyEvent(item);
  }
  assert.equal(state.applied, events.length);
  assert.equal(state.lastSeq, events[events.length - 1].seq);
  assert.equal(state.stages.size, 100);
  assert.ok([...state.stages.values()].every(row => row.status === 'succeeded'));
  assert.equal(state.status, 'succeeded');
  // a succeeded stage ran every cell
  assert.deepEqual(state.progress('s5'), { index: 2, total: 2 });
});

test('a detail older than an event keeps the event status; a newer one wins', () => {
  seq = 0;
  const state = new RunState('r1');
  state.applyDetail(detail([stage('train')]));
  const asked = state.lastSeq; // a detail request starts here...
  state.applyEvent(event('stage.starting', 'train', { attempt: 1 }));
  // ...and answers with what was true when it was read: still pending
  state.applyDetail(detail([stage('train', { message: 'from the detail' })]), asked);
  assert.equal(state.stages.get('train')!.status, 'running');
  assert.equal(state.stages.get('train')!.message, 'from the detail');
  // a detail read after the event is the last word
  state.applyDetail(
    detail([stage('train', { status: 'failed', attempt: 1, notebook: '/nb' })]),
    state.lastSeq
  );
  assert.equal(state.stages.get('train')!.status, 'failed');
  assert.equal(state.stages.get('train')!.notebook, '/nb');
});

test('a retry starts the clock and the cells again', () => {
  seq = 0;
  const state = new RunState('r1');
  state.applyEvent(event('stage.starting', 'train', { attempt: 1 }));
  state.applyEvent(event('runner.cell.finished', 'train', { data: { index: 3, total: 5 } }));
  state.applyEvent(event('stage.retrying', 'train', { attempt: 1, data: { message: 'exit 1' } }));
  assert.equal(state.stages.get('train')!.status, 'retrying');
  assert.equal(state.stages.get('train')!.message, 'exit 1');
  state.applyEvent(event('stage.starting', 'train', { attempt: 2 }));
  const train = state.stages.get('train')!;
  assert.equal(train.attempt, 2);
  assert.equal(train.started, state.lastTime);
  assert.equal(train.finished, null);
  assert.equal(state.progress('train'), null);
});

test('a ready service has its URL from the event, and the run urls win', () => {
  seq = 0;
  const state = new RunState('r1');
  state.applyDetail(detail([stage('predict', { kind: 'service' })]));
  state.applyEvent(event('stage.ready', 'predict', { data: { url: 'http://127.0.0.1:5001' } }));
  assert.deepEqual([...serviceUrls(state)], [['predict', 'http://127.0.0.1:5001']]);
  state.applyDetail(
    detail([stage('predict', { kind: 'service', status: 'ready' })], {
      urls: { predict: 'http://127.0.0.1:5002' }
    })
  );
  assert.deepEqual([...serviceUrls(state)], [['predict', 'http://127.0.0.1:5002']]);
});

test('a stage that restarts is orange until it recovers', () => {
  seq = 0;
  const state = new RunState('r1');
  state.applyEvent(event('stage.ready', 'predict'));
  state.applyEvent(event('service.exited', 'predict'));
  assert.equal(state.stages.get('predict')!.status, 'restarting');
  state.applyEvent(event('service.recovered', 'predict'));
  assert.equal(state.stages.get('predict')!.status, 'ready');
});

test('runner events other than cells grow the log but need no detail', () => {
  seq = 0;
  const state = new RunState('r1');
  assert.deepEqual(state.applyEvent(event('runner.note', 'train', { data: { message: 'x' } })), {
    duplicate: false,
    detail: false,
    log: 'train'
  });
});

test('a burst of asks is one more run after the one under way, never two at once', async () => {
  let running = 0;
  let most = 0;
  let release: () => void = () => undefined;
  const coalescer = new Coalescer(async () => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>(resolve => {
      release = resolve;
    });
    running--;
  });
  const first = coalescer.request();
  for (let i = 0; i < 50; i++) {
    void coalescer.request();
  }
  assert.equal(coalescer.runs, 1);
  release();
  await new Promise(resolve => setImmediate(resolve));
  assert.equal(coalescer.runs, 2, 'the burst is one more run');
  release();
  await first;
  assert.equal(coalescer.runs, 2);
  assert.equal(most, 1);
  assert.equal(coalescer.busy, false);
  // asked again later: runs again
  const again = coalescer.request();
  release();
  await again;
  assert.equal(coalescer.runs, 3);
});

test('a failing task is reported and the coalescer keeps working', async () => {
  const errors: unknown[] = [];
  let fail = true;
  const coalescer = new Coalescer(
    async () => {
      if (fail) {
        fail = false;
        throw new Error('boom');
      }
    },
    reason => errors.push(reason)
  );
  await coalescer.request();
  await coalescer.request();
  assert.equal(errors.length, 1);
  assert.equal(coalescer.runs, 2);
});
