/**
 * Envoy SDS v3 on the agent socket (reference spiffe.md §f), driven by a real gRPC client over the
 * unix socket: secret names, validation-context flavours and the StreamSecrets nonce/version state
 * machine of §f.4 (first request, ACK, NACK, name change, stale nonce, agent restart with an old
 * nonce), push on rotation, FetchSecrets and DeltaSecrets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { SvidCache } from '../../../src/identity/agent/index.js';
import { bundleOf, cachedSvid, entry, startTestSocket, testCa } from './support.js';
import {
  SdsStream,
  inlineText,
  sdsClient,
  secrets,
  spiffeValidatorTrustDomains,
  type Secret,
} from './sds-client.js';

const uid = process.getuid!();
const WEB = 'spiffe://example.org/web';
const API = 'spiffe://example.org/api';
const FED = 'spiffe://other.org';

function certOf(secret: Secret): { leaf: X509Certificate; keyPem: string } {
  assert.equal(secret.type.case, 'tlsCertificate', `${secret.name} should be a tls_certificate`);
  const v = secret.type.value as { certificateChain: never; privateKey: never };
  const pem = inlineText(v.certificateChain);
  return { leaf: new X509Certificate(pem), keyPem: inlineText(v.privateKey) };
}

describe('SDS v3', () => {
  let ca: Awaited<ReturnType<typeof testCa>>;
  let other: Awaited<ReturnType<typeof testCa>>;
  let cache: SvidCache;
  let sock: Awaited<ReturnType<typeof startTestSocket>>;
  let client: ReturnType<typeof sdsClient>;

  before(async () => {
    ca = await testCa('example.org');
    other = await testCa('other.org');
    cache = new SvidCache(ca.trustDomain);
    cache.setBundles(bundleOf(ca), new Map([[FED, bundleOf(other)]]));
    cache.applyEntries(
      [
        entry('e-web', WEB, [`unix:uid:${uid}`], { created_at: 1, federates_with: [FED] }),
        entry('e-api', API, [`unix:uid:${uid}`], { created_at: 2 }),
        entry('e-nobody', 'spiffe://example.org/nobody', ['unix:uid:65534']),
      ],
      [],
      true,
    );
    cache.setSvids([
      { entryId: 'e-web', svid: cachedSvid(ca, WEB) },
      { entryId: 'e-api', svid: cachedSvid(ca, API) },
      { entryId: 'e-nobody', svid: cachedSvid(ca, 'spiffe://example.org/nobody') },
    ]);
    sock = await startTestSocket(cache, { log: pino({ level: 'error' }) });
    client = sdsClient(sock.socketPath);
  });

  after(async () => {
    client.close();
    await sock.close();
  });

  test('first request gets the named secrets at once: bundle contexts first, then certificates', async () => {
    const s = new SdsStream(client);
    s.send({ node: { id: 'envoy-1', cluster: 'c' }, resource_names: [WEB, 'ROOTCA'] });
    const res = await s.next();
    assert.equal(res.version_info, '1');
    assert.match(res.nonce, /^[0-9a-f]{8}$/);
    const [rootca, web] = secrets(res);
    assert.equal(rootca!.name, 'ROOTCA');
    assert.deepEqual(spiffeValidatorTrustDomains(rootca!), [
      { name: 'example.org', pem: bundleOf(ca).x509.toPem() },
    ]);
    assert.equal(web!.name, WEB);
    const { leaf, keyPem } = certOf(web!);
    assert.ok(leaf.checkIssued(ca.cert) && leaf.verify(ca.cert.publicKey), 'the leaf is signed by the CA');
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
    assert.ok(createPublicKey(keyPem).equals(leaf.publicKey), 'the key belongs to the leaf');
    s.cancel();
  });

  test('ACK and NACK produce nothing; a name change answers at once; a rotation pushes a new version', async () => {
    const s = new SdsStream(client);
    s.send({ node: { id: 'envoy-2' }, resource_names: [WEB] });
    const first = await s.next();
    // ACK: same names, the version and nonce we got.
    s.send({ resource_names: [WEB], version_info: first.version_info, response_nonce: first.nonce });
    // NACK: same names, the old version, an error.
    s.send({
      resource_names: [WEB],
      version_info: '',
      response_nonce: first.nonce,
      error_detail: { code: 3, message: 'bad cert' },
    });
    // Name change (order-insensitive compare: [API, WEB] differs from [WEB]).
    s.send({ resource_names: [API, WEB], version_info: first.version_info, response_nonce: first.nonce });
    const second = await s.next();
    assert.equal(second.version_info, first.version_info, 'a name change does not bump the version');
    assert.notEqual(second.nonce, first.nonce);
    assert.deepEqual(
      secrets(second).map((x) => x.name),
      [API, WEB],
    );
    // Same set in another order: no response. Proven by the next push being the rotation.
    s.send({ resource_names: [WEB, API], version_info: second.version_info, response_nonce: second.nonce });
    const rotated = cachedSvid(ca, WEB, 1);
    cache.setSvids([{ entryId: 'e-web', svid: rotated }]);
    const third = await s.next();
    assert.equal(third.version_info, String(Number(first.version_info) + 1));
    const web = secrets(third).find((x) => x.name === WEB)!;
    assert.equal(certOf(web).leaf.serialNumber, rotated.serialNumber, 'the rotated SVID is pushed');
    s.cancel();
  });

  test('a bundle change (CA rotation) is pushed to open streams', async () => {
    const s = new SdsStream(client);
    s.send({ resource_names: ['ROOTCA'] });
    const first = await s.next();
    const next = await testCa('example.org');
    const rotated = bundleOf(ca);
    rotated.x509.addAuthority(next.cert);
    cache.setBundles(rotated, new Map([[FED, bundleOf(other)]]));
    try {
      const pushed = await s.next();
      assert.equal(pushed.version_info, String(Number(first.version_info) + 1));
      assert.deepEqual(spiffeValidatorTrustDomains(secrets(pushed)[0]!)[0]!.pem, rotated.x509.toPem());
    } finally {
      cache.setBundles(bundleOf(ca), new Map([[FED, bundleOf(other)]]));
      s.cancel();
    }
  });

  test('a request with a stale nonce is ignored', async () => {
    const s = new SdsStream(client);
    s.send({ resource_names: [WEB] });
    const first = await s.next();
    s.send({ resource_names: [API], response_nonce: 'deadbeef' });
    s.send({ resource_names: ['ROOTCA'], response_nonce: first.nonce });
    const second = await s.next();
    assert.deepEqual(
      secrets(second).map((x) => x.name),
      ['ROOTCA'],
      'only the request carrying the current nonce is answered',
    );
    s.cancel();
  });

  test('agent restart: a new stream whose first request carries an old nonce is answered', async () => {
    const s = new SdsStream(client);
    s.send({
      resource_names: [WEB],
      version_info: '41',
      response_nonce: 'cafebabe',
      node: { id: 'envoy-3' },
    });
    const res = await s.next();
    assert.deepEqual(
      secrets(res).map((x) => x.name),
      [WEB],
    );
    s.cancel();
  });

  test('default, own trust domain, federated trust domain and ALL', async () => {
    const s = new SdsStream(client);
    s.send({ resource_names: ['default', 'spiffe://example.org', FED, 'ALL'] });
    const res = await s.next();
    const byName = new Map(secrets(res).map((x) => [x.name, x]));
    assert.deepEqual([...byName.keys()], ['spiffe://example.org', FED, 'ALL', 'default']);
    assert.equal(certOf(byName.get('default')!).leaf.subjectAltName, `URI:${WEB}`, 'default = oldest entry');
    assert.deepEqual(
      spiffeValidatorTrustDomains(byName.get(FED)!).map((t) => t.name),
      ['other.org'],
    );
    assert.deepEqual(
      spiffeValidatorTrustDomains(byName.get('ALL')!).map((t) => t.name),
      ['example.org', 'other.org'],
    );
    s.cancel();
  });

  test('an empty name list returns every bundle and identity of the caller', async () => {
    const s = new SdsStream(client);
    s.send({ resource_names: [] });
    const names = secrets(await s.next()).map((x) => x.name);
    assert.deepEqual(names, ['spiffe://example.org', FED, WEB, API]);
    s.cancel();
  });

  test('unknown names and identities of other workloads fail the stream with InvalidArgument', async () => {
    for (const name of ['file-root:/etc/ssl', 'spiffe://example.org/nobody']) {
      const s = new SdsStream(client);
      s.send({ resource_names: [WEB, name] });
      await assert.rejects(s.next(), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
        assert.equal(
          err.details,
          `workload is not authorized for the requested identities ${JSON.stringify([name])}`,
        );
        return true;
      });
    }
  });

  test('disable_spiffe_cert_validation in node metadata gives a plain trusted_ca', async () => {
    const s = new SdsStream(client);
    s.send({
      resource_names: ['ROOTCA'],
      node: {
        id: 'old-envoy', // protobufjs' built-in struct.proto uses camelCase field names even with keepCase.
        metadata: { fields: { disable_spiffe_cert_validation: { boolValue: true } } },
      },
    });
    const last = await s.next();
    const [root] = secrets(last);
    assert.equal(root!.type.case, 'validationContext');
    const v = root!.type.value as { trustedCa?: never; customValidatorConfig?: unknown };
    assert.equal(inlineText(v.trustedCa), bundleOf(ca).x509.toPem());
    assert.equal(v.customValidatorConfig, undefined);
    s.send({
      resource_names: ['ROOTCA', 'spiffe://example.org'],
      response_nonce: last.nonce,
      version_info: last.version_info,
    });
    const again = secrets(await s.next());
    assert.equal(again.length, 2);
    for (const x of again) {
      assert.ok(
        (x.type.value as { trustedCa?: unknown }).trustedCa,
        `${x.name}: the node of the first request still applies to later requests without one`,
      );
    }
    s.cancel();
  });

  test('FetchSecrets answers one snapshot without version or nonce; DeltaSecrets is Unimplemented', async () => {
    const res = await new Promise<{ version_info: string; nonce: string; resources: unknown[] }>(
      (resolve, reject) =>
        (client['FetchSecrets'] as (r: object, cb: (e: Error | null, r: never) => void) => void)(
          {
            resource_names: [API],
            type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
          },
          (err, r) => (err ? reject(err) : resolve(r)),
        ),
    );
    assert.equal(res.version_info, '');
    assert.equal(res.nonce, '');
    assert.equal(res.resources.length, 1);
    const delta = (client['DeltaSecrets'] as () => grpc.ClientDuplexStream<object, unknown>)();
    await assert.rejects(
      new Promise((resolve, reject) => {
        delta.on('data', resolve);
        delta.on('error', reject);
        delta.write({ type_url: 'x' });
      }),
      (err: grpc.ServiceError) => err.code === grpc.status.UNIMPLEMENTED,
    );
  });
});
