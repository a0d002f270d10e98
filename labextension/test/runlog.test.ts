import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { LogChunk } from '../src/api';
import { LogTail } from '../src/runlog';

function chunk(change: Partial<LogChunk>): LogChunk {
  return {
    run_id: 'r1',
    stage: 'train',
    attempt: 1,
    status: 'running',
    offset: 0,
    next_offset: 0,
    eof: true,
    finished: false,
    text: '',
    ...change
  };
}

test('a log is read on from where the last read ended', () => {
  const log = new LogTail('train');
  assert.equal(log.take(chunk({ text: 'a\nb\n', next_offset: 4 })), 'ok');
  assert.equal(log.offset, 4);
  log.take(chunk({ offset: 4, text: 'c\n', next_offset: 6, finished: true }));
  assert.equal(log.text, 'a\nb\nc\n');
  assert.ok(log.finished);
});

test('a new attempt starts its log from the top, marked', () => {
  const log = new LogTail('train');
  log.take(chunk({ text: 'first\n', next_offset: 6 }));
  // read from the old offset, the answer is of attempt 2: read again from 0
  const stale = chunk({ attempt: 2, offset: 6, text: 'ignored\n', next_offset: 14 });
  assert.equal(log.take(stale), 'again');
  assert.equal(log.offset, 0);
  log.take(chunk({ attempt: 2, text: 'second\n', next_offset: 7 }));
  assert.equal(log.text, 'first\n--- attempt 2 ---\nsecond\n');
  assert.equal(log.attempt, 2);
});

test('a long log keeps its last lines, cut at a line start', () => {
  const log = new LogTail('train', 20);
  log.take(chunk({ text: '0123456789\nabcdefghij\nKLMNO\n', next_offset: 28 }));
  assert.equal(log.text, 'abcdefghij\nKLMNO\n');
  assert.ok(log.cut);
  assert.ok(log.text.length <= 20);
});
