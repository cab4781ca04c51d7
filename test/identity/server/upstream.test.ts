/**
 * UpstreamAuthority "disk": an openssl-made root signs our CA, which becomes an intermediate; the
 * bundle holds the upstream root; minted chains carry the intermediate and verify with openssl.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { adminCall } from '../../../src/identity/server/index.js';
import { createCsr, generateKeyPair, parseCertificates } from '../../../src/spiffe/index.js';
import { opensslSelfSigned, startServer, tempDir } from './support.js';

test('UpstreamAuthority disk: our CA is an intermediate under the upstream root', async () => {
  const tmp = tempDir();
  const { keyFile: rootKey, certFile: rootCert } = opensslSelfSigned(tmp.dir, 'upstream', {
    subject: '/O=Upstream/CN=upstream root',
    days: 2,
    extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'],
  });
  const s = await startServer(tmp.dir, {
    plugins: `UpstreamAuthority "disk" {
    plugin_data {
      cert_file_path = "${rootCert}"
      key_file_path = "${rootKey}"
    }
  }`,
  });
  try {
    const bundle = await adminCall<{ pem: string }>(s.socketPath, 'bundle.show');
    const roots = parseCertificates(bundle.pem);
    assert.equal(roots.length, 1);
    assert.equal(
      roots[0]!.subject,
      parseCertificates(execFileSync('cat', [rootCert], { encoding: 'utf8' }))[0]!.subject,
    );

    const r = await adminCall<{ svid_pem: string }>(s.socketPath, 'x509.mint', {
      spiffe_id: 'spiffe://example.org/under-upstream',
      csr: (await createCsr(generateKeyPair())).toString('base64'),
    });
    const chain = parseCertificates(r.svid_pem);
    assert.equal(chain.length, 2, 'leaf + our intermediate CA');
    assert.equal(chain[1]!.ca, true);
    assert.match(chain[1]!.subjectAltName ?? '', /URI:spiffe:\/\/example\.org$/);
    assert.ok(chain[1]!.checkIssued(roots[0]!));

    const leafFile = path.join(tmp.dir, 'leaf.pem');
    const interFile = path.join(tmp.dir, 'inter.pem');
    writeFileSync(leafFile, chain[0]!.toString());
    writeFileSync(interFile, chain[1]!.toString());
    const out = execFileSync('openssl', ['verify', '-CAfile', rootCert, '-untrusted', interFile, leafFile], {
      encoding: 'utf8',
    });
    assert.match(out, /OK/);
  } finally {
    await s.stop();
    tmp.cleanup();
  }
});
