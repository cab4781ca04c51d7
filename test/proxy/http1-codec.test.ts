/**
 * The lean HTTP/1.1 codec of the http_connection_manager, through a real proxy process and raw
 * sockets: pipelined keep-alive requests answered in order, chunked and close-delimited upstream
 * responses re-framed, HEAD, Connection: close, bodies and HTTP/1.0 (served by the node:http
 * fallback on the same connection), and the refusals: smuggling shapes → 400, unknown transfer
 * coding → 501, two Host headers → 400, CONNECT → 404 (no connect_matcher route), upgrades → 403.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type net from 'node:net';
import { cluster, hcm, plainListener, startProxy, vhost, type ProxyProcess } from './support/envoy.js';
import { sendRaw, statuses } from './support/raw-http.js';

let dir: string;
let app: http.Server;
let kaApp: http.Server;
let kaConnections = 0;
let proxy: ProxyProcess;
let port: number;

const raw = (bytes: string | string[], ms?: number): Promise<string> => sendRaw(port, bytes, ms);

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-proxy-h1codec-'));
  app = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      if (req.url === '/chunked') {
        res.write('one,');
        setTimeout(() => res.end('two'), 20);
        return;
      }
      if (req.url === '/close-delimited') {
        // HTTP/1.0-style body framed by the close of the connection.
        req.socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil close');
        return;
      }
      const echo = JSON.stringify({ method: req.method, url: req.url, body, host: req.headers.host });
      res.setHeader('content-type', 'application/json');
      res.end(echo);
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as net.AddressInfo).port;
  kaApp = http.createServer((_req, res) => res.end('ka'));
  kaApp.on('connection', () => kaConnections++);
  await new Promise<void>((r) => kaApp.listen(0, '127.0.0.1', r));
  const kaPort = (kaApp.address() as net.AddressInfo).port;
  proxy = await startProxy(dir, 'h1codec', {
    static_resources: {
      listeners: [
        plainListener(
          'codec',
          0,
          hcm('codec', [
            vhost(
              'codec',
              ['codec.local'],
              [
                { match: { prefix: '/ka' }, route: { cluster: 'ka' } },
                { match: { prefix: '/' }, route: { cluster: 'app' } },
              ],
            ),
          ]),
        ),
      ],
      clusters: [cluster('app', [['127.0.0.1', appPort]]), cluster('ka', [['127.0.0.1', kaPort]])],
    },
  });
  port = proxy.listeners.codec!;
});

after(async () => {
  await proxy?.stop();
  app?.close();
  kaApp?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('pipelined keep-alive requests are answered in order on one connection', async () => {
  const before = await proxy.stat('http.codec.downstream_rq_2xx');
  const get = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: codec.local\r\n\r\n`;
  const answer = await raw(
    get('/p1') + get('/p2') + get('/p3') + get('/p4').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'),
  );
  assert.deepEqual(statuses(answer), [200, 200, 200, 200]);
  const order = [...answer.matchAll(/"url":"(\/p\d)"/g)].map((m) => m[1]);
  assert.deepEqual(order, ['/p1', '/p2', '/p3', '/p4']);
  assert.match(answer, /connection: close\r\n/i, 'Connection: close is honoured and echoed');
  assert.equal((await proxy.stat('http.codec.downstream_rq_2xx')) - before, 4);
});

test('chunked and close-delimited upstream bodies reach the client whole; HEAD gets no body', async () => {
  const chunked = await raw('GET /chunked HTTP/1.1\r\nHost: codec.local\r\nConnection: close\r\n\r\n');
  assert.match(chunked, /transfer-encoding: chunked\r\n/i);
  assert.match(chunked, /\r\n4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n$/);
  const closeDelimited = await raw(
    'GET /close-delimited HTTP/1.1\r\nHost: codec.local\r\nConnection: close\r\n\r\n',
  );
  assert.match(closeDelimited, /^HTTP\/1\.1 200 /);
  assert.match(closeDelimited, /until close/);
  const head = await raw(
    'HEAD /h HTTP/1.1\r\nHost: codec.local\r\n\r\nGET /after HTTP/1.1\r\nHost: codec.local\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(statuses(head), [200, 200], 'the HEAD response has no body, so the next one parses');
  assert.match(head, /"url":"\/after"/);
});

test('request bodies: Content-Length up to 64 KiB on the lean codec (also arriving in pieces), chunked and larger ones and HTTP/1.0 through node:http, on one connection', async () => {
  const answer = await raw(
    'GET /first HTTP/1.1\r\nHost: codec.local\r\n\r\n' +
      'POST /cl HTTP/1.1\r\nHost: codec.local\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /te HTTP/1.1\r\nHost: codec.local\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
      'GET /last HTTP/1.1\r\nHost: codec.local\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(statuses(answer), [200, 200, 200, 200]);
  assert.match(answer, /"method":"POST","url":"\/cl","body":"hello"/);
  assert.match(answer, /"method":"POST","url":"\/te","body":"abc"/);
  assert.match(answer, /"url":"\/last"/);
  const inline = 'y'.repeat(64 * 1024);
  const pieces = [
    `PUT /inline HTTP/1.1\r\nHost: codec.local\r\nContent-Length: ${inline.length}\r\n\r\n${inline.slice(0, 100)}`,
    inline.slice(100, 30_000),
    inline.slice(30_000) + 'GET /then HTTP/1.1\r\nHost: codec.local\r\n\r\n',
    `POST /large HTTP/1.1\r\nHost: codec.local\r\nContent-Length: ${inline.length + 1}\r\nConnection: close\r\n\r\n${inline}z`,
  ];
  const bodies = await raw(pieces);
  assert.deepEqual(statuses(bodies), [200, 200, 200]);
  assert.match(bodies, new RegExp(`"method":"PUT","url":"/inline","body":"${inline}"`));
  assert.match(bodies, /"url":"\/then"/);
  assert.match(bodies, new RegExp(`"method":"POST","url":"/large","body":"${inline}z"`));
  const old = await raw('GET /old HTTP/1.0\r\nHost: codec.local\r\n\r\n');
  assert.match(old, /^HTTP\/1\.1 200 /);
  assert.match(old, /"url":"\/old"/);
});

test('refusals: smuggling shapes 400, unknown coding 501, two Host headers 400, CONNECT 404, upgrade 403', async () => {
  const before = await proxy.stat('http.codec.downstream_cx_protocol_error');
  const rows: [string, number][] = [
    [
      'POST / HTTP/1.1\r\nHost: codec.local\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    ['POST / HTTP/1.1\r\nHost: codec.local\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na', 400],
    ['POST / HTTP/1.1\r\nHost: codec.local\r\nContent-Length: -1\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: codec.local\r\nX-Folded: a\r\n b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: codec.local\r\nBad Name: a\r\n\r\n', 400],
    ['GET / HTTP/1.1\nHost: codec.local\n\n', 400],
    ['POST / HTTP/1.1\r\nHost: codec.local\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n', 400],
    ['POST / HTTP/1.1\r\nHost: codec.local\r\nTransfer-Encoding: gzip\r\n\r\n', 501],
    ['GET / HTTP/1.1\r\nHost: codec.local\r\nHost: other.local\r\n\r\n', 400],
  ];
  for (const [bytes, status] of rows) {
    const answer = await raw(bytes);
    assert.deepEqual(statuses(answer), [status], JSON.stringify(bytes));
    assert.match(answer, /connection: close/i, 'the connection is closed after a refusal');
  }
  assert.ok((await proxy.stat('http.codec.downstream_cx_protocol_error')) >= before + rows.length);
  const noRoute = await proxy.stat('http.codec.no_route');
  const connect = await raw('CONNECT codec.local:443 HTTP/1.1\r\nHost: codec.local:443\r\n\r\n');
  assert.deepEqual(
    statuses(connect),
    [404],
    'CONNECT matches no route (no connect_matcher): answered, not dropped',
  );
  assert.equal((await proxy.stat('http.codec.no_route')) - noRoute, 1);
  const ws = await raw(
    'GET / HTTP/1.1\r\nHost: codec.local\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
  );
  assert.deepEqual(statuses(ws), [403]);
  const ok = await raw('GET /still HTTP/1.1\r\nHost: codec.local\r\nConnection: close\r\n\r\n');
  assert.deepEqual(statuses(ok), [200], 'still serving');
});

test('sequential requests reuse one upstream keep-alive connection', async () => {
  for (let i = 0; i < 5; i++) {
    const answer = await raw('GET /ka HTTP/1.1\r\nHost: codec.local\r\nConnection: close\r\n\r\n');
    assert.deepEqual(statuses(answer), [200]);
    assert.match(answer, /\r\n\r\nka$/);
  }
  assert.equal(kaConnections, 1, 'the pool kept the first connection and reused it');
  assert.equal(await proxy.stat('cluster.ka.upstream_cx_total'), 1);
  assert.equal(await proxy.stat('cluster.ka.upstream_rq_200'), 5);
});
