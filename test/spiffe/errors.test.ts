/**
 * TrustmeshError, the root of every area's error classes: `instanceof` matches the class and its
 * ancestors only (never a sibling rule, never another area's class of the same name), and still
 * holds for errors made by a second loaded copy of the package (undici's `Symbol.for` brand idea).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpiffeError, SpiffeIdError, TrustmeshError, X509SvidError } from '../../src/spiffe/index.js';
import type * as SpiffeModule from '../../src/spiffe/index.js';

class AreaError extends TrustmeshError {}
class RuleA extends AreaError {}
class RuleB extends AreaError {}
class OtherAreaError extends TrustmeshError {}
/** Same name as the subclass above, in another area. */
const OtherRuleA = { RuleA: class RuleA extends OtherAreaError {} }.RuleA;

test('a rule error is an instance of its class, its area base, TrustmeshError and Error', () => {
  const e = new RuleA('TM_ERR_TEST_A', 'a broke', { cause: new Error('below') });
  for (const cls of [RuleA, AreaError, TrustmeshError, Error]) assert.ok(e instanceof cls, cls.name);
  assert.equal(e.name, 'RuleA');
  assert.equal(e.code, 'TM_ERR_TEST_A');
  assert.equal((e.cause as Error).message, 'below');
  assert.ok(!('cause' in new RuleA('TM_ERR_TEST_A', 'no cause')), 'no cause property unless given');
});

test('a sibling rule, another area and a same-named class of another area do not match', () => {
  const e = new RuleA('TM_ERR_TEST_A', 'a broke');
  assert.ok(!(e instanceof RuleB));
  assert.ok(!(e instanceof OtherAreaError));
  assert.ok(!(e instanceof OtherRuleA));
  assert.ok(!(new OtherRuleA('TM_ERR_OTHER_A', 'x') instanceof RuleA));
  assert.ok(!(new Error('plain') instanceof TrustmeshError));
  assert.ok(!TrustmeshError[Symbol.hasInstance](null));
  const id = new SpiffeIdError('dot-segment', 'spiffe://td/./x', 'dot segment');
  assert.ok(id instanceof SpiffeError);
  assert.ok(!(id instanceof X509SvidError));
});

test('errors of a second loaded copy of trustmesh/spiffe match the classes of this one', async () => {
  // The errors module itself: a copy of the index would still share the one errors module.
  const copy = (await import(
    new URL('../../src/spiffe/errors.ts?second-copy', import.meta.url).href
  )) as typeof SpiffeModule;
  assert.notEqual(copy.SpiffeIdError, SpiffeIdError, 'really a second copy');
  const fromCopy = new copy.SpiffeIdError('empty', '', 'empty');
  for (const cls of [SpiffeIdError, SpiffeError, TrustmeshError])
    assert.ok(fromCopy instanceof cls, cls.name);
  assert.ok(!(fromCopy instanceof X509SvidError));
  assert.equal(fromCopy.code, 'TM_ERR_SPIFFEID_EMPTY');
});
