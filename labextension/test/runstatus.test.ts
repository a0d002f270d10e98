import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  elapsedSeconds,
  formatElapsed,
  runCancellable,
  runSettled,
  runTone,
  STAGE_TONES,
  stageTone,
  statusText
} from '../src/runstatus';

test('elapsed time reads as the widget writes it', () => {
  assert.equal(formatElapsed(0), '0.0s');
  assert.equal(formatElapsed(12.34), '12.3s');
  assert.equal(formatElapsed(59.99), '59.9s');
  assert.equal(formatElapsed(60), '1m 00s');
  assert.equal(formatElapsed(65.2), '1m 05s');
  assert.equal(formatElapsed(3599), '59m 59s');
  assert.equal(formatElapsed(3600 + 180), '1h 03m');
  assert.equal(formatElapsed(-5), '0.0s');
  assert.equal(formatElapsed(Number.NaN), '0.0s');
});

test('elapsed runs to the end, else to now; nothing before a start', () => {
  assert.equal(elapsedSeconds(null, null, 50), null);
  assert.equal(elapsedSeconds(10, null, 50), 40);
  assert.equal(elapsedSeconds(10, 15, 50), 5);
  assert.equal(elapsedSeconds(10, null, 5), 0);
});

test('every status has a tone, with the widget meaning', () => {
  assert.equal(stageTone('running'), 'running');
  assert.equal(stageTone('succeeded'), 'success');
  assert.equal(stageTone('ready'), 'ready');
  assert.equal(stageTone('failed'), 'error');
  assert.equal(stageTone('lost'), 'error');
  assert.equal(stageTone('retrying'), 'warning');
  assert.equal(stageTone('restarting'), 'warning');
  assert.equal(stageTone('skipped'), 'muted');
  assert.equal(stageTone('cancelled'), 'muted');
  assert.equal(stageTone('something new'), 'pending');
  assert.equal(Object.keys(STAGE_TONES).length, 11);
  assert.equal(runTone('deployed'), 'ready');
  assert.equal(runTone('queued'), 'pending');
});

test('which runs can be cancelled, and which are settled', () => {
  assert.ok(runCancellable('queued') && runCancellable('running'));
  assert.ok(!runCancellable('deployed') && !runCancellable('succeeded'));
  assert.ok(runSettled('deployed') && runSettled('failed') && !runSettled('running'));
});

test('a status says its attempt once there was a retry', () => {
  assert.equal(statusText('running', 1), 'running');
  assert.equal(statusText('running', 2), 'running (attempt 2)');
});
