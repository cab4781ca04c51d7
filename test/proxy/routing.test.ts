/**
 * Envoy route semantics through a real proxy process: header/method/regex/query routing, prefix
 * rewrite, weighted split (binomial bounds), retries on 503, route timeout → 504, no healthy
 * upstream → 503, active health checks ejecting and recovering a host, and bad HTTP/1.1 input
 * (smuggling shapes → 400, oversized headers → 431) without taking the proxy down.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import {
  cluster,
  hcm,
  plainListener,
  startProxy,
  tcpProxy,
  vhost,
  type ProxyProcess,
} from './support/envoy.js';

let dir: string;
const servers: http.Server[] = [];
let proxy: ProxyProcess;
let port: number;
let hcHealthy = true;
const flakyCount = new Map<string, number>();
let heldArrived = 0;
let tcpEcho: net.Server;
const heldResponses: http.ServerResponse[] = [];

async function serve(handler: http.RequestListener): Promise<number> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

function request(
  p: string,
  o: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: p,
        method: o.method ?? 'GET',
        headers: { host: 'svc.local', ...o.headers },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Sends raw bytes and returns what the proxy answered before closing (or within 2 s). */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    let out = '';
    s.setEncoding('utf8').on('data', (d: string) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    setTimeout(() => s.destroy(), 2000).unref();
  });
}

const route = (match: Record<string, unknown>, action: Record<string, unknown>): Record<string, unknown> => ({
  match,
  route: action,
});

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-proxy-routing-'));
  const v1 = await serve((req, res) => res.end(`v1 ${req.url}`));
  const v2 = await serve((req, res) => res.end(`v2 ${req.url}`));
  const flaky = await serve((req, res) => {
    const id = String(req.headers['x-id']);
    const n = (flakyCount.get(id) ?? 0) + 1;
    flakyCount.set(id, n);
    res.statusCode = n <= 2 ? 503 : 200;
    res.end(`attempt ${n}`);
  });
  const slow = await serve((_req, res) => setTimeout(() => res.end('late'), 1500).unref());
  const hcGood = await serve((req, res) => res.end(req.url === '/health' ? 'ok' : 'good'));
  const hcBad = await serve((req, res) => {
    if (req.url === '/health') res.statusCode = hcHealthy ? 200 : 503;
    res.end('bad');
  });
  // A port held open on 127.0.0.1 cannot be taken by a parallel test (not even on 0.0.0.0), and
  // nothing listens on 127.0.0.2 at that port: connecting there is refused every time.
  const held = await serve(() => {});
  const resetter = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial');
    setTimeout(() => res.socket?.destroy(), 50);
  });
  // Holds every response until the test releases them (one connection busy, one request queued).
  const held2 = await serve((_req, res) => {
    heldArrived++;
    heldResponses.push(res);
  });
  tcpEcho = net.createServer((c) => c.pipe(c));
  await new Promise<void>((r) => tcpEcho.listen(0, '127.0.0.1', r));
  const tcpEchoPort = (tcpEcho.address() as net.AddressInfo).port;
  const odGood = await serve((_req, res) => res.end('od-good'));
  const odBad = await serve((_req, res) => {
    res.statusCode = 500;
    res.end('od-bad');
  });
  const routes = [
    route(
      { prefix: '/hdr', headers: [{ name: 'x-version', string_match: { exact: 'v2' } }] },
      { cluster: 'v2' },
    ),
    route(
      { prefix: '/hdr', headers: [{ name: 'x-canary', present_match: true, invert_match: true }] },
      { cluster: 'v1' },
    ),
    route(
      { prefix: '/method', headers: [{ name: ':method', string_match: { exact: 'POST' } }] },
      { cluster: 'v2' },
    ),
    route({ prefix: '/method' }, { cluster: 'v1' }),
    route({ safe_regex: { regex: '/re/[0-9]+' } }, { cluster: 'v2' }),
    route(
      { prefix: '/q', query_parameters: [{ name: 'color', string_match: { exact: 'blue' } }] },
      { cluster: 'v2' },
    ),
    route({ prefix: '/rw/' }, { cluster: 'v1', prefix_rewrite: '/rewritten/' }),
    route(
      { prefix: '/split' },
      {
        weighted_clusters: {
          clusters: [
            { name: 'v1', weight: 30 },
            { name: 'v2', weight: 70 },
          ],
        },
      },
    ),
    route({ prefix: '/retry' }, { cluster: 'flaky', retry_policy: { retry_on: '5xx', num_retries: 3 } }),
    route({ prefix: '/noretry' }, { cluster: 'flaky' }),
    route({ prefix: '/slow' }, { cluster: 'slow', timeout: '0.3s' }),
    route({ prefix: '/hc' }, { cluster: 'hc' }),
    route(
      { prefix: '/down' },
      { cluster: 'down', retry_policy: { retry_on: 'connect-failure', num_retries: 1 } },
    ),
    route({ prefix: '/empty' }, { cluster: 'empty' }),
    route({ prefix: '/reset' }, { cluster: 'resetter' }),
    route({ prefix: '/od' }, { cluster: 'od' }),
    route({ prefix: '/queued' }, { cluster: 'queued' }),
    { match: { path: '/direct' }, direct_response: { status: 418, body: { inline_string: 'teapot' } } },
  ];
  const egress = hcm('egress', [vhost('svc', ['svc.local'], routes)]);
  (egress.typed_config as Record<string, unknown>).request_headers_timeout = '1s';
  (egress.typed_config as Record<string, unknown>).access_log = [
    {
      name: 'envoy.access_loggers.file',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
        path: path.join(dir, 'access.log'),
      },
    },
  ];
  proxy = await startProxy(dir, 'routing', {
    static_resources: {
      listeners: [
        plainListener('lds_egress_0.0.0.0_15001', 0, egress),
        plainListener('tcp_limited', 0, tcpProxy('tcp_limited', 'tcp_one')),
      ],
      clusters: [
        cluster('v1', [['127.0.0.1', v1]]),
        cluster('v2', [['127.0.0.1', v2]]),
        cluster('flaky', [['127.0.0.1', flaky]]),
        cluster('slow', [['127.0.0.1', slow]]),
        cluster('down', [['127.0.0.2', held]], { connectTimeout: '0.5s' }),
        cluster('resetter', [['127.0.0.1', resetter]]),
        {
          ...cluster('tcp_one', [['127.0.0.1', tcpEchoPort]]),
          circuit_breakers: { thresholds: [{ max_connections: 1 }] },
        },
        {
          ...cluster('queued', [['127.0.0.1', held2]]),
          circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1 }] },
        },
        cluster(
          'od',
          [
            ['127.0.0.1', odGood],
            ['127.0.0.1', odBad],
          ],
          { outlier: { consecutive_5xx: 3, base_ejection_time: '30s', max_ejection_percent: 50 } },
        ),
        {
          name: 'empty',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: { cluster_name: 'empty', endpoints: [] },
        },
        cluster(
          'hc',
          [
            ['127.0.0.1', hcGood],
            ['127.0.0.1', hcBad],
          ],
          {
            healthCheck: {
              timeout: '0.5s',
              interval: '0.2s',
              unhealthy_threshold: 1,
              healthy_threshold: 1,
              http_health_check: { path: '/health' },
            },
          },
        ),
      ],
    },
  });
  port = proxy.listeners['lds_egress_0.0.0.0_15001']!;
});

after(async () => {
  tcpEcho?.close();
  await proxy?.stop();
  for (const s of servers) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('header, method, regex and query matching pick the route Envoy would', async () => {
  assert.equal((await request('/hdr', { headers: { 'x-version': 'v2' } })).body, 'v2 /hdr');
  assert.equal((await request('/hdr')).body, 'v1 /hdr');
  assert.equal(
    (await request('/hdr', { headers: { 'x-canary': '1' } })).status,
    404,
    'invert_match of present_match excludes the header; nothing else matches',
  );
  assert.equal((await request('/method', { method: 'POST' })).body, 'v2 /method');
  assert.equal((await request('/method')).body, 'v1 /method');
  assert.equal((await request('/re/123')).body, 'v2 /re/123');
  assert.equal((await request('/re/12a')).status, 404, 'safe_regex is a full match');
  assert.equal((await request('/q?color=blue')).body, 'v2 /q?color=blue');
  // The access log is written asynchronously after the response: poll (bounded) for the line.
  const line = /"GET \/q\?color=blue HTTP\/1\.1" 200 - 0 \d+ \d+ - "-" "-" "-" "svc\.local" "-"/;
  await waitFor(
    async () => line.test(fs.readFileSync(path.join(dir, 'access.log'), 'utf8')),
    'the access log line',
  );
  assert.equal((await request('/q?color=red')).status, 404);
  assert.equal((await request('/rw/x?y=1')).body, 'v1 /rewritten/x?y=1');
  const d = await request('/direct');
  assert.deepEqual([d.status, d.body], [418, 'teapot']);
});

test('weighted clusters split 30/70 within binomial bounds', async () => {
  const n = 400;
  let v1 = 0;
  for (let i = 0; i < n; i++) if ((await request('/split')).body.startsWith('v1')) v1++;
  // mean 120, sd ≈ 9.2: ±5 sd
  assert.ok(v1 > 74 && v1 < 166, `v1 got ${v1} of ${n}`);
});

test('retry_on 5xx retries a 503 until success; without a policy the 503 passes through', async () => {
  const r = await request('/retry', { headers: { 'x-id': 'a' } });
  assert.deepEqual([r.status, r.body], [200, 'attempt 3']);
  assert.ok((await proxy.stat('cluster.flaky.upstream_rq_retry')) >= 2);
  assert.ok((await proxy.stat('cluster.flaky.upstream_rq_retry_success')) >= 1);
  const n = await request('/noretry', { headers: { 'x-id': 'b' } });
  assert.equal(n.status, 503);
});

test('route timeout → 504 upstream request timeout', async () => {
  const r = await request('/slow');
  assert.deepEqual([r.status, r.body], [504, 'upstream request timeout']);
  assert.ok((await proxy.stat('cluster.slow.upstream_rq_timeout')) >= 1);
});

test('connect failure → 503 after connect-failure retries; empty cluster → no healthy upstream', async () => {
  const r = await request('/down');
  assert.equal(r.status, 503);
  assert.match(r.body, /upstream connect error or disconnect\/reset before headers/);
  assert.ok((await proxy.stat('cluster.down.upstream_cx_connect_fail')) >= 2, 'first try plus one retry');
  const e = await request('/empty');
  assert.deepEqual([e.status, e.body], [503, 'no healthy upstream']);
});

async function waitFor(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Connects to the tcp_proxy listener, sends `line`; resolves with what came back before the close or 5 s. */
function tcpExchange(line: string, keepOpen: boolean): Promise<{ echoed: string; socket: net.Socket }> {
  return new Promise((resolve) => {
    const socket = net.connect(proxy.listeners.tcp_limited!, '127.0.0.1', () => socket.write(line));
    let echoed = '';
    const done = () => resolve({ echoed, socket });
    socket.setEncoding('utf8').on('data', (d: string) => {
      echoed += d;
      if (keepOpen && echoed === line) done();
    });
    socket.on('close', done);
    socket.on('error', () => {});
    setTimeout(done, 5000).unref();
  });
}

test("tcp_proxy: past the cluster's max_connections a connection is closed and counted as overflow", async () => {
  const first = await tcpExchange('one', true);
  assert.equal(first.echoed, 'one');
  const second = await tcpExchange('two', false);
  assert.equal(second.echoed, '', 'nothing is proxied past max_connections');
  assert.ok(second.socket.destroyed || second.socket.readableEnded);
  assert.equal(await proxy.stat('cluster.tcp_one.upstream_cx_overflow'), 1);
  first.socket.destroy();
  await waitFor(
    async () => (await proxy.stat('cluster.tcp_one.upstream_cx_active')) === 0,
    'the first upstream connection closed',
  );
  const third = await tcpExchange('three', true);
  assert.equal(third.echoed, 'three');
  third.socket.destroy();
});

// Bounded: a broken breaker would leave the third request waiting behind the held ones.
test(
  'circuit breakers: past max_connections a request waits; past max_pending_requests it gets 503 overflow',
  { timeout: 30_000 },
  async () => {
    const first = request('/queued/1');
    await waitFor(async () => heldArrived === 1, 'the first request at the upstream');
    const second = request('/queued/2');
    await waitFor(
      async () => (await proxy.stat('cluster.queued.upstream_rq_total')) === 2,
      'the second request queued for the one connection',
    );
    const third = await request('/queued/3');
    assert.equal(third.status, 503);
    assert.match(third.body, /reset reason: overflow/);
    assert.equal(await proxy.stat('cluster.queued.upstream_rq_pending_overflow'), 1);
    assert.equal(heldArrived, 1, 'the queued request waits for the busy connection');
    heldResponses.shift()!.end('one');
    await waitFor(async () => heldArrived === 2, 'the queued request sent on the freed connection');
    heldResponses.shift()!.end('two');
    assert.deepEqual([(await first).body, (await second).body], ['one', 'two']);
  },
);

test('active health check ejects a failing host and brings it back', async () => {
  const flags = async (): Promise<string> => (await proxy.admin('/clusters')).body;
  await waitFor(async () => !(await flags()).includes('failed_active_hc'), 'both hosts healthy');
  hcHealthy = false;
  await waitFor(
    async () => /hc::127\.0\.0\.1:\d+::health_flags::\/failed_active_hc/.test(await flags()),
    'bad host marked failed_active_hc',
  );
  for (let i = 0; i < 10; i++)
    assert.equal((await request('/hc')).body, 'good', 'ejected host gets no traffic');
  assert.ok((await proxy.stat('cluster.hc.health_check.failure')) >= 1);
  hcHealthy = true;
  await waitFor(async () => !(await flags()).includes('failed_active_hc'), 'bad host recovered');
  const seen = new Set<string>();
  for (let i = 0; i < 10; i++) seen.add((await request('/hc')).body);
  assert.deepEqual([...seen].sort(), ['bad', 'good']);
});

test('HTTP/1.1 bad input: smuggling shapes → 400, oversized headers → 431, proxy keeps serving', async () => {
  const before = await proxy.stat('http.egress.downstream_cx_protocol_error');
  const cases = [
    'POST /hdr HTTP/1.1\r\nHost: svc.local\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST /hdr HTTP/1.1\r\nHost: svc.local\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    'GET /hdr HTTP/1.1\r\nHost: svc.local\r\nX-Folded: a\r\n  b\r\n\r\n',
    'POST /hdr HTTP/1.1\r\nHost: svc.local\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n',
  ];
  for (const c of cases) assert.match(await raw(c), /^HTTP\/1\.1 400 /, JSON.stringify(c));
  const big = `GET /hdr HTTP/1.1\r\nHost: svc.local\r\nX-Big: ${'a'.repeat(61 * 1024)}\r\n\r\n`;
  assert.match(await raw(big), /^HTTP\/1\.1 431 /);
  assert.ok((await proxy.stat('http.egress.downstream_cx_protocol_error')) >= before + 5);
  assert.match(
    await raw('GET /hdr HTTP/1.1\r\nHost: svc.local\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n'),
    /^HTTP\/1\.1 403 /,
  );
  assert.equal((await request('/hdr')).status, 200, 'still serving');
});

test('slowloris: headers not complete within request_headers_timeout → 408 and close', async () => {
  const answer = await raw('GET /hdr HTTP/1.1\r\nHost: svc.local\r\nX-Slow: 1\r\n');
  assert.match(answer, /^HTTP\/1\.1 408 /);
  assert.equal((await request('/hdr')).status, 200, 'still serving');
});

test('upstream reset mid-response resets the downstream and is counted', async () => {
  const got = await new Promise<string>((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/reset', headers: { host: 'svc.local' }, agent: false },
      (res) => {
        res.on('data', () => {});
        res.on('error', () => resolve('reset'));
        res.on('aborted', () => resolve('reset'));
        res.on('end', () => resolve('complete'));
      },
    );
    req.on('error', () => resolve('reset'));
  });
  assert.equal(got, 'reset');
  assert.ok((await proxy.stat('cluster.resetter.upstream_rq_rx_reset')) >= 1);
  assert.equal((await request('/hdr')).status, 200, 'still serving');
});

test('outlier detection ejects a host after consecutive 5xx', async () => {
  for (let i = 0; i < 12; i++) await request('/od');
  assert.match(
    (await proxy.admin('/clusters')).body,
    /od::127\.0\.0\.1:\d+::health_flags::\/failed_outlier_check/,
  );
  assert.equal(await proxy.stat('cluster.od.outlier_detection.ejections_enforced_total'), 1);
  for (let i = 0; i < 6; i++) assert.equal((await request('/od')).body, 'od-good');
});
