import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  BundleSet,
  certificatesToDer,
  certificatesToPem,
  generateKeyPair,
  mintCaCertificate,
  mintX509Svid,
  SpiffeId,
  TrustDomain,
  verifyX509Svid,
  X509Bundle,
  X509Svid,
  X509SvidError,
  type X509BundleSource,
} from '../../src/spiffe/index.js';
import type { X509Certificate } from 'node:crypto';
import { customCert, makeIntermediateCa, makeRootCa, x509, type TestCa } from './support.js';

const td = TrustDomain.parse('example.org');
const id = SpiffeId.parse('spiffe://example.org/workload');
const KU = x509.KeyUsageFlags;
const leafKu = KU.digitalSignature | KU.keyEncipherment | KU.keyAgreement;

function assertRule(fn: () => unknown, rule: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof X509SvidError, `expected X509SvidError, got ${String(err)}`);
    assert.equal(err.rule, rule, err.message);
    return true;
  });
}

describe('verifyX509Svid: one row per X509-SVID §5 rule', () => {
  let root: TestCa;
  let intermediate: TestCa;
  let bundles: X509BundleSource;
  const mint = (
    ca: TestCa,
    o: { spiffeId?: SpiffeId; now?: Date; ttlSeconds?: number } = {},
  ): X509Certificate =>
    mintX509Svid({
      spiffeId: o.spiffeId ?? id,
      publicKey: generateKeyPair().publicKey,
      caCert: ca.cert,
      caKey: ca.key,
      ttlSeconds: o.ttlSeconds ?? 3600,
      ...(o.now ? { now: o.now } : {}),
    });

  before(async () => {
    root = await makeRootCa();
    intermediate = await makeIntermediateCa(root);
    bundles = new X509Bundle(td, [root.cert]);
  });

  it('valid: leaf signed by a bundle authority', () => {
    const leaf = mint(root);
    const r = verifyX509Svid([leaf], bundles);
    assert.equal(r.spiffeId.toString(), id.toString());
    assert.deepEqual(
      r.verifiedChain.map((c) => c.fingerprint256),
      [leaf, root.cert].map((c) => c.fingerprint256),
    );
  });
  it('valid: through an intermediate, from PEM and from concatenated DER', () => {
    const leaf = mint(intermediate);
    for (const chain of [
      [leaf, intermediate.cert],
      certificatesToPem([leaf, intermediate.cert]),
      certificatesToDer([leaf, intermediate.cert]),
    ]) {
      const r = verifyX509Svid(chain, bundles);
      assert.equal(r.verifiedChain.length, 3);
      assert.equal(r.spiffeId.toString(), id.toString());
    }
  });
  it('valid: a BundleSet picks the bundle of the leaf trust domain', async () => {
    const other = await makeRootCa('other.org');
    const set = new BundleSet([
      new X509Bundle(TrustDomain.parse('other.org'), [other.cert]),
      new X509Bundle(td, [root.cert]),
    ]);
    assert.equal(verifyX509Svid([mint(root)], set).spiffeId.toString(), id.toString());
  });

  it('valid: an independently minted (@peculiar/x509) leaf, so the negative rows differ only in their rule', async () => {
    const leaf = await customCert({
      issuer: intermediate,
      keyUsage: leafKu,
      ca: false,
      uris: [id.toString()],
    });
    assert.equal(verifyX509Svid([leaf.cert, intermediate.cert], bundles).spiffeId.toString(), id.toString());
  });
  it('chain-empty', () => {
    assertRule(() => verifyX509Svid([], bundles), 'chain-empty');
    assertRule(() => verifyX509Svid('', bundles), 'chain-empty');
  });
  it('chain-too-long', () => {
    const leaf = mint(root);
    assertRule(
      () =>
        verifyX509Svid(
          Array.from({ length: 17 }, () => leaf),
          bundles,
        ),
      'chain-too-long',
    );
  });
  it('malformed', () => {
    assertRule(() => verifyX509Svid(Buffer.from([0x30, 0x03, 1, 2, 3]), bundles), 'malformed');
    assertRule(
      () => verifyX509Svid('-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n', bundles),
      'malformed',
    );
  });
  it('leaf-no-uri-san', async () => {
    const leaf = await customCert({ issuer: root, keyUsage: leafKu, ca: false });
    assertRule(() => verifyX509Svid([leaf.cert], bundles), 'leaf-no-uri-san');
  });
  it('leaf-multiple-uri-sans', async () => {
    const leaf = await customCert({
      issuer: root,
      keyUsage: leafKu,
      uris: [id.toString(), 'spiffe://example.org/other'],
    });
    assertRule(() => verifyX509Svid([leaf.cert], bundles), 'leaf-multiple-uri-sans');
  });
  it('leaf-invalid-spiffe-id', async () => {
    const leaf = await customCert({ issuer: root, keyUsage: leafKu, uris: ['https://example.org/workload'] });
    assertRule(() => verifyX509Svid([leaf.cert], bundles), 'leaf-invalid-spiffe-id');
  });
  it('leaf-root-id', async () => {
    const leaf = await customCert({ issuer: root, keyUsage: leafKu, uris: ['spiffe://example.org'] });
    assertRule(() => verifyX509Svid([leaf.cert], bundles), 'leaf-root-id');
  });
  it('leaf-is-ca', async () => {
    const leaf = await customCert({ issuer: root, ca: true, keyUsage: leafKu, uris: [id.toString()] });
    assertRule(() => verifyX509Svid([leaf.cert], bundles), 'leaf-is-ca');
  });
  it('leaf-key-cert-sign', async () => {
    const leaf = await customCert({ issuer: root, keyUsage: leafKu | KU.keyCertSign, uris: [id.toString()] });
    assertRule(() => verifyX509Svid([leaf.cert], bundles), 'leaf-key-cert-sign');
  });
  it('leaf-crl-sign', async () => {
    const leaf = await customCert({ issuer: root, keyUsage: leafKu | KU.cRLSign, uris: [id.toString()] });
    assertRule(() => verifyX509Svid([leaf.cert], bundles), 'leaf-crl-sign');
  });
  it('leaf-no-digital-signature', async () => {
    const leaf = await customCert({ issuer: root, keyUsage: KU.keyEncipherment, uris: [id.toString()] });
    assertRule(() => verifyX509Svid([leaf.cert], bundles), 'leaf-no-digital-signature');
    const noKu = await customCert({ issuer: root, uris: [id.toString()] });
    assertRule(() => verifyX509Svid([noKu.cert], bundles), 'leaf-no-digital-signature');
  });
  it('unhandled-critical-extension', async () => {
    const leaf = await customCert({
      issuer: root,
      keyUsage: leafKu,
      uris: [id.toString()],
      extensions: [new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([0x05, 0x00]))],
    });
    assertRule(() => verifyX509Svid([leaf.cert], bundles), 'unhandled-critical-extension');
  });
  it('no-bundle: the bundle of another trust domain is never used, even if it holds the issuer', () => {
    const foreign = mint(root, { spiffeId: SpiffeId.parse('spiffe://other.org/workload') });
    assertRule(() => verifyX509Svid([foreign], bundles), 'no-bundle');
    const pooled = new BundleSet([new X509Bundle(TrustDomain.parse('other.org'), [root.cert])]);
    assertRule(() => verifyX509Svid([mint(root)], pooled), 'no-bundle');
  });
  it('untrusted: signed by a CA outside the bundle', async () => {
    const rogue = await makeRootCa();
    assertRule(() => verifyX509Svid([mint(rogue)], bundles), 'untrusted');
  });
  it('untrusted: the intermediate is missing from the chain', () => {
    assertRule(() => verifyX509Svid([mint(intermediate)], bundles), 'untrusted');
  });
  it('untrusted: an empty bundle trusts nothing', () => {
    assertRule(() => verifyX509Svid([mint(root)], new X509Bundle(td)), 'untrusted');
  });
  it('untrusted: a tampered signature', () => {
    const der = Buffer.from(mint(root).raw);
    der[der.length - 5]! ^= 0x01;
    assertRule(() => verifyX509Svid(der, bundles), 'untrusted');
  });
  it('expired: the leaf, at an injected now', () => {
    const leaf = mint(root, { ttlSeconds: 60 });
    assertRule(() => verifyX509Svid([leaf], bundles, { now: new Date(Date.now() + 120_000) }), 'expired');
  });
  it('not-yet-valid: the leaf, at an injected now', () => {
    const leaf = mint(root);
    assertRule(
      () => verifyX509Svid([leaf], bundles, { now: new Date(Date.now() - 60_000) }),
      'not-yet-valid',
    );
  });
  it('expired: an intermediate', async () => {
    const expired = await customCert({
      issuer: root,
      ca: true,
      keyUsage: KU.keyCertSign,
      notAfter: new Date(Date.now() - 1000),
    });
    const leaf = await customCert({ issuer: expired, keyUsage: leafKu, uris: [id.toString()] });
    assertRule(() => verifyX509Svid([leaf.cert, expired.cert], bundles), 'expired');
  });
  it('expired: the bundle authority', async () => {
    const oldRoot = await customCert({
      ca: true,
      keyUsage: KU.keyCertSign,
      notAfter: new Date(Date.now() - 1000),
    });
    const leaf = await customCert({ issuer: oldRoot, keyUsage: leafKu, uris: [id.toString()] });
    assertRule(() => verifyX509Svid([leaf.cert], new X509Bundle(td, [oldRoot.cert])), 'expired');
  });
  it('intermediate-not-ca', async () => {
    const notCa = await customCert({
      issuer: root,
      ca: false,
      keyUsage: KU.digitalSignature | KU.keyCertSign,
    });
    const leaf = await customCert({ issuer: notCa, keyUsage: leafKu, uris: [id.toString()] });
    assertRule(() => verifyX509Svid([leaf.cert, notCa.cert], bundles), 'intermediate-not-ca');
    const noCertSign = await customCert({ issuer: root, ca: true, keyUsage: KU.cRLSign });
    const leaf2 = await customCert({ issuer: noCertSign, keyUsage: leafKu, uris: [id.toString()] });
    assertRule(() => verifyX509Svid([leaf2.cert, noCertSign.cert], bundles), 'intermediate-not-ca');
  });
  it('path-length', async () => {
    const keys = generateKeyPair();
    const strictRoot = await mintCaCertificate({
      trustDomain: td,
      publicKey: keys.publicKey,
      privateKey: keys.privateKey,
      ttlSeconds: 3600,
      pathLength: 0,
    });
    const ca = { cert: strictRoot, key: keys.privateKey, keys };
    const inter = await makeIntermediateCa(ca);
    assertRule(
      () => verifyX509Svid([mint(inter), inter.cert], new X509Bundle(td, [strictRoot])),
      'path-length',
    );
    assert.ok(verifyX509Svid([mint(ca)], new X509Bundle(td, [strictRoot])));
  });
});

describe('X509Svid: go-spiffe ParseRaw rules', () => {
  let root: TestCa;
  let intermediate: TestCa;
  before(async () => {
    root = await makeRootCa();
    intermediate = await makeIntermediateCa(root);
  });
  const mintPair = (ca: TestCa) => {
    const keys = generateKeyPair();
    const cert = mintX509Svid({
      spiffeId: id,
      publicKey: keys.publicKey,
      caCert: ca.cert,
      caKey: ca.key,
      ttlSeconds: 3600,
    });
    return { cert, keys };
  };

  it('round-trips DER (Workload API) and PEM (SDS)', () => {
    const { cert, keys } = mintPair(intermediate);
    const svid = new X509Svid([cert, intermediate.cert], keys.privateKey, 'internal');
    const fromDer = X509Svid.parse(svid.certChainDer(), svid.privateKeyDer(), svid.hint);
    assert.equal(fromDer.spiffeId.toString(), id.toString());
    assert.equal(fromDer.hint, 'internal');
    assert.equal(fromDer.certificates.length, 2);
    const fromPem = X509Svid.parse(svid.certChainPem(), svid.privateKeyPem());
    assert.match(svid.privateKeyPem(), /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(fromPem.expiresAt().getTime(), new Date(cert.validTo).getTime());
    assert.ok(verifyX509Svid(fromPem.certificates, new X509Bundle(td, [root.cert])));
  });
  it('key-mismatch', () => {
    const { cert } = mintPair(root);
    assertRule(() => new X509Svid([cert], generateKeyPair().privateKey), 'key-mismatch');
  });
  it('intermediate-not-ca: a non-CA after the leaf', () => {
    const a = mintPair(root);
    const b = mintPair(root);
    assertRule(() => new X509Svid([a.cert, b.cert], a.keys.privateKey), 'intermediate-not-ca');
  });
  it('malformed: bad key bytes', () => {
    const { cert } = mintPair(root);
    assertRule(() => X509Svid.parse(cert.raw, Buffer.from('nope')), 'malformed');
  });
  it('leaf rules apply (a CA is not an SVID)', () => {
    assertRule(() => new X509Svid([root.cert], root.key), 'leaf-root-id');
  });
});
