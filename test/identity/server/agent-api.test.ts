/**
 * The agent API through a real grpc-js client over TLS: join_token and k8s_sat node attestation
 * (happy and refused paths), authenticated calls with the agent SVID, entry sync, CSR signing and
 * its bad-input cases, eviction, banning, renewal.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { createCsr, generateKeyPair, type KeyPair } from '../../../src/spiffe/index.js';
import type {
  AgentClient,
  AttestAgentResponseMessage,
  BatchNewX509SvidResponseMessage,
  GetBundlesResponseMessage,
  NewJwtSvidResponseMessage,
  SyncAuthorizedEntriesResponseMessage,
  WatchRevisionsResponseMessage,
  X509SvidResultMessage,
} from '../../../src/identity/api/index.js';
import { adminCall } from '../../../src/identity/server/index.js';
import {
  agentClient,
  bundlePem,
  call,
  cliOk,
  derChainToPem,
  opensslSelfSigned,
  startServer,
  tempDir,
  type RunningServer,
} from './support.js';

const TD = 'example.org';

interface Agent {
  id: string;
  key: KeyPair;
  certPem: string;
  keyPem: string;
  client: AgentClient;
}

async function csrFor(key: KeyPair): Promise<Buffer> {
  return Buffer.from(await createCsr(key));
}

async function expectCode(p: Promise<unknown>, code: grpc.status, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: grpc.ServiceError) => {
    assert.equal(err.code, code, `want ${grpc.status[code]}, got ${grpc.status[err.code]}: ${err.details}`);
    if (message) assert.match(err.details, message);
    return true;
  });
}

describe('agent API', () => {
  const tmp = tempDir();
  let s: RunningServer;
  let roots: string;
  let anon: AgentClient;
  const saKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clients: AgentClient[] = [];

  const saToken = (claims: Record<string, unknown>, expSeconds = 3600): Promise<string> =>
    new SignJWT({ iss: 'kubernetes/serviceaccount', ...claims })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
      .sign(saKeys.privateKey);

  const legacyClaims = (ns: string, sa: string): Record<string, unknown> => ({
    'kubernetes.io/serviceaccount/namespace': ns,
    'kubernetes.io/serviceaccount/service-account.name': sa,
  });

  before(async () => {
    const keyFile = path.join(tmp.dir, 'sa.pub');
    writeFileSync(keyFile, saKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    s = await startServer(tmp.dir, {
      plugins: `NodeAttestor "k8s_sat" {
        plugin_data {
          clusters = {
            "c" = {
              service_account_allow_list = ["spire:spire-agent"]
              service_account_key_file = "${keyFile}"
            }
          }
        }
      }`,
    });
    roots = await bundlePem(s);
    anon = agentClient(s, roots);
    clients.push(anon);
  });
  after(async () => {
    for (const c of clients) c.close();
    await s?.stop();
    tmp.cleanup();
  });

  async function attest(type: string, payload: string): Promise<Agent> {
    const key = generateKeyPair();
    const r = await call<unknown, AttestAgentResponseMessage>(anon, 'AttestAgent', {
      attestation_type: type,
      payload: Buffer.from(payload),
      csr: await csrFor(key),
    });
    const certPem = derChainToPem(r.cert_chain);
    const keyPem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const client = agentClient(s, roots, { certPem, keyPem });
    clients.push(client);
    const leaf = new X509Certificate(r.cert_chain[0]!);
    assert.ok(leaf.checkPrivateKey(key.privateKey), 'the CSR key is the one signed');
    return { id: r.spiffe_id, key, certPem, keyPem, client };
  }

  // Setup goes through the admin API directly; cli.test.ts covers the CLI's own output.
  async function joinToken(ttl?: number): Promise<string> {
    return (await adminCall<{ token: string }>(s.socketPath, 'token.generate', { ttl })).token;
  }

  async function entry(
    parentId: string,
    spiffeId: string,
    selectors: string[],
    dnsNames: string[] = [],
  ): Promise<string> {
    const r = await adminCall<{
      results: { status: { code: number; message: string }; value?: { id: string } }[];
    }>(s.socketPath, 'entry.create', {
      entries: [
        {
          parent_id: parentId,
          spiffe_id: spiffeId,
          selectors: selectors.map((x) => ({
            type: x.slice(0, x.indexOf(':')),
            value: x.slice(x.indexOf(':') + 1),
          })),
          dns_names: dnsNames,
        },
      ],
    });
    assert.equal(r.results[0]!.status.code, 0, r.results[0]!.status.message);
    return r.results[0]!.value!.id;
  }

  test('join_token: attests once, agent ID from the token, then refuses reuse', async () => {
    const token = await joinToken();
    const a = await attest('join_token', token);
    assert.equal(a.id, `spiffe://${TD}/spire/agent/join_token/${token}`);
    await expectCode(
      attest('join_token', token),
      grpc.status.PERMISSION_DENIED,
      /does not exist or has already been used/,
    );
    const listed = await cliOk(s, ['agent', 'list']);
    assert.match(listed, new RegExp(`SPIFFE ID {9}: ${a.id.replace(/[.]/g, '\\.')}`));
    assert.match(listed, /Attestation type {2}: join_token/);
  });

  test('join_token: expired and unknown tokens are refused', async () => {
    const token = await joinToken(1);
    await new Promise((r) => setTimeout(r, 2100));
    // The server's periodic pruning may already have deleted the expired token, so either refusal
    // is right here; the exact "expired" message is pinned with a clock in join-token.test.ts.
    await expectCode(
      attest('join_token', token),
      grpc.status.PERMISSION_DENIED,
      /token expired|does not exist or has already been used/,
    );
    await expectCode(
      attest('join_token', '00000000-0000-4000-8000-000000000000'),
      grpc.status.PERMISSION_DENIED,
    );
    await expectCode(attest('join_token', ''), grpc.status.INVALID_ARGUMENT, /payload/);
    await expectCode(attest('tpm_devid', 'x'), grpc.status.INVALID_ARGUMENT, /attestation_type/);
  });

  test('k8s_sat: allowed SA attests with the node selectors; node entry makes an alias', async () => {
    await entry(`spiffe://${TD}/spire/server`, `spiffe://${TD}/ns/spire/sa/spire-agent`, [
      'k8s_sat:cluster:c',
      'k8s_sat:agent_ns:spire',
      'k8s_sat:agent_sa:spire-agent',
    ]);
    const wlId = await entry(
      `spiffe://${TD}/ns/spire/sa/spire-agent`,
      `spiffe://${TD}/ns/default/sa/web`,
      ['k8s:ns:default', 'k8s:sa:web'],
      ['web.default.svc'],
    );
    const otherId = await entry(`spiffe://${TD}/somebody-else`, `spiffe://${TD}/not-mine`, ['k8s:ns:x']);

    const token = await saToken(legacyClaims('spire', 'spire-agent'));
    const a = await attest('k8s_sat', JSON.stringify({ cluster: 'c', token }));
    assert.match(
      a.id,
      new RegExp(`^spiffe://${TD.replace('.', '\\.')}/spire/agent/k8s_sat/c/[0-9a-f-]{36}$`),
    );
    const shown = await cliOk(s, ['agent', 'show', '-spiffeID', a.id]);
    assert.match(shown, /Selectors {9}: k8s_sat:agent_ns:spire/);
    assert.match(shown, /Selectors {9}: k8s_sat:agent_sa:spire-agent/);
    assert.match(shown, /Selectors {9}: k8s_sat:cluster:c/);

    // Sync: the alias node entry and the workload entry under it, nothing else.
    const sync = await call<unknown, SyncAuthorizedEntriesResponseMessage>(
      a.client,
      'SyncAuthorizedEntries',
      { since_revision: 0 },
    );
    assert.equal(sync.full, true);
    const ids = sync.entries.map((e) => e.spiffe_id).sort();
    assert.deepEqual(ids, [`spiffe://${TD}/ns/default/sa/web`, `spiffe://${TD}/ns/spire/sa/spire-agent`]);

    // Incremental: nothing changed → nothing; a new workload entry → only it.
    const again = await call<unknown, SyncAuthorizedEntriesResponseMessage>(
      a.client,
      'SyncAuthorizedEntries',
      { since_revision: sync.revision },
    );
    assert.equal(again.full, false);
    assert.deepEqual(again.entries, []);
    const addedId = await entry(
      `spiffe://${TD}/ns/spire/sa/spire-agent`,
      `spiffe://${TD}/ns/default/sa/api`,
      ['k8s:sa:api'],
    );
    const inc = await call<unknown, SyncAuthorizedEntriesResponseMessage>(a.client, 'SyncAuthorizedEntries', {
      since_revision: again.revision,
    });
    assert.deepEqual(
      inc.entries.map((e) => e.id),
      [addedId],
    );
    await adminCall(s.socketPath, 'entry.delete', { ids: [addedId] });
    const del = await call<unknown, SyncAuthorizedEntriesResponseMessage>(a.client, 'SyncAuthorizedEntries', {
      since_revision: inc.revision,
    });
    assert.ok(del.removed_entry_ids.includes(addedId));

    // Paging: page_size 1 walks the whole set with tokens.
    const seen: string[] = [];
    let pageToken = '';
    do {
      const page: SyncAuthorizedEntriesResponseMessage = await call(a.client, 'SyncAuthorizedEntries', {
        since_revision: 0,
        page_size: 1,
        page_token: pageToken,
      });
      assert.ok(page.entries.length <= 1);
      seen.push(...page.entries.map((e) => e.id));
      pageToken = page.next_page_token;
    } while (pageToken);
    assert.equal(seen.length, 2);

    // Signing: the CSR's key, the entry's ID and DNS names; unauthorized entries refused.
    const wk = generateKeyPair();
    const res = await call<unknown, BatchNewX509SvidResponseMessage>(a.client, 'BatchNewX509Svid', {
      params: [
        { entry_id: wlId, csr: await csrFor(wk) },
        { entry_id: otherId, csr: await csrFor(generateKeyPair()) },
        { entry_id: wlId, csr: Buffer.from('not a csr') },
      ],
    });
    assert.equal(res.results.length, 3);
    const [ok, denied, bad] = res.results as [
      (typeof res.results)[0],
      (typeof res.results)[0],
      (typeof res.results)[0],
    ];
    assert.equal(ok.status?.code, 0);
    assert.equal(ok.spiffe_id, `spiffe://${TD}/ns/default/sa/web`);
    const leaf = new X509Certificate(ok.cert_chain[0]!);
    assert.ok(leaf.checkPrivateKey(wk.privateKey));
    assert.match(leaf.subjectAltName ?? '', /URI:spiffe:\/\/example\.org\/ns\/default\/sa\/web/);
    assert.match(leaf.subjectAltName ?? '', /DNS:web\.default\.svc/);
    assert.equal(denied.status?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(bad.status?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(bad.status?.message ?? '', /params\[2\]\.csr/);

    // openssl agrees the workload SVID chains to the bundle.
    const bundleFile = path.join(tmp.dir, 'roots.pem');
    const leafFile = path.join(tmp.dir, 'wl.pem');
    writeFileSync(bundleFile, roots);
    writeFileSync(leafFile, derChainToPem(ok.cert_chain));
    assert.match(
      execFileSync('openssl', ['verify', '-CAfile', bundleFile, leafFile], { encoding: 'utf8' }),
      /OK/,
    );

    // JWT-SVID and bundles.
    const jwt = await call<unknown, NewJwtSvidResponseMessage>(a.client, 'NewJwtSvid', {
      entry_id: wlId,
      audience: ['db'],
    });
    assert.equal(jwt.spiffe_id, `spiffe://${TD}/ns/default/sa/web`);
    await expectCode(
      call(a.client, 'NewJwtSvid', { entry_id: otherId, audience: ['db'] }),
      grpc.status.PERMISSION_DENIED,
    );
    const b = await call<unknown, GetBundlesResponseMessage>(a.client, 'GetBundles', {});
    const doc = JSON.parse(b.bundle.toString('utf8')) as { keys: unknown[] };
    assert.ok(doc.keys.length >= 2);
  });

  test('bad CSRs are refused with InvalidArgument naming the field', async () => {
    const a = await attest('join_token', await joinToken());
    const entryId = await entry(a.id, `spiffe://${TD}/csr-test`, ['unix:uid:5']);
    const opensslCsr = (keyArgs: string[], extra: string[] = []): Buffer => {
      const keyFile = path.join(tmp.dir, `k-${Math.random()}.pem`);
      execFileSync('openssl', ['genpkey', ...keyArgs, '-out', keyFile], { stdio: 'ignore' });
      return execFileSync('openssl', [
        'req',
        '-new',
        '-key',
        keyFile,
        '-subj',
        '/CN=x',
        '-outform',
        'DER',
        ...extra,
      ]);
    };
    const good = await csrFor(generateKeyPair());
    const tampered = Buffer.from(good);
    tampered[tampered.length - 5]! ^= 0xff;
    const cases: [string, Buffer, RegExp][] = [
      [
        'Ed25519 key',
        opensslCsr(['-algorithm', 'ed25519']),
        /unsupported CSR key type ed25519|malformed CSR/,
      ],
      [
        'RSA-1024 key',
        opensslCsr(['-algorithm', 'rsa', '-pkeyopt', 'rsa_keygen_bits:1024']),
        /unsupported CSR key type rsa-1024/,
      ],
      ['bad signature', tampered, /malformed CSR/],
      ['empty', Buffer.alloc(0), /CSR is empty/],
      [
        'foreign URI SAN',
        opensslCsr(
          ['-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
          ['-addext', 'subjectAltName=URI:spiffe://example.org/admin'],
        ),
        /URI SAN spiffe:\/\/example\.org\/admin does not match/,
      ],
    ];
    for (const [name, csr, message] of cases) {
      const r = await call<unknown, BatchNewX509SvidResponseMessage>(a.client, 'BatchNewX509Svid', {
        params: [{ entry_id: entryId, csr }],
      });
      const st = r.results[0]!.status!;
      assert.equal(st.code, grpc.status.INVALID_ARGUMENT, `${name}: ${st.message}`);
      assert.match(st.message, /params\[0\]\.csr/, name);
      assert.match(st.message, message, name);
      assert.deepEqual(r.results[0]!.cert_chain, [], name);
    }
    await expectCode(
      call(anon, 'AttestAgent', {
        attestation_type: 'join_token',
        payload: Buffer.from(await joinToken()),
        csr: tampered,
      }),
      grpc.status.INVALID_ARGUMENT,
      /csr/,
    );
  });

  test('k8s_sat: wrong cluster, SA not allowed, expired, forged tokens are refused', async () => {
    const ok = await saToken(legacyClaims('spire', 'spire-agent'));
    await expectCode(
      attest('k8s_sat', JSON.stringify({ cluster: 'other', token: ok })),
      grpc.status.PERMISSION_DENIED,
      /not configured for cluster "other"/,
    );
    const wrongSa = await saToken(legacyClaims('default', 'intruder'));
    await expectCode(
      attest('k8s_sat', JSON.stringify({ cluster: 'c', token: wrongSa })),
      grpc.status.PERMISSION_DENIED,
      /"default:intruder" is not in service_account_allow_list/,
    );
    const expired = await saToken(legacyClaims('spire', 'spire-agent'), -120);
    await expectCode(
      attest('k8s_sat', JSON.stringify({ cluster: 'c', token: expired })),
      grpc.status.PERMISSION_DENIED,
      /expired/,
    );
    const forgedKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = await new SignJWT({
      iss: 'kubernetes/serviceaccount',
      ...legacyClaims('spire', 'spire-agent'),
    })
      .setProtectedHeader({ alg: 'RS256' })
      .sign(forgedKey.privateKey);
    await expectCode(
      attest('k8s_sat', JSON.stringify({ cluster: 'c', token: forged })),
      grpc.status.PERMISSION_DENIED,
      /unable to validate/,
    );
    await expectCode(attest('k8s_sat', 'not json'), grpc.status.INVALID_ARGUMENT, /payload/);
    // Projected-token claim form is accepted too.
    const projected = await saToken({
      iss: 'https://kubernetes.default.svc',
      'kubernetes.io': { namespace: 'spire', serviceaccount: { name: 'spire-agent' } },
    });
    const a = await attest('k8s_sat', JSON.stringify({ cluster: 'c', token: projected }));
    assert.match(a.id, /\/spire\/agent\/k8s_sat\/c\//);
  });

  test('unauthenticated calls and foreign certificates are refused', async () => {
    await expectCode(call(anon, 'SyncAuthorizedEntries', {}), grpc.status.UNAUTHENTICATED);
    // A certificate from some other CA: TLS lets it through, the handler refuses it.
    const { keyFile, certFile } = opensslSelfSigned(tmp.dir, 'self', {
      subject: '/CN=x',
      days: 1,
      extensions: ['subjectAltName=URI:spiffe://example.org/spire/agent/join_token/x'],
    });
    const forged = agentClient(s, roots, {
      certPem: readFileSync(certFile, 'utf8'),
      keyPem: readFileSync(keyFile, 'utf8'),
    });
    clients.push(forged);
    await expectCode(call(forged, 'GetBundles', {}), grpc.status.UNAUTHENTICATED);
  });

  test('renewal, eviction and banning', async () => {
    const token = await joinToken();
    const a = await attest('join_token', token);
    // Renew: the new SVID works; after it was used, the old one is refused.
    const nk = generateKeyPair();
    const renewed = await call<unknown, X509SvidResultMessage>(a.client, 'RenewAgent', {
      csr: await csrFor(nk),
    });
    assert.equal(renewed.spiffe_id, a.id);
    const c2 = agentClient(s, roots, {
      certPem: derChainToPem(renewed.cert_chain),
      keyPem: nk.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    });
    clients.push(c2);
    await call(c2, 'GetBundles', {});
    const c1again = agentClient(s, roots, { certPem: a.certPem, keyPem: a.keyPem });
    clients.push(c1again);
    await expectCode(
      call(c1again, 'GetBundles', {}),
      grpc.status.PERMISSION_DENIED,
      /not the agent's active SVID/,
    );

    // Watch stream pushes on change.
    const stream = c2.WatchRevisions({});
    const updates: WatchRevisionsResponseMessage[] = [];
    let onUpdate = (): void => undefined;
    const updateCount = (n: number) =>
      new Promise<void>((resolve) => {
        onUpdate = () => void (updates.length >= n && resolve());
        onUpdate();
      });
    stream.on('data', (m: WatchRevisionsResponseMessage) => (updates.push(m), onUpdate()));
    stream.on('error', () => undefined);
    // The current revisions come first: once they are here the watch is registered, so the entry
    // created next must be pushed (a sleep instead would race the subscription on a slow machine).
    await updateCount(1);
    await entry(a.id, `spiffe://${TD}/watched`, ['unix:uid:9']);
    await updateCount(2);
    assert.ok(updates[1]!.entry_revision > updates[0]!.entry_revision);
    stream.cancel();

    assert.equal(await cliOk(s, ['agent', 'evict', '-spiffeID', a.id]), 'Agent evicted successfully\n');
    await expectCode(call(c2, 'GetBundles', {}), grpc.status.PERMISSION_DENIED, /not attested/);

    const b = await attest('join_token', await joinToken());
    assert.equal(await cliOk(s, ['agent', 'ban', '-spiffeID', b.id]), 'Agent banned successfully\n');
    await expectCode(call(b.client, 'SyncAuthorizedEntries', {}), grpc.status.PERMISSION_DENIED, /banned/);
    assert.match(await cliOk(s, ['agent', 'show', '-spiffeID', b.id]), /Banned {12}: true/);
    const missing = await s.cli([
      'agent',
      'evict',
      '-spiffeID',
      `spiffe://${TD}/spire/agent/join_token/nobody`,
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NotFound/);
  });
});
