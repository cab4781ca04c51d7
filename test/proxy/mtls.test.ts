/**
 * Two proxies and an app, real processes and real TLS: plaintext client → A (egress, Host routing)
 * → mTLS (SPIFFE validator, SAN match) → B (ingress STRICT) → app. Then the negative matrix against
 * B's STRICT listener with `openssl s_client` and `curl` as independent peers, each refusal counted
 * in Envoy's stat; and a PERMISSIVE listener that takes plaintext and mTLS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import tls from 'node:tls';
import { execFile } from 'node:child_process';
import { A_ID, B_ID, TD, makePki, type TestPki, type PemPair } from './support/pki.js';
import {
  certSecret,
  cluster,
  commonTls,
  hcm,
  ingressListener,
  plainListener,
  spiffeBundleSecret,
  startProxy,
  vhost,
  type ProxyProcess,
} from './support/envoy.js';

let dir: string;
let pki: TestPki;
let app: http.Server;
let appPort: number;
let a: ProxyProcess;
let b: ProxyProcess;
let p: ProxyProcess;
let bPort: number;
let pPort: number;

function run(cmd: string, args: string[], input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const c = execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
    c.stdin?.end(input);
  });
}

/** GET through a plaintext listener with an explicit Host header (fetch forbids setting Host). */
function get(
  port: number,
  path: string,
  host: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, headers: { host, ...headers }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
  });
}

function curl(args: string[]): Promise<{ code: number; out: string }> {
  return run('curl', ['-sS', '--max-time', '5', ...args]);
}

/** curl trusting the example.org root, presenting `client` (no client certificate when undefined). */
function curlAs(client: PemPair | undefined, args: string[]): Promise<{ code: number; out: string }> {
  return curl(['--cacert', pki.ca, ...(client ? ['--cert', client.cert, '--key', client.key] : []), ...args]);
}

/** Ingress route to the app. With an explicit timeout (as App Mesh emits) every request goes
 * through the L7 router; without one, the route table qualifies for the L4 fast path. */
function ingressApp(statPrefix: string, timeout?: string): Record<string, unknown> {
  return hcm(statPrefix, [
    vhost(
      'local',
      ['*'],
      [{ match: { prefix: '/' }, route: { cluster: 'cds_ingress_app', ...(timeout ? { timeout } : {}) } }],
    ),
  ]);
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-proxy-mtls-'));
  pki = await makePki(dir);
  app = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        path: req.url,
        host: req.headers.host,
        xfp: req.headers['x-forwarded-proto'],
        xfcc: req.headers['x-forwarded-client-cert'],
      }),
    );
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appPort = (app.address() as { port: number }).port;
  const secrets = [
    certSecret(B_ID, pki.b.cert, pki.b.key),
    spiffeBundleSecret(TD, { 'example.org': pki.ca }),
  ];
  b = await startProxy(dir, 'b', {
    static_resources: {
      secrets,
      listeners: [
        ingressListener({
          port: 0,
          mode: 'STRICT',
          certName: B_ID,
          validationName: TD,
          sans: [A_ID],
          filter: ingressApp('ingress', '15s'),
        }),
      ],
      clusters: [cluster('cds_ingress_app', [['127.0.0.1', appPort]])],
    },
  });
  bPort = b.listeners['lds_ingress_0.0.0.0_15000']!;
  p = await startProxy(dir, 'permissive', {
    static_resources: {
      secrets,
      listeners: [
        ingressListener({
          port: 0,
          mode: 'PERMISSIVE',
          certName: B_ID,
          validationName: TD,
          sans: [A_ID],
          filter: ingressApp('ingress'),
        }),
      ],
      clusters: [cluster('cds_ingress_app', [['127.0.0.1', appPort]])],
    },
  });
  pPort = p.listeners['lds_ingress_0.0.0.0_15000']!;
  a = await startProxy(dir, 'a', {
    static_resources: {
      secrets: [certSecret(A_ID, pki.a.cert, pki.a.key), spiffeBundleSecret(TD, { 'example.org': pki.ca })],
      listeners: [
        plainListener(
          'lds_egress_0.0.0.0_15001',
          0,
          hcm('egress', [
            vhost(
              'b',
              ['b.example', 'b.example:80'],
              [{ match: { prefix: '/' }, route: { cluster: 'cds_egress_b' } }],
            ),
          ]),
        ),
      ],
      clusters: [
        cluster('cds_egress_b', [['127.0.0.1', bPort]], {
          tls: { sni: 'localhost', ...commonTls(A_ID, TD, [B_ID]) },
        }),
      ],
    },
  });
});

after(async () => {
  await Promise.all([a?.stop(), b?.stop(), p?.stop()]);
  app?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('plaintext client → A → mTLS → B → app', async () => {
  const port = a.listeners['lds_egress_0.0.0.0_15001']!;
  for (let i = 0; i < 5; i++) {
    const r = await get(port, `/hello?x=${i}`, 'b.example');
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { path: string; host: string; xfp: string };
    assert.equal(body.path, `/hello?x=${i}`);
    assert.equal(body.host, 'b.example');
    assert.equal(body.xfp, 'https', 'B saw the request arrive over TLS');
  }
  assert.ok((await a.stat('cluster.cds_egress_b.upstream_rq_2xx')) >= 5);
  assert.ok((await a.stat('cluster.cds_egress_b.ssl.handshake')) >= 1);
  assert.equal(
    await a.stat('cluster.cds_egress_b.upstream_cx_total'),
    await a.stat('cluster.cds_egress_b.ssl.handshake'),
    'keep-alive: one handshake per pooled connection',
  );
  assert.ok((await b.stat(`listener.127.0.0.1_${bPort}.ssl.handshake`)) >= 1);
  const clusters = (await a.admin('/clusters')).body;
  assert.match(clusters, new RegExp(`cds_egress_b::127\\.0\\.0\\.1:${bPort}::health_flags::healthy`));
  const unknown = await get(port, '/', 'nobody.example');
  assert.equal(unknown.status, 404, 'no virtual host matches: Envoy NR → 404');
});

test('admin endpoint answers in Envoy formats', async () => {
  assert.deepEqual(await b.admin('/ready'), { status: 200, body: 'LIVE\n' });
  const info = JSON.parse((await b.admin('/server_info')).body) as { state: string };
  assert.equal(info.state, 'LIVE');
  const certs = JSON.parse((await b.admin('/certs')).body) as {
    certificates: { cert_chain: { subject_alt_names: { uri?: string }[] }[] }[];
  };
  assert.ok(
    certs.certificates.some((c) => c.cert_chain.some((x) => x.subject_alt_names.some((s) => s.uri === B_ID))),
  );
  const prom = (await b.admin('/stats/prometheus')).body;
  assert.match(
    prom,
    new RegExp(`envoy_listener_ssl_handshake\\{envoy_listener_address="127\\.0\\.0\\.1_${bPort}"\\} \\d+`),
  );
  assert.match(
    (await b.admin('/listeners')).body,
    new RegExp(`lds_ingress_0\\.0\\.0\\.0_15000::127\\.0\\.0\\.1:${bPort}`),
  );
  const dump = JSON.parse((await b.admin('/config_dump')).body) as { configs: { '@type': string }[] };
  assert.ok(dump.configs.some((c) => c['@type'].endsWith('BootstrapConfigDump')));
});

test('a client with a valid SVID and the allowed SAN gets through B directly (curl)', async () => {
  const r = await curlAs(pki.a, [`https://localhost:${bPort}/direct`]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /"path":"\/direct"/);
});

const matrix: { name: string; client: () => PemPair | undefined; stat: string }[] = [
  { name: 'no client certificate', client: () => undefined, stat: 'ssl.fail_verify_no_cert' },
  {
    name: 'certificate from another CA of the same trust domain',
    client: () => pki.wrongCaLeaf,
    stat: 'ssl.fail_verify_error',
  },
  {
    name: 'SPIFFE ID not in match_typed_subject_alt_names',
    client: () => pki.wrongSan,
    stat: 'ssl.fail_verify_san',
  },
  { name: 'expired certificate', client: () => pki.expired, stat: 'ssl.fail_verify_error' },
  { name: 'not-yet-valid certificate', client: () => pki.notYetValid, stat: 'ssl.fail_verify_error' },
  { name: 'CA-flagged leaf', client: () => pki.caLeaf, stat: 'ssl.fail_verify_error' },
  { name: 'other trust domain (no bundle)', client: () => pki.otherTd, stat: 'ssl.fail_verify_error' },
];

for (const row of matrix) {
  test(`STRICT refuses: ${row.name} (openssl s_client and curl)`, async () => {
    const statName = `listener.127.0.0.1_${bPort}.${row.stat}`;
    const before = await b.stat(statName);
    const c = row.client();
    const certArgs = c ? ['-cert', c.cert, '-key', c.key] : [];
    const o = await run(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${bPort}`,
        '-servername',
        'localhost',
        '-CAfile',
        pki.ca,
        '-quiet',
        ...certArgs,
      ],
      'GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n',
    );
    assert.doesNotMatch(o.out, /HTTP\/1\.1 200/, 'openssl s_client must not get a response');
    const r = await curlAs(c, [`https://localhost:${bPort}/`]);
    assert.notEqual(r.code, 0, `curl must fail: ${r.out}`);
    assert.doesNotMatch(r.out, /"path"/);
    assert.equal(await b.stat(statName), before + 2, `${statName} counts both refusals`);
  });
}

test('STRICT answers a handshake without a client certificate with the certificate_required alert', async () => {
  // Envoy's TLS 1.3 answer: the handshake fails with alert 116 before any request is read. The client
  // sends no application data, so the alert reaches it ahead of the close.
  const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port: bPort,
      servername: 'localhost',
      ca: fs.readFileSync(pki.ca),
    });
    s.on('error', resolve);
    s.on('close', () => resolve(undefined));
    s.resume();
  });
  assert.equal(err?.code, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
});

test('STRICT refuses plaintext (reset, counted in ssl.connection_error)', async () => {
  const statName = `listener.127.0.0.1_${bPort}.ssl.connection_error`;
  const before = await b.stat(statName);
  const r = await curl([`http://127.0.0.1:${bPort}/`]);
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.out, /"path"/);
  assert.equal(await b.stat(statName), before + 1);
});

test('PERMISSIVE accepts plaintext (L4 fast path) and mTLS (HTTP codec, forged XFCC dropped), refuses a bad SAN', async () => {
  const fastPath = 'http.ingress.downstream_cx_l4_fast_path';
  const before = await p.stat(fastPath);
  const plain = await curl([`http://127.0.0.1:${pPort}/plain`]);
  assert.equal(plain.code, 0, plain.out);
  assert.match(plain.out, /"path":"\/plain","host":"127\.0\.0\.1:\d+"/);
  assert.equal(
    await p.stat(fastPath),
    before + 1,
    'single-cluster route table, plaintext HTTP/1.1: L4 fast path',
  );
  const tls = await curlAs(pki.a, [
    '--http1.1',
    '-H',
    'x-forwarded-client-cert: By=spiffe://example.org/forged',
    `https://localhost:${pPort}/tls`,
  ]);
  assert.equal(tls.code, 0, tls.out);
  assert.match(tls.out, /"path":"\/tls"/);
  assert.doesNotMatch(tls.out, /forged/, 'SANITIZE: a peer cannot hand the app a forged XFCC');
  assert.equal(await p.stat(fastPath), before + 1, 'a TLS-terminated connection is not piped at L4');
  const bad = await curlAs(pki.wrongSan, [`https://localhost:${pPort}/`]);
  assert.notEqual(bad.code, 0);
  assert.equal(await p.stat(`listener.127.0.0.1_${pPort}.ssl.fail_verify_san`), 1);
});
