import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  BundleError,
  BundleSet,
  generateKeyPair,
  JwtBundle,
  SpiffeBundle,
  TrustDomain,
  X509Bundle,
} from '../../src/spiffe/index.js';
import { makeRootCa, type TestCa } from './support.js';

const td = TrustDomain.parse('example.org');

function assertRule(fn: () => unknown, rule: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BundleError, `expected BundleError, got ${String(err)}`);
    assert.equal(err.rule, rule, err.message);
    return true;
  });
}

describe('X509Bundle', () => {
  let a: TestCa;
  let b: TestCa;
  before(async () => {
    [a, b] = await Promise.all([makeRootCa(), makeRootCa()]);
  });
  it('parses PEM and concatenated DER, round-trips, dedupes by DER', () => {
    const bundle = new X509Bundle(td, [a.cert, b.cert, a.cert]);
    assert.equal(bundle.authorities().length, 2);
    for (const form of [bundle.toPem(), bundle.toDer(), Buffer.from(bundle.toPem())]) {
      const parsed = X509Bundle.parse(td, form);
      assert.ok(parsed.equals(bundle));
    }
    bundle.removeAuthority(a.cert);
    assert.ok(!bundle.hasAuthority(a.cert));
    assert.ok(bundle.hasAuthority(b.cert));
  });
  it('zero-length input is an empty bundle (trusts nothing)', () => {
    assert.ok(X509Bundle.parse(td, Buffer.alloc(0)).isEmpty());
  });
  it('malformed-x509', () => {
    assertRule(() => X509Bundle.parse(td, Buffer.from([0x30, 0x82, 0xff])), 'malformed-x509');
    assertRule(() => X509Bundle.parse(td, 'not pem'), 'malformed-x509');
  });
  it('is a source only for its own trust domain', () => {
    const bundle = new X509Bundle(td, [a.cert]);
    assert.equal(bundle.getX509BundleForTrustDomain(td), bundle);
    assert.equal(bundle.getX509BundleForTrustDomain(TrustDomain.parse('other.org')), undefined);
  });
});

describe('JwtBundle (standard JWKS, Workload API form)', () => {
  const k1 = generateKeyPair();
  const k2 = generateKeyPair();
  it('round-trips through toJwks without use', () => {
    const bundle = new JwtBundle(
      td,
      new Map([
        ['a', k1.publicKey],
        ['b', k2.privateKey],
      ]),
    );
    const doc = JSON.parse(bundle.toJwks()) as { keys: Record<string, unknown>[] };
    assert.deepEqual(
      doc.keys.map((k) => [k.kid, k.kty, k.crv, k.use, k.d]),
      [
        ['a', 'EC', 'P-256', undefined, undefined],
        ['b', 'EC', 'P-256', undefined, undefined],
      ],
    );
    const parsed = JwtBundle.parseJwks(td, bundle.toJwks());
    assert.deepEqual([...parsed.keys().keys()], ['a', 'b']);
    assert.ok(parsed.findKey('a')?.equals(k1.publicKey));
  });
  const jwk = { ...k1.publicKey.export({ format: 'jwk' }), kid: 'a' };
  it('ignores keys of unknown kty or of another use', () => {
    const parsed = JwtBundle.parseJwks(
      td,
      JSON.stringify({ keys: [{ kty: 'oct', k: 'AA' }, { ...jwk, use: 'x509-svid' }, jwk] }),
    );
    assert.deepEqual([...parsed.keys().keys()], ['a']);
  });
  const rows: [string, string, string][] = [
    ['not JSON', '{', 'malformed-json'],
    ['not an object', '[]', 'malformed-json'],
    ['no keys', '{}', 'missing-keys'],
    ['a key without kid', JSON.stringify({ keys: [{ ...jwk, kid: undefined }] }), 'missing-kid'],
    ['a duplicate kid', JSON.stringify({ keys: [jwk, jwk] }), 'duplicate-kid'],
    [
      'private key material',
      JSON.stringify({ keys: [{ ...k1.privateKey.export({ format: 'jwk' }), kid: 'p' }] }),
      'private-key',
    ],
    ['a key that does not import', JSON.stringify({ keys: [{ ...jwk, x: 'AAAA' }] }), 'invalid-jwk'],
  ];
  for (const [what, json, rule] of rows)
    it(`rejects ${what} (${rule})`, () => assertRule(() => JwtBundle.parseJwks(td, json), rule));
});

describe('SpiffeBundle (reference §d.1)', () => {
  let a: TestCa;
  let b: TestCa;
  const jk = generateKeyPair();
  before(async () => {
    [a, b] = await Promise.all([makeRootCa(), makeRootCa()]);
  });
  const x509Jwk = (ca: TestCa) => ({
    use: 'x509-svid',
    ...ca.cert.publicKey.export({ format: 'jwk' }),
    x5c: [ca.cert.raw.toString('base64')],
  });
  const jwtJwk = { use: 'jwt-svid', ...jk.publicKey.export({ format: 'jwk' }), kid: 'k1' };

  it('serialises as SPIRE does and parses back', () => {
    const bundle = new SpiffeBundle(td, {
      x509: [a.cert, b.cert],
      jwt: new Map([['k1', jk.publicKey]]),
      sequence: 7,
      refreshHintSeconds: 300,
    });
    const json = bundle.toJson();
    assert.match(json, /^\{\n {4}"keys": \[/);
    const doc = JSON.parse(json) as {
      keys: Record<string, unknown>[];
      spiffe_sequence: number;
      spiffe_refresh_hint: number;
    };
    assert.equal(doc.spiffe_sequence, 7);
    assert.equal(doc.spiffe_refresh_hint, 300);
    assert.deepEqual(
      doc.keys.map((k) => [k.use, k.kid, Array.isArray(k.x5c) ? k.x5c.length : undefined]),
      [
        ['x509-svid', undefined, 1],
        ['x509-svid', undefined, 1],
        ['jwt-svid', 'k1', undefined],
      ],
    );
    const parsed = SpiffeBundle.parse(td, json);
    assert.ok(parsed.x509.equals(bundle.x509));
    assert.ok(parsed.jwt.findKey('k1')?.equals(jk.publicKey));
    assert.equal(parsed.sequence, 7);
    assert.equal(parsed.refreshHintSeconds, 300);
    assert.equal(parsed.getX509BundleForTrustDomain(td), parsed.x509);
    assert.equal(parsed.getJwtBundleForTrustDomain(TrustDomain.parse('other.org')), undefined);
  });
  it('omits zero/unset sequence and refresh hint; empty keys is valid (everything revoked)', () => {
    const json = new SpiffeBundle(td, { sequence: 0 }).toJson();
    assert.deepEqual(JSON.parse(json), { keys: [] });
    const parsed = SpiffeBundle.parse(td, '{"keys": []}');
    assert.ok(parsed.x509.isEmpty() && parsed.jwt.isEmpty());
  });
  it('keeps a uint64 spiffe_sequence exact', () => {
    const json = `{"keys": [], "spiffe_sequence": 18446744073709551615, "note": {"spiffe_sequence": 1}}`;
    const parsed = SpiffeBundle.parse(td, json);
    assert.equal(parsed.sequenceBigInt, 18446744073709551615n);
    assert.match(parsed.toJson(), /"spiffe_sequence": 18446744073709551615\n/);
  });
  it('ignores JWKs with missing/unknown use or unknown kty; allows unknown members', () => {
    const { use: _use, ...noUse } = x509Jwk(a);
    const json = JSON.stringify({
      extra: true,
      keys: [noUse, { ...x509Jwk(a), use: 'wit-svid' }, { ...x509Jwk(a), kty: 'FOO' }, x509Jwk(b)],
    });
    const parsed = SpiffeBundle.parse(td, json);
    assert.equal(parsed.x509.authorities().length, 1);
    assert.ok(parsed.x509.hasAuthority(b.cert));
  });

  const doc = (keys: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ keys, ...extra });
  const rows: [string, () => string, string][] = [
    ['not JSON', () => 'nope', 'malformed-json'],
    ['no keys member', () => '{"spiffe_sequence": 1}', 'missing-keys'],
    ['keys not an array', () => '{"keys": {}}', 'missing-keys'],
    ['a key entry that is not an object', () => doc([1]), 'invalid-key-entry'],
    ['x5c with zero certificates', () => doc([{ ...x509Jwk(a), x5c: [] }]), 'x5c-count'],
    [
      'x5c with two certificates',
      () => doc([{ ...x509Jwk(a), x5c: [...x509Jwk(a).x5c, ...x509Jwk(b).x5c] }]),
      'x5c-count',
    ],
    ['x5c missing', () => doc([{ ...x509Jwk(a), x5c: undefined }]), 'x5c-count'],
    [
      'x5c in base64url',
      () => doc([{ ...x509Jwk(a), x5c: [a.cert.raw.toString('base64url')] }]),
      'x5c-malformed',
    ],
    ['x5c not a certificate', () => doc([{ ...x509Jwk(a), x5c: ['AAAA'] }]), 'x5c-malformed'],
    [
      'x5c certificate not matching the JWK key',
      () => doc([{ ...x509Jwk(a), x5c: x509Jwk(b).x5c }]),
      'x5c-key-mismatch',
    ],
    ['a jwt-svid key without kid', () => doc([{ ...jwtJwk, kid: undefined }]), 'missing-kid'],
    ['a jwt-svid key with private material', () => doc([{ ...jwtJwk, d: 'AAAA' }]), 'private-key'],
    ['a negative spiffe_sequence', () => doc([], { spiffe_sequence: -1 }), 'invalid-sequence'],
    ['a fractional spiffe_sequence', () => doc([], { spiffe_sequence: 1.5 }), 'invalid-sequence'],
    ['a string spiffe_sequence', () => doc([], { spiffe_sequence: '1' }), 'invalid-sequence'],
    [
      'a spiffe_sequence beyond uint64',
      () => '{"keys": [], "spiffe_sequence": 18446744073709551616}',
      'invalid-sequence',
    ],
    ['a negative spiffe_refresh_hint', () => doc([], { spiffe_refresh_hint: -5 }), 'invalid-refresh-hint'],
  ];
  for (const [what, json, rule] of rows)
    it(`rejects ${what} (${rule})`, () => assertRule(() => SpiffeBundle.parse(td, json()), rule));
});

describe('BundleSet', () => {
  it('merges X.509 and JWT parts per trust domain and never mixes trust domains', async () => {
    const a = await makeRootCa();
    const other = TrustDomain.parse('other.org');
    const set = new BundleSet();
    set.add(new X509Bundle(td, [a.cert]));
    set.add(new JwtBundle(td, new Map([['k', generateKeyPair().publicKey]])));
    set.add(new JwtBundle(other));
    assert.deepEqual(set.trustDomains().map(String), ['example.org', 'other.org']);
    const combined = set.get(td);
    assert.ok(combined?.x509.hasAuthority(a.cert));
    assert.ok(combined?.jwt.hasKey('k'));
    assert.equal(set.getX509BundleForTrustDomain(other), undefined);
    assert.ok(set.getJwtBundleForTrustDomain(other)?.isEmpty());
    set.remove(td);
    assert.equal(set.get(td), undefined);
    assert.equal(set.size, 1);
  });
});
