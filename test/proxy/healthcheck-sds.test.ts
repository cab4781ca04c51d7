/**
 * Active health checks of a cluster whose UpstreamTlsContext comes over SDS wait for the secrets,
 * as Envoy keeps such a cluster warming: the first check runs once the agent has delivered them
 * and passes, instead of failing at start-up and holding the host failed for a whole interval.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import type net from 'node:net';
import { A_ID, B_ID, TD, makePki, type TestPki } from './support/pki.js';
import { FakeSds } from './support/fake-xds.js';
import {
  cluster,
  commonTls,
  inlineCertSecret,
  inlineSpiffeBundleSecret,
  startProxy,
  type ProxyProcess,
} from './support/envoy.js';

let dir: string;
let pki: TestPki;
let sds: FakeSds;
let upstream: https.Server;
let upstreamPort: number;
let proxy: ProxyProcess;

const read = (f: string): string => fs.readFileSync(f, 'utf8');

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-proxy-hc-sds-'));
  pki = await makePki(dir);
  sds = new FakeSds();
  const sock = path.join(dir, 'agent.sock');
  await sds.listen(sock);
  upstream = https.createServer({ cert: read(pki.b.cert), key: read(pki.b.key) }, (_req, res) =>
    res.end('ok'),
  );
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as net.AddressInfo).port;
  proxy = await startProxy(
    dir,
    'hc',
    {
      static_resources: {
        clusters: [
          cluster('up', [['127.0.0.1', upstreamPort]], {
            tls: { sni: 'localhost', ...commonTls(A_ID, TD, [B_ID], true) },
            // One check a minute: a failed first check would keep the host failed for the test's life.
            healthCheck: {
              timeout: '2s',
              interval: '60s',
              unhealthy_threshold: 2,
              healthy_threshold: 2,
              http_health_check: { path: '/ping' },
            },
          }),
        ],
      },
    },
    { APPMESH_SDS_SOCKET_PATH: sock },
  );
});

after(async () => {
  await proxy?.stop();
  sds?.close();
  upstream?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the first health check waits for the SDS secrets, then passes', async () => {
  // The secrets arrive only now, after the cluster was added.
  sds.set(inlineCertSecret(A_ID, pki.a));
  sds.set(inlineSpiffeBundleSecret(TD, { 'example.org': pki.ca }));
  const line = new RegExp(`^up::127\\.0\\.0\\.1:${upstreamPort}::health_flags::healthy$`, 'm');
  let clusters = '';
  for (let i = 0; i < 100 && !line.test(clusters); i++) {
    await new Promise((r) => setTimeout(r, 100));
    clusters = (await proxy.admin('/clusters')).body;
  }
  assert.match(clusters, line);
  assert.equal(await proxy.stat('cluster.up.health_check.failure'), 0, 'no check ran without the secrets');
  assert.ok((await proxy.stat('cluster.up.health_check.success')) >= 1);
});
