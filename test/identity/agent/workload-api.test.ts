/**
 * The SPIFFE Workload API on the agent socket (reference spiffe.md §e), from a hand-filled cache:
 * our `src/spiffe` client and Python's grpcio as independent clients, callers identified by the
 * kernel (a Python process under uid 65534 gets only nobody's identity), exact statuses for a
 * missing header / no identity / WIT, streaming updates, openssl verifying the fetched SVID, and a
 * client that floods one connection with streams or sends a garbage preface without hurting others.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import {
  WorkloadApiClient,
  loadWorkloadApi,
  certificatesToPem,
  type X509Context,
} from '../../../src/spiffe/index.js';
import { SvidCache } from '../../../src/identity/agent/index.js';
import { spawnTrustmesh } from '../../support/cli.js';
import { bundleOf, cachedSvid, entry, pythonWorkloadClient, startTestSocket, testCa } from './support.js';

const execFile = promisify(execFileCb);
const isRoot = process.getuid!() === 0;
const uid = process.getuid!();
const WEB = 'spiffe://example.org/web';
const NOBODY = 'spiffe://example.org/nobody';

interface PyResult {
  ok: boolean;
  code?: string;
  details?: string;
  svids?: Array<{ spiffe_id: string; x509_svid: string; x509_svid_key: string; bundle: string }>;
  federated_bundles?: string[];
  bundles?: string[];
}

describe('Workload API', () => {
  let ca: Awaited<ReturnType<typeof testCa>>;
  let other: Awaited<ReturnType<typeof testCa>>;
  let cache: SvidCache;
  let sock: Awaited<ReturnType<typeof startTestSocket>>;
  let py: Awaited<ReturnType<typeof pythonWorkloadClient>>;

  const python = (mode: string, asNobody = false): Promise<PyResult> =>
    py.run<PyResult>(sock.socketPath, mode, { asNobody });

  before(async () => {
    ca = await testCa('example.org');
    other = await testCa('other.org');
    cache = new SvidCache(ca.trustDomain);
    cache.setBundles(bundleOf(ca), new Map([['spiffe://other.org', bundleOf(other)]]));
    cache.applyEntries(
      [
        entry('e-web', WEB, [`unix:uid:${uid}`], {
          created_at: 1,
          federates_with: ['spiffe://other.org'],
          hint: 'web',
        }),
        entry('e-api', 'spiffe://example.org/api', [`unix:uid:${uid}`, 'unix:gid:4242'], { created_at: 2 }),
        entry('e-nobody', NOBODY, ['unix:uid:65534', 'unix:user:nobody']),
      ],
      [],
      true,
    );
    cache.setSvids([
      { entryId: 'e-web', svid: cachedSvid(ca, WEB) },
      { entryId: 'e-api', svid: cachedSvid(ca, 'spiffe://example.org/api') },
      { entryId: 'e-nobody', svid: cachedSvid(ca, NOBODY) },
    ]);
    sock = await startTestSocket(cache);
    py = await pythonWorkloadClient();
  });

  after(async () => {
    await sock.close();
    await py?.close();
  });

  test('our client: the matching identities, default first, DER chain + PKCS#8 key, own and federated bundles; openssl verifies', async () => {
    const client = new WorkloadApiClient({ address: `unix://${sock.socketPath}` });
    let ctx: X509Context;
    try {
      ctx = await client.fetchX509Context();
    } finally {
      client.close();
    }
    assert.deepEqual(
      ctx.svids.map((s) => s.spiffeId.toString()),
      [WEB],
      'e-api needs gid 4242 and e-nobody uid 65534: neither matches this process',
    );
    assert.equal(ctx.svids[0]!.hint, 'web');
    assert.deepEqual(
      ctx.bundles.trustDomains().map((t) => t.name),
      ['example.org', 'other.org'],
    );
    const dir = await mkdtemp(path.join(tmpdir(), 'tm-agent-ossl-'));
    try {
      await writeFile(path.join(dir, 'svid.pem'), ctx.svids[0]!.certChainPem());
      await writeFile(
        path.join(dir, 'bundle.pem'),
        certificatesToPem(ctx.bundles.getX509BundleForTrustDomain(ca.trustDomain)!.authorities()),
      );
      const { stdout } = await execFile('openssl', [
        'verify',
        '-CAfile',
        path.join(dir, 'bundle.pem'),
        path.join(dir, 'svid.pem'),
      ]);
      assert.match(stdout, /svid\.pem: OK/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('Python grpcio: same answer, DER on the wire', async () => {
    const res = await python('x509');
    assert.equal(res.ok, true, JSON.stringify(res));
    assert.deepEqual(
      res.svids!.map((s) => s.spiffe_id),
      [WEB],
    );
    const svid = res.svids![0]!;
    const leaf = new X509Certificate(Buffer.from(svid.x509_svid, 'hex'));
    assert.equal(leaf.subjectAltName, `URI:${WEB}`);
    const key = createPrivateKey({
      key: Buffer.from(svid.x509_svid_key, 'hex'),
      format: 'der',
      type: 'pkcs8',
    });
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.equal(
      Buffer.from(svid.bundle, 'hex').equals(ca.cert.raw),
      true,
      'bundle = concatenated DER roots',
    );
    assert.deepEqual(res.federated_bundles, ['spiffe://other.org']);
  });

  test(
    'the caller is identified by the kernel: a process under uid 65534 gets only its own identity',
    { skip: isRoot ? false : 'needs root to run a process as nobody' },
    async () => {
      const res = await python('x509', true);
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.deepEqual(
        res.svids!.map((s) => s.spiffe_id),
        [NOBODY],
      );
    },
  );

  test(
    'no matching entry: PermissionDenied "no identity issued"',
    { skip: isRoot ? false : 'needs root to switch uid' },
    async () => {
      cache.applyEntries([], ['e-nobody'], false);
      try {
        assert.deepEqual(await python('x509', true), {
          ok: false,
          code: 'PERMISSION_DENIED',
          details: 'no identity issued',
        });
        assert.deepEqual(await python('bundles', true), {
          ok: false,
          code: 'PERMISSION_DENIED',
          details: 'no identity issued',
        });
      } finally {
        cache.applyEntries([entry('e-nobody', NOBODY, ['unix:uid:65534', 'unix:user:nobody'])], [], false);
        cache.setSvids([{ entryId: 'e-nobody', svid: cachedSvid(ca, NOBODY) }]);
      }
    },
  );

  test('missing security header: InvalidArgument; FetchWITSVID: Unimplemented', async () => {
    assert.deepEqual(await python('x509-noheader'), {
      ok: false,
      code: 'INVALID_ARGUMENT',
      details: 'security header missing from request',
    });
    const { Client } = loadWorkloadApi();
    const stub = new Client(`unix://${sock.socketPath}`, grpc.credentials.createInsecure());
    try {
      const md = new grpc.Metadata();
      md.set('workload.spiffe.io', 'false');
      const err = await new Promise<grpc.ServiceError>((resolve) =>
        stub.FetchX509SVID({}, md).on('error', resolve),
      );
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    } finally {
      stub.close();
    }
    assert.deepEqual((await python('wit')).code, 'UNIMPLEMENTED');
  });

  test('a stream gets the full state at once, then again on every rotation', async () => {
    const client = new WorkloadApiClient({ address: `unix://${sock.socketPath}` });
    const updates: X509Context[] = [];
    let notify: (() => void) | undefined;
    const watcher = client.watchX509Context(
      (ctx) => {
        updates.push(ctx);
        notify?.();
      },
      () => {},
    );
    const waitFor = (n: number) =>
      new Promise<void>((resolve) => {
        notify = () => updates.length >= n && resolve();
        notify();
      });
    try {
      await waitFor(1);
      const rotated = cachedSvid(ca, WEB);
      cache.setSvids([{ entryId: 'e-web', svid: rotated }]);
      await waitFor(2);
      assert.equal(updates[1]!.svids[0]!.certificates[0]!.serialNumber, rotated.serialNumber);
      assert.equal(updates[1]!.svids.length, 1, 'every message carries the complete state');
      // CA rotation: the new authority reaches the open stream.
      const next = await testCa('example.org');
      const bundle = bundleOf(ca);
      bundle.x509.addAuthority(next.cert);
      cache.setBundles(bundle, new Map([['spiffe://other.org', bundleOf(other)]]));
      await waitFor(3);
      assert.equal(updates[2]!.bundles.getX509BundleForTrustDomain(ca.trustDomain)!.authorities().length, 2);
    } finally {
      watcher.close();
      client.close();
    }
  });

  test('trustmesh agent api watch prints the first context and every rotation until interrupted', async () => {
    const watch = spawnTrustmesh(['agent', 'api', 'watch', '-socketPath', sock.socketPath]);
    let out = '';
    let onOutput = () => {};
    watch.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      onOutput();
    });
    const exitedEarly = new Promise<never>((_, reject) =>
      watch.once('exit', (code) => reject(new Error(`watch exited (${code}): ${out}`))),
    );
    exitedEarly.catch(() => {});
    const seen = (n: number) =>
      Promise.race([
        exitedEarly,
        new Promise<void>((resolve) => {
          onOutput = () => {
            if ((out.match(/Received 1 svid after/g) ?? []).length >= n) resolve();
          };
          onOutput();
        }),
      ]);
    try {
      await seen(1);
      assert.match(out, new RegExp(`SPIFFE ID:\\s+${WEB}`));
      cache.setSvids([{ entryId: 'e-web', svid: cachedSvid(ca, WEB) }]);
      await seen(2);
    } finally {
      const exited = new Promise<number | null>((r) => watch.once('exit', (code) => r(code)));
      watch.kill('SIGINT');
      assert.equal(await exited, 0);
    }
  });

  test('1,000 streams on one connection that never read, and a garbage preface, do not hurt other callers', async () => {
    const flood = http2.connect('http://localhost', { createConnection: () => net.connect(sock.socketPath) });
    flood.on('error', () => {});
    const streams: http2.ClientHttp2Stream[] = [];
    for (let i = 0; i < 1000; i++) {
      const s = flood.request({
        ':method': 'POST',
        ':path': '/SpiffeWorkloadAPI/FetchX509SVID',
        'content-type': 'application/grpc',
        te: 'trailers',
        'workload.spiffe.io': 'true',
      });
      s.on('error', () => {});
      s.pause();
      s.end(Buffer.alloc(5));
      streams.push(s);
    }
    const garbage = net.connect(sock.socketPath);
    garbage.on('error', () => {});
    // Flowing mode, so the server's GOAWAY and FIN are read and 'close' fires.
    garbage.resume();
    const garbageClosed = new Promise((resolve) => garbage.on('close', resolve));
    garbage.end('GET / HTTP/1.1\r\nHost: x\r\n\r\nthis is not an HTTP/2 preface');

    const client = new WorkloadApiClient({ address: `unix://${sock.socketPath}` });
    try {
      const ctx = await client.fetchX509Context();
      assert.equal(ctx.svids[0]!.spiffeId.toString(), WEB);
      await garbageClosed;
      cache.setSvids([{ entryId: 'e-web', svid: cachedSvid(ca, WEB) }]);
      const again = await client.fetchX509Context();
      assert.equal(again.svids[0]!.spiffeId.toString(), WEB);
    } finally {
      client.close();
      flood.destroy();
    }
  });
});
