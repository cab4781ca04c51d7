import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeSingleDashFlags } from '../../src/cli/flags.js';

test('spire-style single-dash long flags become double-dash; short flags and passthrough args do not', () => {
  assert.deepEqual(
    normalizeSingleDashFlags([
      'entry',
      'create',
      '-spiffeID',
      'spiffe://td/a',
      '-selector=k8s:ns:x',
      '-n',
      'ns',
      '--output',
      'json',
      '-o',
      'yaml',
      '--',
      'curl',
      '-sS',
      '-H',
      'color_header: blue',
    ]),
    [
      'entry',
      'create',
      '--spiffeID',
      'spiffe://td/a',
      '--selector=k8s:ns:x',
      '-n',
      'ns',
      '--output',
      'json',
      '-o',
      'yaml',
      '--',
      'curl',
      '-sS',
      '-H',
      'color_header: blue',
    ],
  );
});

test('values that merely start with a dash and numbers are left alone', () => {
  assert.deepEqual(normalizeSingleDashFlags(['-ttl', '-1', '-x9']), ['--ttl', '-1', '--x9']);
});
