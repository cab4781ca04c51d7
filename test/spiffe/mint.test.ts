import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  certificatesToPem,
  generateKeyPair,
  mintCaCertificate,
  mintX509Svid,
  mintX509SvidDer,
  parseCertificates,
  SpiffeId,
  SpiffeIdError,
  TrustDomain,
  X509SvidError,
} from '../../src/spiffe/index.js';
import { makeIntermediateCa, makeRootCa, openssl, tempDir, type TestCa } from './support.js';

const id = SpiffeId.parse('spiffe://example.org/ns/default/sa/web');

describe('mintX509Svid: openssl accepts the SVID profile', () => {
  let root: TestCa;
  let intermediate: TestCa;
  const tmp = tempDir();
  before(async () => {
    root = await makeRootCa();
    intermediate = await makeIntermediateCa(root);
  });
  after(() => tmp.cleanup());

  for (const purpose of ['sslclient', 'sslserver']) {
    it(`openssl verify -purpose ${purpose}, signed by the root`, () => {
      const leaf = mintX509Svid({
        spiffeId: id,
        publicKey: generateKeyPair().publicKey,
        caCert: root.cert,
        caKey: root.key,
        ttlSeconds: 3600,
      });
      const bundle = tmp.file('bundle.pem', certificatesToPem([root.cert]));
      const leafPem = tmp.file(`leaf-${purpose}.pem`, certificatesToPem([leaf]));
      const r = openssl(['verify', '-CAfile', bundle, '-purpose', purpose, leafPem]);
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, /: OK/);
    });
    it(`openssl verify -purpose ${purpose}, through an intermediate`, () => {
      const leaf = mintX509Svid({
        spiffeId: id,
        publicKey: generateKeyPair().publicKey,
        caCert: intermediate.cert,
        caKey: intermediate.key,
        ttlSeconds: 3600,
      });
      const bundle = tmp.file('bundle.pem', certificatesToPem([root.cert]));
      const untrusted = tmp.file('intermediate.pem', certificatesToPem([intermediate.cert]));
      const leafPem = tmp.file(`leaf-int-${purpose}.pem`, certificatesToPem([leaf]));
      const r = openssl(['verify', '-CAfile', bundle, '-untrusted', untrusted, '-purpose', purpose, leafPem]);
      assert.equal(r.status, 0, r.output);
      // Without the intermediate the chain must not verify: the check can fail.
      const r2 = openssl(['verify', '-CAfile', bundle, '-purpose', purpose, leafPem]);
      assert.notEqual(r2.status, 0);
    });
  }

  it('openssl x509 -text shows exactly one URI SAN, the key usages, CA:FALSE and the DNS SANs', () => {
    const leaf = mintX509Svid({
      spiffeId: id,
      publicKey: generateKeyPair().publicKey,
      caCert: root.cert,
      caKey: root.key,
      ttlSeconds: 3600,
      dnsNames: ['web.default.svc.cluster.local', '*.web.example'],
    });
    const r = openssl(['x509', '-text', '-noout', '-in', tmp.file('leaf-text.pem', leaf.toString())]);
    assert.equal(r.status, 0, r.output);
    assert.equal(r.output.match(/URI:/g)?.length, 1);
    assert.match(r.output, /URI:spiffe:\/\/example\.org\/ns\/default\/sa\/web/);
    assert.match(r.output, /DNS:web\.default\.svc\.cluster\.local, DNS:\*\.web\.example/);
    assert.match(r.output, /Key Usage: critical\s+Digital Signature, Key Encipherment, Key Agreement/);
    assert.match(
      r.output,
      /Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/,
    );
    assert.match(r.output, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(r.output, /Subject: C = US, O = SPIRE, CN = web\.default\.svc\.cluster\.local/);
    assert.match(r.output, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(r.output, /Subject Key Identifier/);
    assert.match(r.output, /Authority Key Identifier/);
  });

  it('CA certificates: CA:TRUE, keyCertSign|cRLSign, URI SAN spiffe://<td>', () => {
    for (const ca of [root, intermediate]) {
      const r = openssl(['x509', '-text', '-noout', '-in', tmp.file('ca.pem', ca.cert.toString())]);
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, /Basic Constraints: critical\s+CA:TRUE/);
      assert.match(r.output, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
      assert.match(r.output, /URI:spiffe:\/\/example\.org\s*$/m);
    }
    assert.ok(intermediate.cert.checkIssued(root.cert));
    assert.ok(intermediate.cert.verify(root.cert.publicKey));
  });
});

describe('mintX509Svid: validity and inputs', () => {
  let root: TestCa;
  const now = new Date('2030-01-01T00:00:00.000Z');
  before(async () => {
    root = await makeRootCa('example.org', { now, ttlSeconds: 7200 });
  });
  const base = () => ({
    spiffeId: id,
    publicKey: generateKeyPair().publicKey,
    caCert: root.cert,
    caKey: root.key,
  });

  it('notBefore = now − 10 s, notAfter = now + ttl', () => {
    const leaf = mintX509Svid({ ...base(), ttlSeconds: 600, now });
    assert.equal(new Date(leaf.validFrom).toISOString(), '2029-12-31T23:59:50.000Z');
    assert.equal(new Date(leaf.validTo).toISOString(), '2030-01-01T00:10:00.000Z');
  });
  it('notAfter is capped at the CA notAfter', () => {
    const leaf = mintX509Svid({ ...base(), ttlSeconds: 86_400, now });
    assert.equal(new Date(leaf.validTo).getTime(), new Date(root.cert.validTo).getTime());
  });
  it('DER variant is byte-compatible and honours a given serial', () => {
    const der = mintX509SvidDer({ ...base(), ttlSeconds: 60, now, serialNumber: Buffer.from([0x80, 1]) });
    const [cert] = parseCertificates(der);
    assert.equal(cert?.serialNumber, '8001');
    assert.ok(
      der.includes(Buffer.from([0x02, 0x03, 0x00, 0x80, 0x01])),
      'serial encoded as a positive INTEGER',
    );
  });
  it('takes the workload key as SPKI DER (from a CSR) with the same result', () => {
    const keys = generateKeyPair();
    const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
    const leaf = mintX509Svid({ ...base(), publicKey: spki, ttlSeconds: 60, now });
    assert.ok(leaf.publicKey.equals(keys.publicKey));
    assert.ok(leaf.verify(root.cert.publicKey));
    assert.throws(() => mintX509Svid({ ...base(), publicKey: spki.subarray(0, 40), ttlSeconds: 60, now }), {
      rule: 'invalid-key',
    });
  });
  it('random serials are positive and distinct', () => {
    const a = mintX509Svid({ ...base(), ttlSeconds: 60, now });
    const b = mintX509Svid({ ...base(), ttlSeconds: 60, now });
    assert.notEqual(a.serialNumber, b.serialNumber);
  });
  const rejects: [string, () => unknown, string][] = [
    [
      'a trust domain ID as leaf ID',
      () => mintX509Svid({ ...base(), spiffeId: SpiffeId.parse('spiffe://example.org'), ttlSeconds: 60 }),
      'leaf-root-id',
    ],
    ['a zero TTL', () => mintX509Svid({ ...base(), ttlSeconds: 0, now }), 'invalid-ttl'],
    [
      'a bad DNS name',
      () => mintX509Svid({ ...base(), ttlSeconds: 60, now, dnsNames: ['a..b'] }),
      'invalid-dns-name',
    ],
    [
      'an expired CA',
      () => mintX509Svid({ ...base(), ttlSeconds: 60, now: new Date('2031-01-01T00:00:00Z') }),
      'issuer-expired',
    ],
    [
      'a SPIFFE ID longer than 2048 bytes (SPIFFE-ID §2: not generated)',
      () =>
        mintX509Svid({
          ...base(),
          spiffeId: SpiffeId.parse(`spiffe://example.org/${'a'.repeat(2028)}`),
          ttlSeconds: 60,
          now,
        }),
      'too-long',
    ],
    [
      'a key that is not the CA key',
      () => mintX509Svid({ ...base(), caKey: generateKeyPair().privateKey, ttlSeconds: 60, now }),
      'issuer-key-mismatch',
    ],
  ];
  for (const [what, fn, rule] of rejects) {
    it(`rejects ${what} (${rule})`, () => {
      const family = rule === 'too-long' ? SpiffeIdError : X509SvidError;
      assert.throws(fn, (err: unknown) => err instanceof family && err.rule === rule);
    });
  }
  it('rejects a non-CA signer (issuer-not-ca)', () => {
    const leafKeys = generateKeyPair();
    const leaf = mintX509Svid({ ...base(), publicKey: leafKeys.publicKey, ttlSeconds: 600, now });
    assert.throws(
      () => mintX509Svid({ ...base(), caCert: leaf, caKey: leafKeys.privateKey, ttlSeconds: 60, now }),
      { rule: 'issuer-not-ca' },
    );
  });
  it('an intermediate CA is capped at its signer notAfter', async () => {
    const keys = generateKeyPair();
    const ca = await mintCaCertificate({
      trustDomain: TrustDomain.parse('example.org'),
      publicKey: keys.publicKey,
      ttlSeconds: 999_999,
      signer: { cert: root.cert, key: root.key },
      now,
    });
    assert.equal(new Date(ca.validTo).getTime(), new Date(root.cert.validTo).getTime());
  });
});
