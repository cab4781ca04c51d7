/**
 * Label selector semantics (k8s LabelSelectorAsSelector, reference §a.0): nil selects nothing, `{}`
 * selects everything, matchLabels and matchExpressions all hold; SelectorIndex agrees with selectorMatches.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  SelectorIndex,
  optionalSelectorMatches,
  selectorMatches,
  type LabelSelector,
} from '../../../src/mesh/model/index.js';

const rows: [string, LabelSelector | undefined, Record<string, string> | undefined, boolean][] = [
  ['nil selector selects nothing', undefined, { app: 'a' }, false],
  ['empty selector selects everything', {}, { app: 'a' }, true],
  ['empty selector selects an unlabelled object', {}, undefined, true],
  ['matchLabels subset', { matchLabels: { app: 'color' } }, { app: 'color', version: 'blue' }, true],
  [
    'matchLabels value differs',
    { matchLabels: { app: 'color', version: 'red' } },
    { app: 'color', version: 'blue' },
    false,
  ],
  ['matchLabels key absent', { matchLabels: { app: 'color' } }, {}, false],
  ['In', { matchExpressions: [{ key: 'v', operator: 'In', values: ['a', 'b'] }] }, { v: 'b' }, true],
  ['In, key absent', { matchExpressions: [{ key: 'v', operator: 'In', values: ['a'] }] }, {}, false],
  ['NotIn, key absent', { matchExpressions: [{ key: 'v', operator: 'NotIn', values: ['a'] }] }, {}, true],
  [
    'NotIn, value listed',
    { matchExpressions: [{ key: 'v', operator: 'NotIn', values: ['a'] }] },
    { v: 'a' },
    false,
  ],
  ['Exists', { matchExpressions: [{ key: 'v', operator: 'Exists' }] }, { v: '' }, true],
  ['DoesNotExist', { matchExpressions: [{ key: 'v', operator: 'DoesNotExist' }] }, { v: 'x' }, false],
  [
    'labels and expressions must all hold',
    { matchLabels: { app: 'a' }, matchExpressions: [{ key: 'v', operator: 'Exists' }] },
    { app: 'a' },
    false,
  ],
];

describe('selectorMatches', () => {
  for (const [name, selector, labels, expected] of rows) {
    it(name, () => assert.equal(selectorMatches(selector, labels), expected));
  }
  it('gatewayRouteSelector: nil selects all', () => {
    assert.equal(optionalSelectorMatches(undefined, { any: 'x' }), true);
    assert.equal(optionalSelectorMatches({ matchLabels: { a: 'b' } }, {}), false);
  });
});

describe('SelectorIndex', () => {
  it('finds exactly what selectorMatches finds, per namespace, in insertion order', () => {
    const index = new SelectorIndex<string>();
    rows.forEach(([name, selector], i) => index.add(i % 2 ? 'ns-b' : 'ns-a', selector, name));
    for (const [, , labels] of rows) {
      for (const ns of ['ns-a', 'ns-b']) {
        const expected = rows
          .filter(([, sel], i) => (i % 2 ? 'ns-b' : 'ns-a') === ns && selectorMatches(sel, labels))
          .map(([n]) => n);
        assert.deepEqual(index.match(ns, labels), expected);
      }
    }
    assert.deepEqual(index.match('elsewhere', { app: 'color' }), []);
  });
});
