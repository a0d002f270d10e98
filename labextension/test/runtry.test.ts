import assert from 'node:assert/strict';
import { test } from 'node:test';

import { describeAnswer, exampleBody, parseBody, parsePath } from '../src/runtry';

test('the box starts with the example, else {}', () => {
  assert.equal(exampleBody(undefined), '{}');
  assert.equal(exampleBody(null), '{}');
  assert.equal(exampleBody({ a: 1 }), '{\n  "a": 1\n}');
});

test('a body that is not JSON is a message', () => {
  assert.deepEqual(parseBody('{"a": 1}'), { ok: true, value: { a: 1 } });
  const bad = parseBody('{a: 1}');
  assert.equal(bad.ok, false);
  assert.match(!bad.ok ? bad.error : '', /not JSON/);
  assert.equal(parseBody('  ').ok, false);
});

test('a path gets one leading slash; a URL or spaces are refused', () => {
  assert.deepEqual(parsePath(''), { ok: true, value: '/predict' });
  assert.deepEqual(parsePath('score'), { ok: true, value: '/score' });
  assert.deepEqual(parsePath('//v1/score'), { ok: true, value: '/v1/score' });
  assert.equal(parsePath('http://x/predict').ok, false);
  assert.equal(parsePath('/a b').ok, false);
});

test('an answer shows its status and its JSON, pretty', () => {
  assert.deepEqual(
    describeAnswer({
      stage: 'p',
      url: 'u',
      status: 200,
      text: '{"species":"x"}',
      json: { species: 'x' }
    }),
    { status: 200, ok: true, text: '{\n  "species": "x"\n}' }
  );
  const text = describeAnswer({ stage: 'p', url: 'u', status: 500, text: 'boom', truncated: true });
  assert.equal(text.ok, false);
  assert.match(text.text, /^boom\n.*cut at 1 MiB/);
});
