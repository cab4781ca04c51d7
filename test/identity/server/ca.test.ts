/**
 * CA rotation (spiffe.md §b.4): the pure rotation decision, the CA manager under an injected clock
 * on the real SQLite store, and a real daemon with a short ca_ttl rotating while it runs.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  createCsr,
  generateKeyPair,
  parseCertificates,
  SpiffeBundle,
  SpiffeId,
  TrustDomain,
} from '../../../src/spiffe/index.js';
import {
  adminCall,
  CaManager,
  caRotationStep,
  MemoryKeyManager,
  DiskKeyManager,
  openSqliteDataStore,
} from '../../../src/identity/server/index.js';
import { cliOk, startServer, tempDir } from './support.js';

describe('caRotationStep', () => {
  const day = 86400;
  const rows: [string, number, { notBefore: number; notAfter: number } | undefined, boolean, string][] = [
    ['no CA yet → activate', 0, undefined, false, 'activate'],
    ['fresh 24h CA → none', 1000, { notBefore: 0, notAfter: day }, false, 'none'],
    ['just before half-life → none', day / 2 - 1, { notBefore: 0, notAfter: day }, false, 'none'],
    ['at half-life → prepare', day / 2, { notBefore: 0, notAfter: day }, false, 'prepare'],
    ['half-life, already prepared → none', day / 2, { notBefore: 0, notAfter: day }, true, 'none'],
    ['at 5/6 → activate', (day * 5) / 6, { notBefore: 0, notAfter: day }, true, 'activate'],
    ['expired → activate', day + 1, { notBefore: 0, notAfter: day }, true, 'activate'],
    [
      '1-year CA prepares 30 days before expiry',
      365 * day - 30 * day,
      { notBefore: 0, notAfter: 365 * day },
      false,
      'prepare',
    ],
    [
      '1-year CA activates 7 days before expiry',
      365 * day - 7 * day,
      { notBefore: 0, notAfter: 365 * day },
      true,
      'activate',
    ],
    [
      '1-year CA, 8 days left → none',
      365 * day - 8 * day,
      { notBefore: 0, notAfter: 365 * day },
      true,
      'none',
    ],
  ];
  for (const [name, now, active, prepared, want] of rows) {
    test(name, () => assert.equal(caRotationStep(now, active, prepared), want));
  }
});

describe('CaManager with an injected clock', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  test('prepares at 1/2, activates at 5/6, keeps the old root, prunes it 24h after expiry; state survives reopen', async () => {
    const td = TrustDomain.parse('clock.test');
    const dataDir = path.join(tmp.dir, 'data');
    let nowMs = Date.UTC(2030, 0, 1);
    const store = openSqliteDataStore({ dataDir, databasePath: path.join(dataDir, 'db.sqlite3') });
    const keys = new DiskKeyManager(path.join(dataDir, 'keys.json'));
    const ttl = 6 * 3600;
    const sequences: number[] = [];
    const ca = new CaManager({
      trustDomain: td,
      caTtlSeconds: ttl,
      caSubject: 'C=US, O=SPIFFE',
      keyManager: keys,
      journal: store,
      bundles: store,
      now: () => nowMs,
      onBundleChanged: (seq) => sequences.push(seq),
    });
    const roots = (): X509Certificate[] =>
      SpiffeBundle.parse(td, store.getBundle(td.idString())!.json).x509.authorities();
    const issuerOfNewSvid = (): X509Certificate => {
      const svid = ca.signX509Svid({
        spiffeId: SpiffeId.parse('spiffe://clock.test/w'),
        publicKey: generateKeyPair().publicKey,
        ttlSeconds: 60,
      });
      const leaf = parseCertificates(svid.certChainDer[0]!)[0]!;
      const issuer = roots().find((r) => leaf.checkIssued(r) && leaf.verify(r.publicKey));
      assert.ok(issuer, 'new SVID chains to a bundle root');
      return issuer;
    };

    await ca.init();
    assert.equal(roots().length, 1);
    const first = issuerOfNewSvid();

    nowMs += (ttl / 2 + 20) * 1000;
    await ca.rotate();
    assert.equal(roots().length, 2, 'prepared CA published at half-life');
    assert.equal(issuerOfNewSvid().fingerprint256, first.fingerprint256, 'still signing with the active CA');

    nowMs += (ttl / 3) * 1000;
    await ca.rotate();
    const second = issuerOfNewSvid();
    assert.notEqual(second.fingerprint256, first.fingerprint256, 'activated at 5/6');
    assert.equal(roots().length, 2, 'old root kept while valid');
    assert.deepEqual(
      sequences,
      [...sequences].sort((a, b) => a - b),
    );
    assert.ok(sequences.length >= 2);

    // Reopen from the journal and disk keys: same active CA.
    store.close();
    const store2 = openSqliteDataStore({ dataDir, databasePath: path.join(dataDir, 'db.sqlite3') });
    const ca2 = new CaManager({
      trustDomain: td,
      caTtlSeconds: ttl,
      caSubject: 'C=US, O=SPIFFE',
      keyManager: new DiskKeyManager(path.join(dataDir, 'keys.json')),
      journal: store2,
      bundles: store2,
      now: () => nowMs,
    });
    await ca2.init();
    assert.equal(ca2.active().cert.fingerprint256, second.fingerprint256);

    // Far in the future, the first root (expired > 24h) leaves the bundle.
    nowMs += (ttl + 25 * 3600) * 1000;
    await ca2.rotate();
    const after = SpiffeBundle.parse(td, store2.getBundle(td.idString())!.json).x509.authorities();
    assert.ok(!after.some((r) => r.fingerprint256 === first.fingerprint256));
    store2.close();
  });

  test('memory key manager: a restart activates a new CA and keeps the old root published', async () => {
    const td = TrustDomain.parse('mem.test');
    const dataDir = path.join(tmp.dir, 'mem');
    const open = () => openSqliteDataStore({ dataDir, databasePath: path.join(dataDir, 'db.sqlite3') });
    const mk = (store: ReturnType<typeof open>) =>
      new CaManager({
        trustDomain: td,
        caTtlSeconds: 3600,
        caSubject: 'C=US, O=SPIFFE',
        keyManager: new MemoryKeyManager(),
        journal: store,
        bundles: store,
      });
    let store = open();
    const a = mk(store);
    await a.init();
    const firstFp = a.active().cert.fingerprint256;
    store.close();
    store = open();
    const b = mk(store);
    await b.init();
    assert.notEqual(b.active().cert.fingerprint256, firstFp);
    const fps = SpiffeBundle.parse(td, store.getBundle(td.idString())!.json)
      .x509.authorities()
      .map((c) => c.fingerprint256);
    assert.ok(fps.includes(firstFp));
    store.close();
  });
});

describe('daemon with a short ca_ttl', () => {
  test('the next root is published before use, then new SVIDs chain to it; old root kept (openssl verify)', async () => {
    const tmp = tempDir();
    // ca_ttl 30 s: prepare ~10 s after start (half of 30 s + 10 s cushion), activate ~23 s after.
    const s = await startServer(tmp.dir, { server: 'ca_ttl = "30s"\n  default_x509_svid_ttl = "1m"' });
    try {
      const bundle = async (): Promise<{ sequence: number; roots: X509Certificate[] }> => {
        const b = await adminCall<{ json: string; sequence: number }>(s.socketPath, 'bundle.show');
        return {
          sequence: b.sequence,
          roots: SpiffeBundle.parse(TrustDomain.parse('example.org'), b.json).x509.authorities(),
        };
      };
      const issuerOfNewSvid = async (roots: X509Certificate[]): Promise<string | undefined> => {
        const key = generateKeyPair();
        const r = await adminCall<{ svid_pem: string }>(s.socketPath, 'x509.mint', {
          spiffe_id: 'spiffe://example.org/rot',
          csr: (await createCsr(key)).toString('base64'),
        });
        const leaf = parseCertificates(r.svid_pem)[0]!;
        return roots.find((c) => leaf.checkIssued(c) && leaf.verify(c.publicKey))?.fingerprint256;
      };
      const first = await bundle();
      const firstIssuer = await issuerOfNewSvid(first.roots);
      assert.ok(firstIssuer, 'SVIDs chain to a bundle root');
      let publishedBeforeUse = false;
      let switched: { issuer: string; roots: string[]; sequence: number } | undefined;
      const deadline = Date.now() + 90_000;
      while (!switched && Date.now() < deadline) {
        const b = await bundle();
        const issuer = await issuerOfNewSvid(b.roots);
        assert.ok(issuer, 'every SVID chains to a root in the bundle served at that time');
        if (issuer === firstIssuer && b.roots.length >= 2) publishedBeforeUse = true;
        if (issuer !== firstIssuer)
          switched = { issuer, roots: b.roots.map((c) => c.fingerprint256), sequence: b.sequence };
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(switched, 'the CA rotated');
      assert.ok(publishedBeforeUse, 'the next root was in the bundle before SVIDs chained to it');
      assert.ok(switched.roots.includes(firstIssuer), 'the old root stays in the bundle');
      assert.ok(switched.sequence > first.sequence, 'spiffe_sequence increments');

      const dir = path.join(tmp.dir, 'final');
      const [, pem] = await Promise.all([
        cliOk(s, ['x509', 'mint', '-spiffeID', 'spiffe://example.org/rot', '-write', dir]),
        cliOk(s, ['bundle', 'show']),
      ]);
      const bundleFile = path.join(tmp.dir, 'b.pem');
      writeFileSync(bundleFile, pem);
      const verified = execFileSync(
        'openssl',
        ['verify', '-CAfile', bundleFile, path.join(dir, 'svid.pem')],
        { encoding: 'utf8' },
      );
      assert.match(verified, /OK/);
    } finally {
      await s.stop();
      tmp.cleanup();
    }
  });
});
