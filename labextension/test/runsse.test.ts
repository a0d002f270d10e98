import assert from 'node:assert/strict';
import { test } from 'node:test';

import { reconnectDelay, SseParser } from '../src/runsse';

test('events are parsed as the server writes them, keepalive comments are skipped', () => {
  const parser = new SseParser();
  const text =
    'id: 1\nevent: run.started\ndata: {"seq": 1}\n\n' +
    ': keepalive\n\n' +
    'id: 2\nevent: stage.starting\ndata: {"seq": 2}\n\n' +
    'event: end\ndata: {"status": "succeeded"}\n\n';
  const messages = parser.push(text);
  assert.deepEqual(messages, [
    { id: '1', event: 'run.started', data: '{"seq": 1}' },
    { id: '2', event: 'stage.starting', data: '{"seq": 2}' },
    { id: '2', event: 'end', data: '{"status": "succeeded"}' }
  ]);
  assert.equal(parser.comments, 1);
});

test('an event split across chunks anywhere comes out once, whole', () => {
  const text = 'id: 7\r\nevent: stage.ready\r\ndata: {"url":\r\ndata: "http://x"}\r\n\r\n';
  for (let cut = 0; cut <= text.length; cut++) {
    const parser = new SseParser();
    const got = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
    assert.deepEqual(
      got,
      [{ id: '7', event: 'stage.ready', data: '{"url":\n"http://x"}' }],
      `cut at ${cut}`
    );
  }
});

test('CR alone ends a line; fields without a colon or a space read as the standard says', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('data:a\rdata\revent:x\r\r'), [
    { id: null, event: 'x', data: 'a\n' }
  ]);
});

test('an event with no data is not dispatched; retry and unknown fields', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('event: nothing\n\nretry: 3000\nfoo: bar\ndata: x\n\n'), [
    { id: null, event: 'message', data: 'x' }
  ]);
  assert.equal(parser.retry, 3000);
});

test('a partial event is dropped by reset; the id of the last whole one stays', () => {
  const parser = new SseParser();
  parser.push('id: 3\ndata: a\n\nid: 4\ndata: hal');
  parser.reset();
  assert.deepEqual(parser.push('data: b\n\n'), [{ id: '3', event: 'message', data: 'b' }]);
});

test('reconnecting waits longer after each drop, up to a bound', () => {
  assert.equal(reconnectDelay(0), 0);
  assert.equal(reconnectDelay(1), 500);
  assert.equal(reconnectDelay(2), 1000);
  assert.equal(reconnectDelay(3), 2000);
  assert.equal(reconnectDelay(10), 10_000);
  assert.equal(reconnectDelay(1000), 10_000);
});
