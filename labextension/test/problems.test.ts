import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatProblem, openTarget, type Problem, summarize } from '../src/problems';

const base: Problem = {
  file: 'examples/iris/bodywork.yaml',
  line: 12,
  path: 'stages.train.retries',
  message: 'must be a whole number',
  hint: 'write retries: 2',
  severity: 'error'
};

test('a problem reads as `bodywork validate` prints it', () => {
  assert.equal(
    formatProblem(base),
    'examples/iris/bodywork.yaml:12: stages.train.retries: must be a whole number - write retries: 2'
  );
  assert.equal(
    formatProblem({ ...base, severity: 'warning', hint: '' }),
    'examples/iris/bodywork.yaml:12: warning: stages.train.retries: must be a whole number'
  );
  assert.equal(
    formatProblem({ ...base, line: 0, path: '' }),
    'examples/iris/bodywork.yaml: must be a whole number - write retries: 2'
  );
});

test('a click opens the file at its line (0-based), or just the file', () => {
  assert.deepEqual(openTarget(base), { path: 'examples/iris/bodywork.yaml', line: 11 });
  assert.deepEqual(openTarget({ ...base, line: 0 }), {
    path: 'examples/iris/bodywork.yaml',
    line: null
  });
  assert.equal(openTarget({ ...base, file: 'request body' }), null);
  assert.equal(openTarget({ ...base, file: '' }), null);
  assert.equal(openTarget({ ...base, file: '/etc/passwd' }), null);
});

test('the summary counts errors and warnings', () => {
  const validation = {
    valid: false,
    config_file: 'x/bodywork.yaml',
    found: true,
    pipeline: null,
    version: null,
    errors: 2,
    warnings: 1,
    problems: []
  };
  assert.equal(summarize(validation), 'x/bodywork.yaml: 2 errors and 1 warning');
  assert.equal(
    summarize({ ...validation, valid: true, errors: 0, warnings: 0, pipeline: 'iris', version: '2.0' }),
    'x/bodywork.yaml is valid: pipeline iris (bodywork.yaml 2.0)'
  );
  assert.equal(
    summarize({ ...validation, valid: true, errors: 0, pipeline: 'iris', version: '1.1' }),
    'x/bodywork.yaml is valid: pipeline iris (bodywork.yaml 1.1), 1 warning'
  );
});
