import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCsr, CsrError, generateKeyPair, parseCsr, SpiffeId } from '../../src/spiffe/index.js';
import { openssl, opensslNewP256Key, tempDir } from './support.js';

const id = SpiffeId.parse('spiffe://example.org/spire/agent/join_token/abc');

/** `openssl req -verify -text` on a DER CSR: its exit status and output (openssl as the independent reader). */
function opensslReadCsr(der: Uint8Array): { status: number | null; output: string } {
  const tmp = tempDir();
  try {
    const path = join(tmp.dir, 'csr.der');
    writeFileSync(path, der);
    return openssl(['req', '-inform', 'DER', '-in', path, '-verify', '-noout', '-text']);
  } finally {
    tmp.cleanup();
  }
}

describe('CSR', () => {
  it('round-trips the public key and SANs; openssl verifies the self-signature', async () => {
    const keys = generateKeyPair();
    const der = await createCsr(keys, { spiffeId: id, dnsNames: ['agent.example.org'] });
    const parsed = await parseCsr(der);
    assert.ok(parsed.publicKey.equals(keys.publicKey));
    assert.ok(parsed.publicKeyDer.equals(keys.publicKey.export({ type: 'spki', format: 'der' })));
    assert.deepEqual(parsed.uris, [id.toString()]);
    assert.deepEqual(parsed.dnsNames, ['agent.example.org']);
    assert.notEqual(opensslReadCsr(Buffer.alloc(0)).status, 0, 'an empty file must not verify');
    const ok = opensslReadCsr(der);
    assert.equal(ok.status, 0, ok.output);
    assert.match(ok.output, /verify OK/i);
  });
  it('the DER template CSR reads back in openssl: P-256 key, empty subject, the URI SAN as requested extension', async () => {
    const keys = generateKeyPair();
    const der = await createCsr(keys, { spiffeId: id });
    const r = opensslReadCsr(der);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /verify OK/i);
    assert.match(r.output, /Version: 1 \(0x0\)/);
    assert.match(r.output, /Subject:\s*\n/);
    assert.match(r.output, /ASN1 OID: prime256v1/);
    assert.match(
      r.output,
      /Requested Extensions:[\s\S]*Subject Alternative Name:\s*\n\s*URI:spiffe:\/\/example\.org\/spire\/agent\/join_token\/abc\s*\n/,
    );
    assert.match(r.output, /Signature Algorithm: ecdsa-with-SHA256/);
    const parsed = await parseCsr(der);
    assert.deepEqual(parsed.uris, [id.toString()]);
    assert.deepEqual(parsed.dnsNames, []);
    assert.ok(parsed.publicKey.equals(keys.publicKey));
  });
  it('a CSR without SANs carries no attributes and still verifies in openssl', async () => {
    const r = opensslReadCsr(await createCsr(generateKeyPair()));
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /verify OK/i);
    assert.match(r.output, /Attributes:\s*\n\s*\(none\)/);
    assert.doesNotMatch(r.output, /Subject Alternative Name/);
  });
  it('Ed25519: signed without a digest, verified by our parser', async () => {
    const keys = generateKeyPairSync('ed25519');
    const parsed = await parseCsr(await createCsr(keys, { spiffeId: id }));
    assert.ok(parsed.publicKey.equals(keys.publicKey));
    assert.deepEqual(parsed.uris, [id.toString()]);
  });
  it('parses a CSR made by openssl (an independent encoder)', async () => {
    const tmp = tempDir();
    try {
      const out = join(tmp.dir, 'req.der');
      const r = openssl([
        'req',
        '-new',
        ...opensslNewP256Key(join(tmp.dir, 'key.pem')),
        '-subj',
        '/CN=agent',
        '-addext',
        `subjectAltName=URI:${id.toString()},DNS:a.example.org`,
        '-outform',
        'DER',
        '-out',
        out,
      ]);
      assert.equal(r.status, 0, r.output);
      const parsed = await parseCsr(readFileSync(out));
      assert.deepEqual(parsed.uris, [id.toString()]);
      assert.deepEqual(parsed.dnsNames, ['a.example.org']);
      assert.ok(parsed.publicKey.equals(createPublicKey(readFileSync(join(tmp.dir, 'key.pem'), 'utf8'))));
    } finally {
      tmp.cleanup();
    }
  });
  it('malformed: a public key point that is not on the curve', async () => {
    const der = Buffer.from(await createCsr(generateKeyPair()));
    const spki = generateKeyPair().publicKey.export({ type: 'spki', format: 'der' });
    const at = der.indexOf(spki.subarray(0, 27));
    assert.ok(at > 0);
    der[at + 60] = der[at + 60]! ^ 0xff;
    await assert.rejects(
      parseCsr(der),
      (err: unknown) => err instanceof CsrError && err.rule === 'malformed',
    );
  });
  it('accepts a CSR without SANs (SPIRE workload CSRs)', async () => {
    const parsed = await parseCsr(await createCsr(generateKeyPair()));
    assert.deepEqual(parsed.uris, []);
  });
  it('accepts an RSA CSR', async () => {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    assert.ok((await parseCsr(await createCsr(keys))).publicKey.equals(keys.publicKey));
  });
  it('signature: a tampered CSR is refused', async () => {
    const der = Buffer.from(await createCsr(generateKeyPair(), { spiffeId: id }));
    const at = der.indexOf(Buffer.from('join_token'));
    der[at] = 'J'.charCodeAt(0);
    await assert.rejects(
      parseCsr(der),
      (err: unknown) => err instanceof CsrError && err.rule === 'signature',
    );
  });
  it('malformed: garbage is refused with a typed error', async () => {
    await assert.rejects(
      parseCsr(Buffer.from('hello')),
      (err: unknown) => err instanceof CsrError && err.rule === 'malformed',
    );
  });
});
