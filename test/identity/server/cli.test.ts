/**
 * `trustmesh server` driven as a spire-server user would: a real daemon, real CLI processes, and
 * openssl as an independent verifier. Independent CLI calls run concurrently (each one is a whole
 * process start); bulk setup and rule tables go through the admin API directly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { runTrustmesh } from '../../support/cli.js';
import { adminCall } from '../../../src/identity/server/index.js';
import { cliOk, startServer, tempDir, type RunningServer } from './support.js';

type CreateReply = { results: { status: { code: number; message: string }; value?: { id: string } }[] };

describe('trustmesh server CLI', () => {
  const tmp = tempDir();
  let s: RunningServer;

  const create = async (entry: object): Promise<CreateReply['results'][0]> =>
    (await adminCall<CreateReply>(s.socketPath, 'entry.create', { entries: [entry] })).results[0]!;

  before(async () => {
    // jwt_issuer: every JWT-SVID carries it as `iss` (SPIRE; absent when unset, see the other.org server).
    s = await startServer(tmp.dir, { server: 'jwt_issuer = "https://oidc.example.org"' });
  });
  after(async () => {
    await s?.stop();
    tmp.cleanup();
  });

  test('walkthrough entries: -node with k8s_sat selectors, workload entry with k8s selectors; show and count', async () => {
    const [node, wl, health] = await Promise.all([
      cliOk(s, [
        'entry',
        'create',
        '-node',
        '-spiffeID',
        'spiffe://example.org/ns/spire/sa/spire-agent',
        '-selector',
        'k8s_sat:cluster:c',
        '-selector',
        'k8s_sat:agent_ns:spire',
        '-selector',
        'k8s_sat:agent_sa:spire-agent',
      ]),
      cliOk(s, [
        'entry',
        'create',
        '-parentID',
        'spiffe://example.org/ns/spire/sa/spire-agent',
        '-spiffeID',
        'spiffe://example.org/ns/default/sa/front',
        '-selector',
        'k8s:ns:default',
        '-selector',
        'k8s:sa:front',
        '-selector',
        'k8s:pod-label:app:front',
        '-x509SVIDTTL',
        '600',
        '-dns',
        'front.default.svc',
      ]),
      cliOk(s, ['healthcheck']),
    ]);
    assert.equal(health, 'Server is healthy.\n');
    const nodeId = /^Entry ID {16}: (\S+)$/m.exec(node)?.[1];
    assert.ok(nodeId, node);
    assert.match(node, /^SPIFFE ID {15}: spiffe:\/\/example\.org\/ns\/spire\/sa\/spire-agent$/m);
    assert.match(node, /^Parent ID {15}: spiffe:\/\/example\.org\/spire\/server$/m);
    assert.match(node, /^Revision {16}: 0$/m);
    assert.match(node, /^X509-SVID TTL {11}: default$/m);
    assert.match(node, /^JWT-SVID TTL {12}: default$/m);
    assert.match(node, /^Selector {16}: k8s_sat:agent_ns:spire$/m);
    assert.match(wl, /^X509-SVID TTL {11}: 600$/m);
    assert.match(wl, /^Selector {16}: k8s:pod-label:app:front$/m);
    assert.match(wl, /^DNS name {16}: front\.default\.svc$/m);

    const [byParent, bySel, json, count] = await Promise.all([
      cliOk(s, ['entry', 'show', '-parentID', 'spiffe://example.org/spire/server']),
      cliOk(s, ['entry', 'show', '-selector', 'k8s:ns:default', '-selector', 'k8s:sa:front']),
      cliOk(s, ['entry', 'show', '-spiffeID', 'spiffe://example.org/ns/default/sa/front', '-output', 'json']),
      cliOk(s, ['entry', 'count', '-parentID', 'spiffe://example.org/spire/server']),
    ]);
    assert.match(byParent, /^Found 1 entry\n/);
    assert.ok(byParent.includes(nodeId));
    assert.match(
      bySel,
      /^Found 1 entry\nEntry ID {16}: \S+\nSPIFFE ID {15}: spiffe:\/\/example\.org\/ns\/default\/sa\/front\n/,
    );
    const doc = JSON.parse(json) as { entries: { spiffe_id: string; x509_svid_ttl: number }[] };
    assert.deepEqual(
      doc.entries.map((e) => [e.spiffe_id, e.x509_svid_ttl]),
      [['spiffe://example.org/ns/default/sa/front', 600]],
    );
    assert.equal(count, '1 registration entry\n');
  });

  test('update bumps the revision; delete removes the entry; a second delete is NotFound', async () => {
    const { value } = await create({
      parent_id: 'spiffe://example.org/agent',
      spiffe_id: 'spiffe://example.org/upd',
      selectors: [{ type: 'unix', value: 'uid:1' }],
    });
    const id = value!.id;
    const upd = await cliOk(s, [
      'entry',
      'update',
      '-entryID',
      id,
      '-parentID',
      'spiffe://example.org/agent',
      '-spiffeID',
      'spiffe://example.org/upd',
      '-selector',
      'unix:uid:2',
      '-jwtSVIDTTL',
      '90',
    ]);
    assert.match(upd, /^Revision {16}: 1$/m);
    assert.match(upd, /^JWT-SVID TTL {12}: 90$/m);
    assert.match(upd, /^Selector {16}: unix:uid:2$/m);
    assert.equal(await cliOk(s, ['entry', 'delete', '-entryID', id]), `Deleted entry with ID: ${id}\n`);
    const again = await s.cli(['entry', 'delete', '-entryID', id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /code: NotFound/);
  });

  test('a duplicate entry is refused with AlreadyExists, printed like spire-server', async () => {
    const entry = {
      parent_id: 'spiffe://example.org/agent',
      spiffe_id: 'spiffe://example.org/dup',
      selectors: [{ type: 'unix', value: 'uid:7' }],
    };
    assert.equal((await create(entry)).status.code, 0);
    const [r, direct] = await Promise.all([
      s.cli([
        'entry',
        'create',
        '-parentID',
        'spiffe://example.org/agent',
        '-spiffeID',
        'spiffe://example.org/dup',
        '-selector',
        'unix:uid:7',
      ]),
      create({
        ...entry,
        selectors: [
          { type: 'unix', value: 'uid:7' },
          { type: 'unix', value: 'uid:7' },
        ],
      }),
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^Failed to create the following entry \(code: AlreadyExists, msg: "similar entry already exists/m,
    );
    assert.match(r.stderr, /^SPIFFE ID {15}: spiffe:\/\/example\.org\/dup$/m);
    assert.equal(direct.status.code, 6, 'repeated selectors are the same set');
  });

  test('entry rules (§g.1): each violation is InvalidArgument naming the field', async () => {
    const base = {
      parent_id: 'spiffe://example.org/a',
      spiffe_id: 'spiffe://example.org/w',
      selectors: [{ type: 'a', value: 'b' }],
    };
    const rows: [string, object, RegExp][] = [
      [
        'ID in another trust domain',
        { spiffe_id: 'spiffe://other.org/w' },
        /^spiffe_id: .*not a member of trust domain example\.org/,
      ],
      ['reserved /spire path', { spiffe_id: 'spiffe://example.org/spire/x' }, /^spiffe_id: .*reserved/],
      ['empty path', { spiffe_id: 'spiffe://example.org' }, /^spiffe_id: .*non-empty path/],
      ['malformed ID', { spiffe_id: 'spiffe://Example.org/w' }, /^spiffe_id: invalid SPIFFE ID/],
      ['parent in another trust domain', { parent_id: 'spiffe://other.org/a' }, /^parent_id: /],
      ['no selectors', { selectors: [] }, /^selectors: at least one selector is required/],
      ['selector type with colon', { selectors: [{ type: 'a:b', value: 'c' }] }, /^selectors\[0\]\.type: /],
      ['empty selector value', { selectors: [{ type: 'unix', value: '' }] }, /^selectors\[0\]\.value: /],
      ['negative TTL', { x509_svid_ttl: -1 }, /^x509_svid_ttl: /],
      ['bad DNS name', { dns_names: ['bad_name!'] }, /^dns_names\[0\]: .*not a valid DNS name/],
      [
        'federation without a bundle',
        { federates_with: ['spiffe://other.org'] },
        /^federates_with\[0\]: no bundle stored/,
      ],
      ['hint too long', { hint: 'h'.repeat(1025) }, /^hint: /],
      [
        'federating with the own trust domain',
        { federates_with: ['example.org'] },
        /^federates_with\[0\]: cannot federate with the server's own/,
      ],
    ];
    for (const [name, patch, message] of rows) {
      const r = await create({ ...base, ...patch });
      assert.equal(r.status.code, 3, `${name}: ${r.status.message}`);
      assert.match(r.status.message, message, name);
    }
    const [noColon, remote] = await Promise.all([
      s.cli([
        'entry',
        'create',
        '-spiffeID',
        'spiffe://example.org/w',
        '-parentID',
        'spiffe://example.org/a',
        '-selector',
        'unix',
      ]),
      s.cli([
        'entry',
        'create',
        '-spiffeID',
        'spiffe://example.org/spire/w',
        '-parentID',
        'spiffe://example.org/a',
        '-selector',
        'a:b',
      ]),
    ]);
    assert.equal(noColon.code, 1);
    assert.match(noColon.stderr, /must be "type:value"/);
    assert.equal(remote.code, 1);
    assert.match(remote.stderr, /code: InvalidArgument, msg: "spiffe_id: .*reserved/);
  });

  test('x509 mint -write verifies with openssl against bundle show; jwt mint; bundle formats', async () => {
    const out = path.join(tmp.dir, 'minted');
    const [, bundlePem, printed, token, spiffeJson] = await Promise.all([
      cliOk(s, [
        'x509',
        'mint',
        '-spiffeID',
        'spiffe://example.org/workload',
        '-dns',
        'w.example.org',
        '-ttl',
        '10m',
        '-write',
        out,
      ]),
      cliOk(s, ['bundle', 'show']),
      cliOk(s, ['x509', 'mint', '-spiffeID', 'spiffe://example.org/printed']),
      cliOk(s, ['jwt', 'mint', '-spiffeID', 'spiffe://example.org/w', '-audience', 'db']),
      cliOk(s, ['bundle', 'show', '-format', 'spiffe']),
    ]);
    const bundleFile = path.join(tmp.dir, 'bundle-show.pem');
    writeFileSync(bundleFile, bundlePem);
    const svid = path.join(out, 'svid.pem');
    assert.match(
      execFileSync('openssl', ['verify', '-CAfile', bundleFile, svid], { encoding: 'utf8' }),
      /: OK/,
    );
    const text = execFileSync('openssl', ['x509', '-in', svid, '-noout', '-text'], { encoding: 'utf8' });
    assert.match(text, /URI:spiffe:\/\/example\.org\/workload/);
    assert.match(text, /DNS:w\.example\.org/);
    assert.equal(statSync(path.join(out, 'key.pem')).mode & 0o777, 0o600);
    const certPub = execFileSync('openssl', ['x509', '-in', svid, '-noout', '-pubkey'], { encoding: 'utf8' });
    const keyPub = execFileSync('openssl', ['pkey', '-in', path.join(out, 'key.pem'), '-pubout'], {
      encoding: 'utf8',
    });
    assert.equal(certPub, keyPub, 'key.pem belongs to svid.pem');
    assert.equal(readFileSync(path.join(out, 'bundle.pem'), 'utf8'), bundlePem);

    assert.match(printed, /^X509-SVID:\n-----BEGIN CERTIFICATE-----/);
    assert.match(printed, /\nPrivate key:\n-----BEGIN PRIVATE KEY-----/);
    assert.match(printed, /\nRoot CAs:\n-----BEGIN CERTIFICATE-----/);

    const header = decodeProtectedHeader(token.trim());
    assert.equal(header.alg, 'ES256');
    assert.equal(header.typ, 'JWT');
    const claims = decodeJwt(token.trim());
    assert.equal(claims.sub, 'spiffe://example.org/w');
    assert.deepEqual(claims.aud, ['db']);
    assert.equal(claims.iss, 'https://oidc.example.org');

    const doc = JSON.parse(spiffeJson) as {
      spiffe_sequence: number;
      keys: { use: string; kty: string; x5c?: string[]; kid?: string }[];
    };
    assert.ok(doc.spiffe_sequence >= 1);
    assert.ok(
      doc.keys.some((k) => k.use === 'jwt-svid' && k.kid === header.kid),
      'JWT key published with its kid',
    );
    const x509 = doc.keys.filter((k) => k.use === 'x509-svid');
    assert.ok(x509.length >= 1);
    for (const k of x509) {
      assert.equal(k.x5c?.length, 1);
      assert.equal(k.kid, undefined);
      assert.equal(k.kty, 'EC');
    }
  });

  test('federated bundles: set, list with banner, own trust domain refused, restricted delete', async () => {
    const other = tempDir();
    const o = await startServer(other.dir, { trustDomain: 'other.org' });
    try {
      const { pem } = await adminCall<{ pem: string }>(o.socketPath, 'bundle.show');
      const { token } = await adminCall<{ token: string }>(o.socketPath, 'jwt.mint', {
        spiffe_id: 'spiffe://other.org/w',
        audience: ['x'],
      });
      assert.equal(decodeJwt(token).iss, undefined, 'no jwt_issuer, no iss claim');
      const [set, own] = await Promise.all([
        s.cli(['bundle', 'set', '-id', 'spiffe://other.org'], pem),
        s.cli(['bundle', 'set', '-id', 'spiffe://example.org'], pem),
      ]);
      assert.equal(set.code, 0, set.stderr);
      assert.equal(own.code, 1);
      assert.match(own.stderr, /own trust domain/);
      const fed = await create({
        parent_id: 'spiffe://example.org/a',
        spiffe_id: 'spiffe://example.org/fed',
        selectors: [{ type: 'a', value: 'fed' }],
        federates_with: ['other.org'],
      });
      assert.equal(fed.status.code, 0, fed.status.message);
      const [listed, restricted] = await Promise.all([
        cliOk(s, ['bundle', 'list']),
        s.cli(['bundle', 'delete', '-id', 'spiffe://other.org']),
      ]);
      assert.match(listed, /^\*+\n\* spiffe:\/\/other\.org\n\*+\n-----BEGIN CERTIFICATE-----/);
      assert.equal(restricted.code, 1);
      assert.match(restricted.stderr, /federate with spiffe:\/\/other\.org/);
      await cliOk(s, ['bundle', 'delete', '-id', 'spiffe://other.org', '-mode', 'dissociate']);
      const { entries } = await adminCall<{ entries: { federates_with: string[] }[] }>(
        s.socketPath,
        'entry.list',
        { filter: { spiffe_id: 'spiffe://example.org/fed' } },
      );
      assert.deepEqual(entries[0]!.federates_with, []);
    } finally {
      await o.stop();
      other.cleanup();
    }
  });

  test('token generate with -spiffeID creates the alias entry; TRUSTMESH_SERVER_SOCKET; second server refused', async () => {
    const [tokenOut, viaEnv, badEnv, second] = await Promise.all([
      cliOk(s, ['token', 'generate', '-spiffeID', 'spiffe://example.org/host', '-ttl', '60']),
      runTrustmesh(['server', 'healthcheck'], {
        env: { ...process.env, TRUSTMESH_SERVER_SOCKET: s.socketPath },
      }),
      runTrustmesh(['server', 'healthcheck'], {
        env: { ...process.env, TRUSTMESH_SERVER_SOCKET: path.join(tmp.dir, 'nope.sock') },
      }),
      runTrustmesh([
        'server',
        'run',
        '-config',
        s.configPath,
        '-socketPath',
        path.join(tmp.dir, 'second.sock'),
      ]),
    ]);
    const token = /^Token: ([0-9a-f-]{36})$/m.exec(tokenOut)?.[1];
    assert.ok(token, tokenOut);
    const { entries } = await adminCall<{
      entries: { parent_id: string; selectors: { type: string; value: string }[] }[];
    }>(s.socketPath, 'entry.list', {
      filter: { spiffe_id: 'spiffe://example.org/host' },
    });
    const agentId = `spiffe://example.org/spire/agent/join_token/${token}`;
    assert.equal(entries[0]!.parent_id, agentId);
    assert.deepEqual(entries[0]!.selectors, [{ type: 'spiffe_id', value: agentId }]);

    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(badEnv.code, 1);
    assert.match(badEnv.stderr, /Server is unhealthy/);

    assert.equal(second.code, 1);
    assert.match(second.stderr, /data_dir .* is in use by another trustmesh server \(pid \d+\)/);
    assert.equal((await adminCall<{ healthy: boolean }>(s.socketPath, 'healthcheck')).healthy, true);
  });
});

describe('trustmesh server run without a config file', () => {
  test('flags alone start it; a restart keeps entries and the CA; a malformed config names its line', async () => {
    const tmp = tempDir();
    const { spawnTrustmesh } = await import('../../support/cli.js');
    const dataDir = path.join(tmp.dir, 'data');
    const socketPath = path.join(tmp.dir, 'api.sock');
    const start = async (): Promise<() => Promise<void>> => {
      const proc = spawnTrustmesh([
        'server',
        'run',
        '-trustDomain',
        'flags.test',
        '-dataDir',
        dataDir,
        '-socketPath',
        socketPath,
        '-bindAddress',
        '127.0.0.1',
        '-serverPort',
        '0',
        '-logLevel',
        'INFO',
      ]);
      let err = '';
      await new Promise<void>((resolve, reject) => {
        proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
          err += d;
          if (err.includes('server started')) resolve();
        });
        proc.once('exit', (c) => reject(new Error(`exit ${c}: ${err}`)));
      });
      const exited = new Promise((r) => proc.once('exit', r));
      return async () => {
        proc.kill('SIGTERM');
        await exited;
      };
    };
    try {
      const conf = path.join(tmp.dir, 'bad.conf');
      writeFileSync(conf, 'server {\n  trust_domain = \n}\n');
      const [stop1, bad] = await Promise.all([start(), runTrustmesh(['server', 'run', '-config', conf])]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /line 3/);
      let stop = stop1;
      try {
        const r = await adminCall<CreateReply>(socketPath, 'entry.create', {
          entries: [
            {
              parent_id: 'spiffe://flags.test/a',
              spiffe_id: 'spiffe://flags.test/kept',
              selectors: [{ type: 'unix', value: 'uid:0' }],
            },
          ],
        });
        assert.equal(r.results[0]!.status.code, 0);
        const before = await adminCall<{ pem: string }>(socketPath, 'bundle.show');
        await stop();
        stop = await start();
        const shown = await runTrustmesh([
          'server',
          'entry',
          'show',
          '-spiffeID',
          'spiffe://flags.test/kept',
          '-socketPath',
          socketPath,
        ]);
        assert.match(shown.stdout, /^Found 1 entry\n/);
        assert.equal((await adminCall<{ pem: string }>(socketPath, 'bundle.show')).pem, before.pem);
      } finally {
        await stop();
      }
    } finally {
      tmp.cleanup();
    }
  });
});
