/**
 * Bad `--config` shapes are rejected with a ConfigError naming the field, not a TypeError and not
 * silently ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseBootstrap } from '../../src/proxy/index.js';

const noFiles = (f: string): string => {
  throw new Error(`unexpected read of ${f}`);
};

function rejects(raw: unknown, field: RegExp): void {
  assert.throws(
    () => parseBootstrap(raw, noFiles),
    (err: Error) => {
      assert.ok(err instanceof ConfigError, `${err.name}: ${err.message}`);
      assert.match(err.message, field);
      return true;
    },
  );
}

test('a bootstrap that is not an object is rejected naming the top level', () => {
  for (const raw of [null, [], 'text', 5]) rejects(raw, /\(top level\): must be a Bootstrap object/);
});

test('static_resources lists that are not lists, or hold non-objects, are rejected naming the field', () => {
  rejects({ static_resources: { listeners: { a: 1 } } }, /static_resources\.listeners: must be a list/);
  rejects({ static_resources: { clusters: 'c' } }, /static_resources\.clusters: must be a list/);
  rejects({ static_resources: { listeners: [null] } }, /static_resources\.listeners\[0\]: must be an object/);
  rejects({ static_resources: { secrets: [7] } }, /static_resources\.secrets\[0\]: must be an object/);
});

test('absent static_resources lists are still fine', () => {
  assert.deepEqual(parseBootstrap({ node: { id: 'n' } }, noFiles).listeners, []);
});
