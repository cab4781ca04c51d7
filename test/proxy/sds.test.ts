/**
 * SDS end to end against a fake agent serving the real SecretDiscoveryService on a unix socket
 * (APPMESH_SDS_SOCKET_PATH): a listener whose certificate has not arrived accepts and resets
 * connections; once it arrives, A → mTLS → B works; rotating B's SVID under a steady request loop
 * fails no request and new handshakes present the new certificate; a secret the proxy cannot use
 * is NACKed with the reason while the last good one keeps serving.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { A_ID, B_ID, TD, makePki, type TestPki } from './support/pki.js';
import { FakeSds } from './support/fake-xds.js';
import {
  cluster,
  commonTls,
  hcm,
  ingressListener,
  inlineCertSecret,
  inlineSpiffeBundleSecret,
  plainListener,
  startProxy,
  vhost,
  type ProxyProcess,
} from './support/envoy.js';

let dir: string;
let pki: TestPki;
let sds: FakeSds;
let app: http.Server;
let a: ProxyProcess;
let b: ProxyProcess;
let bPort: number;
let aPort: number;

const read = (f: string): string => fs.readFileSync(f, 'utf8');
function get(p: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port: aPort, path: p, headers: { host: 'b.example' }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
  });
}

/** The serial number B presents on a fresh mTLS connection (openssl s_client), or '' when refused. */
function servedSerial(): Promise<string> {
  return new Promise((resolve) => {
    const c = execFile(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${bPort}`,
        '-cert',
        pki.a.cert,
        '-key',
        pki.a.key,
        '-CAfile',
        pki.ca,
      ],
      { timeout: 5000 },
      (_err, stdout) => {
        const m = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(stdout);
        resolve(m ? new X509Certificate(m[0]).serialNumber : '');
      },
    );
    c.stdin?.end();
  });
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-proxy-sds-'));
  pki = await makePki(dir);
  sds = new FakeSds();
  const sock = path.join(dir, 'agent.sock');
  await sds.listen(sock);
  sds.set(inlineCertSecret(A_ID, pki.a));
  sds.set(inlineSpiffeBundleSecret(TD, { 'example.org': pki.ca }));
  app = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as { port: number }).port;
  const env = { APPMESH_SDS_SOCKET_PATH: sock };
  b = await startProxy(
    dir,
    'b',
    {
      static_resources: {
        listeners: [
          ingressListener({
            port: 0,
            mode: 'STRICT',
            certName: B_ID,
            validationName: TD,
            sans: [A_ID],
            sds: true,
            filter: hcm('ingress', [
              vhost('local', ['*'], [{ match: { prefix: '/' }, route: { cluster: 'app' } }]),
            ]),
          }),
        ],
        clusters: [cluster('app', [['127.0.0.1', appPort]])],
      },
    },
    env,
  );
  bPort = b.listeners['lds_ingress_0.0.0.0_15000']!;
  a = await startProxy(
    dir,
    'a',
    {
      static_resources: {
        listeners: [
          plainListener(
            'lds_egress_0.0.0.0_15001',
            0,
            hcm('egress', [
              vhost('b', ['b.example'], [{ match: { prefix: '/' }, route: { cluster: 'cds_egress_b' } }]),
            ]),
          ),
        ],
        clusters: [
          cluster('cds_egress_b', [['127.0.0.1', bPort]], {
            tls: { sni: 'localhost', ...commonTls(A_ID, TD, [B_ID], true) },
          }),
        ],
      },
    },
    env,
  );
  aPort = a.listeners['lds_egress_0.0.0.0_15001']!;
});

after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  sds?.close();
  app?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a listener whose certificate has not arrived accepts and resets connections', async () => {
  assert.equal(await servedSerial(), '');
  assert.ok((await b.stat(`listener.127.0.0.1_${bPort}.ssl.connection_error`)) >= 1);
  assert.equal(await get('/'), 503, 'A cannot reach B yet');
  sds.set(inlineCertSecret(B_ID, pki.b));
  for (let i = 0; i < 50 && (await get('/')) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await get('/'), 200);
  assert.equal(await servedSerial(), new X509Certificate(read(pki.b.cert)).serialNumber);
  const acks = sds.requests.filter(
    (r) => r.resource_names.includes(B_ID) && r.response_nonce && !r.error_detail,
  );
  assert.ok(acks.length >= 1, 'B ACKed its certificate');
  assert.equal(
    sds.requests.find((r) => r.resource_names.includes(B_ID))?.node?.id,
    'b',
    'first request carries the node',
  );
});

test('rotation under a steady request loop: zero failed requests, new handshakes use the new SVID', async () => {
  let failures = 0;
  let done = 0;
  let stop = false;
  const loop = async (): Promise<void> => {
    while (!stop) {
      if ((await get('/loop')) !== 200) failures++;
      done++;
    }
  };
  const loops = [loop(), loop(), loop(), loop()];
  await new Promise((r) => setTimeout(r, 300));
  sds.set(inlineCertSecret(B_ID, pki.b2));
  sds.set(inlineCertSecret(A_ID, pki.a));
  const want = new X509Certificate(read(pki.b2.cert)).serialNumber;
  let served = '';
  for (let i = 0; i < 50 && served !== want; i++) {
    served = await servedSerial();
    if (served !== want) await new Promise((r) => setTimeout(r, 100));
  }
  const rotatedAt = done;
  for (let i = 0; i < 100 && done < rotatedAt + 40; i++) await new Promise((r) => setTimeout(r, 100));
  stop = true;
  await Promise.all(loops);
  assert.equal(served, want, 'a new handshake presents the rotated certificate');
  assert.ok(done >= rotatedAt + 40, `loop kept running after the rotation (${done} requests)`);
  assert.equal(failures, 0, `${failures} of ${done} requests failed`);
});

test('a secret the proxy cannot use is NACKed with the reason; the last good one keeps serving', async () => {
  sds.set({
    name: B_ID,
    tls_certificate: {
      certificate_chain: { inline_string: 'not a certificate' },
      private_key: { inline_string: 'nope' },
    },
  });
  for (let i = 0; i < 50 && !sds.requests.some((r) => r.error_detail?.message); i++)
    await new Promise((r) => setTimeout(r, 100));
  const nack = sds.requests.find((r) => r.error_detail?.message);
  assert.ok(nack, 'NACK sent');
  assert.match(nack.error_detail!.message, new RegExp(`secret "${B_ID.replace(/[/.]/g, '\\$&')}"`));
  assert.equal(nack.error_detail!.code, 3);
  assert.equal(await servedSerial(), new X509Certificate(read(pki.b2.cert)).serialNumber);
  assert.equal(await get('/after-nack'), 200);
});
