/**
 * Federation between two real servers: A serves its bundle on an https_spiffe bundle endpoint, B
 * federates with A (bootstrapped with `bundle set`) and refreshes A's bundle from it. Also checks
 * A's Prometheus metrics endpoint and that curl (an independent client) gets the bundle JSON.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { adminCall } from '../../../src/identity/server/index.js';
import { cliOk, startServer, tempDir, type RunningServer } from './support.js';

describe('federation', () => {
  const tmpA = tempDir();
  const tmpB = tempDir();
  let a: RunningServer;
  let b: RunningServer | undefined;
  let endpointPort: number;
  let metricsPort: number;

  before(async () => {
    a = await startServer(tmpA.dir, {
      trustDomain: 'a.test',
      server:
        'federation {\n bundle_endpoint {\n address = "127.0.0.1"\n port = 0\n refresh_hint = "2s"\n }\n }',
      top: 'telemetry {\n Prometheus {\n host = "127.0.0.1"\n port = 0\n }\n}',
    });
    const h = await adminCall<{ bundle_endpoint_port: number; metrics_port: number }>(
      a.socketPath,
      'healthcheck',
    );
    endpointPort = h.bundle_endpoint_port;
    metricsPort = h.metrics_port;
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
    tmpA.cleanup();
    tmpB.cleanup();
  });

  test('the bundle endpoint serves the SPIFFE bundle over TLS with the server SVID (curl)', async () => {
    const roots = path.join(tmpA.dir, 'roots.pem');
    writeFileSync(roots, (await adminCall<{ pem: string }>(a.socketPath, 'bundle.show')).pem);
    // The SVID has no DNS SAN: verify the chain with openssl, then fetch without hostname checks.
    const chain = execFileSync(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${endpointPort}`, '-CAfile', roots, '-verify_return_error'],
      {
        input: '',
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'ignore'],
      },
    );
    assert.match(chain, /Verify return code: 0 \(ok\)/);
    const text = execFileSync(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${endpointPort}`, '-showcerts'],
      { input: '', encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] },
    );
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)![0];
    const san = execFileSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName'], {
      input: leaf,
      encoding: 'utf8',
    });
    assert.match(san, /URI:spiffe:\/\/a\.test\/spire\/server/);
    const body = execFileSync('curl', ['-sk', `https://127.0.0.1:${endpointPort}/`], { encoding: 'utf8' });
    const doc = JSON.parse(body) as { spiffe_refresh_hint: number; keys: { use: string }[] };
    assert.equal(doc.spiffe_refresh_hint, 2);
    assert.ok(doc.keys.some((k) => k.use === 'x509-svid'));
    assert.ok(doc.keys.some((k) => k.use === 'jwt-svid'));
  });

  test('B refreshes A’s bundle from the https_spiffe endpoint after a PEM bootstrap', async () => {
    b = await startServer(tmpB.dir, {
      trustDomain: 'b.test',
      server: `federation {
    federates_with "a.test" {
      bundle_endpoint_url = "https://127.0.0.1:${endpointPort}"
      bundle_endpoint_profile "https_spiffe" {
        endpoint_spiffe_id = "spiffe://a.test/spire/server"
      }
    }
  }`,
    });
    const pem = (await adminCall<{ pem: string }>(a.socketPath, 'bundle.show')).pem;
    await cliOk(b, ['bundle', 'set', '-id', 'spiffe://a.test'], pem);
    const deadline = Date.now() + 45_000;
    let keys: { use: string }[] = [];
    while (Date.now() < deadline) {
      const { bundles } = await adminCall<{ bundles: { json: string }[] }>(b.socketPath, 'bundle.list', {
        id: 'spiffe://a.test',
      });
      keys = (JSON.parse(bundles[0]!.json) as { keys: { use: string }[] }).keys;
      if (keys.some((k) => k.use === 'jwt-svid')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(
      keys.some((k) => k.use === 'jwt-svid'),
      'the fetched bundle (with JWT keys) replaced the PEM bootstrap',
    );
    assert.match(b.logs(), /federated bundle refreshed/);
  });

  test('metrics are served in Prometheus text format', async () => {
    await adminCall(a.socketPath, 'x509.mint', {}).catch(() => undefined);
    const text = execFileSync('curl', ['-s', `http://127.0.0.1:${metricsPort}/metrics`], {
      encoding: 'utf8',
    });
    assert.match(text, /^trustmesh_server_registration_entries \d+$/m);
    assert.match(text, /^trustmesh_server_attested_agents \d+$/m);
    assert.match(text, /^trustmesh_server_ca_expiry_seconds \d+$/m);
    assert.match(text, /^trustmesh_server_datastore_call_seconds_count\{method="getBundle"\} \d+$/m);
  });
});
