import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type * as tls from 'node:tls';
import { promisify } from 'node:util';
import { BundleSet, SpiffeId, TrustDomain, X509Bundle, X509Svid } from '../../src/spiffe/index.js';
import {
  authorizeAny,
  authorizeId,
  authorizeMemberOf,
  authorizeOneOf,
  connectMtls,
  createMtlsServer,
  getVerifiedPeer,
  secureContextForSvid,
  TlsPeerError,
  type Authorizer,
  type MtlsSource,
} from '../../src/spiffe/tls/index.js';
import { X509Source } from '../../src/spiffe/workload/index.js';
import { FakeWorkloadApi, TestCa } from '../support/fake-workload-api.js';
import { opensslNewP256Key } from './support.js';

const run = promisify(execFile);
const hourMs = 3600_000;

describe('SPIFFE mTLS helpers: real TLS 1.3 handshakes with node:tls and openssl', () => {
  let dir: string;
  let ca: TestCa;
  let otherCa: TestCa;
  let bundles: BundleSet;
  const serverId = SpiffeId.parse('spiffe://example.org/server');
  const clientId = SpiffeId.parse('spiffe://example.org/client');
  const servers: tls.Server[] = [];

  const svid = (c: TestCa, idPath: string, o: { now?: Date; ttlSeconds?: number } = {}): X509Svid => {
    const m = c.x509Svid(idPath, o);
    return X509Svid.parse(m.x509_svid, m.x509_svid_key);
  };
  const sourceOf = (get: () => X509Svid): MtlsSource => ({
    getX509Svid: get,
    getX509BundleForTrustDomain: (td) => bundles.getX509BundleForTrustDomain(td),
  });
  /** Writes an SVID as PEM files for openssl; returns [cert, key]. */
  const files = (name: string, s: X509Svid): [string, string] => {
    const cert = path.join(dir, `${name}.pem`);
    const key = path.join(dir, `${name}.key`);
    writeFileSync(cert, s.certChainPem());
    writeFileSync(key, s.privateKeyPem(), { mode: 0o600 });
    return [cert, key];
  };

  /** An mTLS server greeting each accepted client with its SPIFFE ID; collects refusals. */
  const startServer = async (source: MtlsSource, authorizer: Authorizer) => {
    const refusals: unknown[] = [];
    const server = createMtlsServer(source, authorizer, {}, (socket) => {
      socket.end(`hello ${getVerifiedPeer(socket)?.spiffeId.toString()} over ${socket.getProtocol()}\n`);
    });
    server.on('tlsClientError', (err) => refusals.push(err));
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { port: (server.address() as AddressInfo).port, refusals };
  };

  /** `openssl s_client` as an independent TLS 1.3 client; resolves with what it printed. */
  const sClient = (port: number, certAndKey?: [string, string]): Promise<string> =>
    new Promise((resolve, reject) => {
      const args = [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-tls1_3',
        '-CAfile',
        path.join(dir, 'bundle.pem'),
      ];
      args.push('-verify_return_error', '-quiet');
      if (certAndKey) args.push('-cert', certAndKey[0], '-key', certAndKey[1]);
      const child = spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(out));
    });

  const readAll = async (socket: tls.TLSSocket): Promise<string> => {
    let text = '';
    for await (const chunk of socket) text += String(chunk);
    return text;
  };

  const refusedWith = (rule: string) => (err: unknown) => err instanceof TlsPeerError && err.rule === rule;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tm-mtls-'));
    // Valid since yesterday, so expired SVIDs can be minted under it.
    ca = await TestCa.create('example.org', {
      now: new Date(Date.now() - 24 * hourMs),
      ttlSeconds: 7 * 86_400,
    });
    otherCa = await TestCa.create('example.org');
    bundles = new BundleSet([new X509Bundle(ca.trustDomain, [ca.cert])]);
    writeFileSync(path.join(dir, 'bundle.pem'), bundles.getX509BundleForTrustDomain(ca.trustDomain)!.toPem());
  });
  after(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('openssl s_client with a valid client SVID: TLS 1.3, client ID authorized, server chain verified', async () => {
    const server = await startServer(
      sourceOf(() => svid(ca, '/server')),
      authorizeId(clientId),
    );
    const out = await sClient(server.port, files('client', svid(ca, '/client')));
    assert.match(out, /hello spiffe:\/\/example\.org\/client over TLSv1\.3/);
    assert.deepEqual(server.refusals, []);
  });

  it('the server refuses (and never greets) a wrong ID, another CA, an expired SVID, a non-SVID, no certificate', async () => {
    const server = await startServer(
      sourceOf(() => svid(ca, '/server')),
      authorizeId(clientId),
    );
    // [case, client certificate, refusal rule, rule of the X509SvidError behind it]
    const cases: [string, [string, string] | undefined, string, string | undefined][] = [
      ['wrong ID', files('wrong-id', svid(ca, '/intruder')), 'unauthorized', undefined],
      [
        'another CA, same trust domain',
        files('other-ca', svid(otherCa, '/client')),
        'svid-verification',
        'untrusted',
      ],
      [
        'expired SVID',
        files('expired', svid(ca, '/client', { now: new Date(Date.now() - 3 * hourMs), ttlSeconds: 3600 })),
        'svid-verification',
        'expired',
      ],
      [
        'certificate without a URI SAN from the trust domain CA',
        await dnsOnlyCert(),
        'svid-verification',
        'leaf-no-uri-san',
      ],
      ['no client certificate', undefined, 'no-peer-certificate', undefined],
    ];
    for (const [what, certAndKey, rule, causeRule] of cases) {
      server.refusals.length = 0;
      const out = await sClient(server.port, certAndKey);
      assert.doesNotMatch(out, /hello/, `${what}: must not be greeted`);
      assert.equal(server.refusals.length, 1, `${what}: one refusal`);
      const refusal = server.refusals[0];
      assert.ok(refusedWith(rule)(refusal), `${what}: ${String(refusal)}`);
      if (causeRule)
        assert.equal(((refusal as TlsPeerError).cause as { rule?: string }).rule, causeRule, what);
    }
  });

  it('node client (connectMtls) authorizes the server; both sides see each other’s SPIFFE ID', async () => {
    const server = await startServer(
      sourceOf(() => svid(ca, '/server')),
      authorizeMemberOf(ca.trustDomain),
    );
    const client = sourceOf(() => svid(ca, '/client'));
    const socket = await connectMtls(client, authorizeOneOf(serverId, clientId), {
      host: '127.0.0.1',
      port: server.port,
    });
    assert.equal(getVerifiedPeer(socket)?.spiffeId.toString(), serverId.toString());
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    assert.equal(await readAll(socket), 'hello spiffe://example.org/client over TLSv1.3\n');
  });

  it('node client refuses a server with the wrong ID, from another CA, or with an expired SVID', async () => {
    const client = sourceOf(() => svid(ca, '/client'));
    const cases: [string, X509Svid, string][] = [
      ['wrong ID', svid(ca, '/not-the-server'), 'unauthorized'],
      ['another CA', svid(otherCa, '/server'), 'svid-verification'],
      [
        'expired',
        svid(ca, '/server', { now: new Date(Date.now() - 3 * hourMs), ttlSeconds: 3600 }),
        'svid-verification',
      ],
    ];
    for (const [what, serverSvid, rule] of cases) {
      const server = await startServer(
        sourceOf(() => serverSvid),
        authorizeAny(),
      );
      await assert.rejects(
        connectMtls(client, authorizeId(serverId), { host: '127.0.0.1', port: server.port }),
        refusedWith(rule),
        what,
      );
    }
  });

  it('rotation: the server presents the new SVID from the next connection on; contexts are per SVID', async () => {
    let current = svid(ca, '/server');
    const first = current;
    const server = await startServer(
      sourceOf(() => current),
      authorizeAny(),
    );
    const client = sourceOf(() => svid(ca, '/client'));
    const serialSeen = async (): Promise<string> => {
      const socket = await connectMtls(client, authorizeId(serverId), {
        host: '127.0.0.1',
        port: server.port,
      });
      await readAll(socket);
      return getVerifiedPeer(socket)!.verifiedChain[0]!.serialNumber;
    };
    assert.equal(await serialSeen(), first.certificates[0]!.serialNumber);
    current = svid(ca, '/server');
    assert.equal(await serialSeen(), current.certificates[0]!.serialNumber);
    assert.notEqual(first.certificates[0]!.serialNumber, current.certificates[0]!.serialNumber);
    assert.equal(secureContextForSvid(current), secureContextForSvid(current));
    assert.notEqual(secureContextForSvid(current), secureContextForSvid(first));
  });

  it('X509Source from the Workload API feeds the server; a pushed rotation is presented on the next handshake', async () => {
    const fake = await FakeWorkloadApi.start();
    fake.x509 = { svids: [ca.x509Svid('/server')], crl: [], federated_bundles: {} };
    const source = await X509Source.create({ address: fake.address, backoffStepMs: 50 });
    try {
      const server = await startServer(source, authorizeId(clientId));
      const client = sourceOf(() => svid(ca, '/client'));
      const serialSeen = async (): Promise<string> => {
        const socket = await connectMtls(client, authorizeId(serverId), {
          host: '127.0.0.1',
          port: server.port,
        });
        assert.equal(await readAll(socket), 'hello spiffe://example.org/client over TLSv1.3\n');
        return getVerifiedPeer(socket)!.verifiedChain[0]!.serialNumber;
      };
      const before = await serialSeen();
      assert.equal(before, source.getX509Svid().certificates[0]!.serialNumber);
      const rotated = once(source, 'update');
      fake.pushX509({ svids: [ca.x509Svid('/server')], crl: [], federated_bundles: {} });
      await rotated;
      const afterRotation = await serialSeen();
      assert.notEqual(afterRotation, before);
      assert.equal(afterRotation, source.getX509Svid().certificates[0]!.serialNumber);
    } finally {
      source.close();
      fake.close();
    }
  });

  it('authorizers', () => {
    const chain = svid(ca, '/client').certificates;
    assert.doesNotThrow(() => authorizeAny()(clientId, chain));
    assert.doesNotThrow(() => authorizeId(clientId)(clientId, chain));
    assert.throws(() => authorizeId(serverId)(clientId, chain), refusedWith('unauthorized'));
    assert.doesNotThrow(() => authorizeOneOf(serverId, clientId)(clientId, chain));
    assert.throws(() => authorizeOneOf(serverId)(clientId, chain), refusedWith('unauthorized'));
    assert.doesNotThrow(() => authorizeMemberOf(ca.trustDomain)(clientId, chain));
    assert.throws(
      () => authorizeMemberOf(TrustDomain.parse('other.test'))(clientId, chain),
      refusedWith('unauthorized'),
    );
  });

  /** A leaf signed by the trust domain's CA but carrying only a DNS SAN (made by openssl, not by us). */
  async function dnsOnlyCert(): Promise<[string, string]> {
    const caCert = path.join(dir, 'ca.pem');
    const caKey = path.join(dir, 'ca.key');
    writeFileSync(caCert, ca.cert.toString());
    writeFileSync(caKey, ca.key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const ext = path.join(dir, 'ext.cnf');
    writeFileSync(
      ext,
      'subjectAltName=DNS:client.example.org\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
    );
    const key = path.join(dir, 'dns.key');
    const csr = path.join(dir, 'dns.csr');
    const cert = path.join(dir, 'dns.pem');
    await run('openssl', ['req', '-new', ...opensslNewP256Key(key), '-subj', '/CN=client', '-out', csr]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      '-set_serial',
      '7',
      '-days',
      '1',
      '-extfile',
      ext,
      '-out',
      cert,
    ]);
    return [cert, key];
  }
});
