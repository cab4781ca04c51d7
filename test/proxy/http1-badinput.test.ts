/**
 * Hostile input against the lean HTTP/1.1 codec, through a real proxy process: raw downstream bytes
 * a request smuggler would send, and a raw net.Server upstream that misframes its responses. Every
 * row checks the Envoy answer and that the proxy keeps serving (no desync, no crash).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { cluster, hcm, plainListener, startProxy, vhost, type ProxyProcess } from './support/envoy.js';
import { sendRaw, statuses } from './support/raw-http.js';

let dir: string;
let upstream: net.Server;
const upstreamSockets = new Set<net.Socket>();
let proxy: ProxyProcess;
let port: number;
let fewPort: number;

/** Offsets that cut `bytes` into pieces of `size` bytes. */
const every = (bytes: string, size: number): number[] =>
  Array.from({ length: Math.ceil(bytes.length / size) - 1 }, (_, i) => (i + 1) * size);

const trickle = `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(40 * 1024)}\r\ncontent-length: 2\r\n\r\nok`;
const straddle = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

/**
 * What the hostile upstream answers per request path: bytes written (cut at the `cuts` offsets into
 * writes 20 ms apart, when given), then `close` or not.
 */
const SCRIPTS: Record<string, { bytes: string; close?: boolean; cuts?: number[] }> = {
  '/trickle': { bytes: trickle, cuts: every(trickle, 2048) },
  // The head's final CRLFCRLF cut in the middle, then again one byte before its end.
  '/straddle': {
    bytes: straddle,
    cuts: [straddle.indexOf('\r\n\r\n') + 2, straddle.indexOf('\r\n\r\n') + 3],
  },
  '/bighead': { bytes: `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(61 * 1024)}\r\ncontent-length: 2\r\n\r\nok` },
  '/interim': {
    bytes:
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
  },
  '/headte': { bytes: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n' },
  '/bare-cr': { bytes: 'HTTP/1.1 200 OK\r\nx-a: a\rb\r\ncontent-length: 2\r\n\r\nok' },
  '/status': { bytes: 'HTTP/1.1 2000 OK\r\ncontent-length: 2\r\n\r\nok' },
  '/ws-colon': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length : 2\r\n\r\nok' },
  '/ok': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok' },
  '/two': {
    bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil',
  },
  '/interim-close': { bytes: 'HTTP/1.1 100 Continue\r\n\r\n', close: true },
  '/none': { bytes: '', close: true },
  '/short': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n' },
  '/long': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok', close: true },
  '/te-cl': {
    bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
  },
  '/cl-list': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 2,2\r\n\r\nok' },
  '/overflow': { bytes: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffff\r\nok' },
  '/nul': { bytes: 'HTTP/1.1 200 OK\r\nx-a: a\0b\r\ncontent-length: 2\r\n\r\nok' },
  '/head': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n' },
  '/204': { bytes: 'HTTP/1.1 204 No Content\r\n\r\njunkHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nevil' },
  '/304': { bytes: 'HTTP/1.1 304 Not Modified\r\ncontent-length: 4\r\n\r\n' },
  '/ext': { bytes: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2;a=b\r\nok\r\n0\r\n\r\n' },
  '/big': { bytes: `HTTP/1.1 200 OK\r\ncontent-length: 65536\r\n\r\n${'x'.repeat(65536)}` },
};

async function writePieces(s: net.Socket, bytes: string, cuts: number[]): Promise<void> {
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    if (s.destroyed) return;
    s.write(bytes.slice(from, to), 'latin1');
    from = to;
    // Apart, so the proxy is likely to read each piece on its own (the answer is checked either way).
    await new Promise((r) => setTimeout(r, 20));
  }
}

const raw = (bytes: string | string[], ms?: number): Promise<string> => sendRaw(port, bytes, ms);

const get = (p: string, extra = ''): string => `GET ${p} HTTP/1.1\r\nHost: bad.local\r\n${extra}\r\n`;
/** A request whose body (over 64 KiB) hands the connection to the node:http fallback. */
const viaFallback = `POST /big-body HTTP/1.1\r\nHost: bad.local\r\nContent-Length: 70000\r\n\r\n${'x'.repeat(70000)}`;
const last = (p: string): string => get(p, 'Connection: close\r\n');
/** An HCM allowing 4 header fields (`common_http_protocol_options.max_headers_count`), streams idle 0.3 s. */
const fewHeaders = ((): Record<string, unknown> => {
  const filter = hcm('few', [
    vhost('few', ['bad.local'], [{ match: { prefix: '/' }, route: { cluster: 'hostile' } }]),
  ]) as { typed_config: Record<string, unknown> };
  filter.typed_config.common_http_protocol_options = { max_headers_count: 4 };
  filter.typed_config.stream_idle_timeout = '0.3s';
  return filter;
})();

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-proxy-h1bad-'));
  upstream = net.createServer((s) => {
    upstreamSockets.add(s);
    s.on('close', () => upstreamSockets.delete(s));
    s.on('error', () => {});
    let buf = '';
    s.setEncoding('latin1').on('data', (d: string) => {
      buf += d;
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const line = buf.slice(0, buf.indexOf('\r\n'));
        buf = buf.slice(end + 4);
        const target = line.split(' ')[1] ?? '';
        const script = SCRIPTS[target] ?? {
          bytes: `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(line)}\r\n\r\n${line}`,
        };
        if (script.cuts) void writePieces(s, script.bytes, script.cuts);
        else if (script.close) s.end(script.bytes);
        else s.write(script.bytes);
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upPort = (upstream.address() as net.AddressInfo).port;
  proxy = await startProxy(dir, 'h1bad', {
    static_resources: {
      listeners: [
        plainListener(
          'bad',
          0,
          hcm('bad', [
            vhost('bad', ['bad.local'], [{ match: { prefix: '/' }, route: { cluster: 'hostile' } }]),
          ]),
        ),
        plainListener('few', 0, fewHeaders),
      ],
      clusters: [cluster('hostile', [['127.0.0.1', upPort]])],
    },
  });
  port = proxy.listeners.bad!;
  fewPort = proxy.listeners.few!;
});

after(async () => {
  await proxy?.stop();
  for (const s of upstreamSockets) s.destroy();
  upstream?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('downstream smuggling shapes are refused with 400/501 and the connection closes', async () => {
  const rows: [string, number][] = [
    ['POST / HTTP/1.1\r\nHost: bad.local\r\nContent-Length: 1,1\r\n\r\na', 400],
    ['POST / HTTP/1.1\r\nHost: bad.local\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n', 501],
    ['POST / HTTP/1.1\r\nHost: bad.local\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\n0\n\n', 400],
    ['GET / HTTP/1.1\r\nHost: bad.local\r\nX-A: a\0b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: bad.local\r\nX-A: a\x01b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: bad.local\r\nX-A : b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: bad.local\r\nX@A: b\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: bad.local\r\n: b\r\n\r\n', 400],
    ['GET bad.local/x HTTP/1.1\r\nHost: bad.local\r\n\r\n', 400],
    [get('/', `x-big: ${'a'.repeat(61 * 1024)}\r\n`), 431],
  ];
  for (const [bytes, status] of rows) {
    const answer = await raw(bytes);
    assert.deepEqual(statuses(answer), [status], JSON.stringify(bytes.slice(0, 120)));
    assert.match(answer, /connection: close/i);
  }
});

test('more than max_headers_count (100) header fields: 431 from both HTTP/1.1 codecs', async () => {
  const fields = (n: number): string => Array.from({ length: n }, (_, i) => `x-h${i}: v\r\n`).join('');
  // Host, Connection and 98 more: 100 fields is within the limit.
  assert.deepEqual(statuses(await raw(last('/hundred').replace('\r\n\r\n', `\r\n${fields(98)}\r\n`))), [200]);
  assert.deepEqual(statuses(await raw(get('/', fields(100)))), [431], 'lean codec');
  assert.deepEqual(
    statuses(await raw(viaFallback + get('/', fields(100)))),
    [200, 431],
    'node:http fallback',
  );
});

test('a configured max_headers_count (common_http_protocol_options) is the limit of both codecs', async () => {
  const fields = (n: number): string => Array.from({ length: n }, (_, i) => `x-h${i}: v\r\n`).join('');
  // Host, Connection and 2 more: 4 fields, the limit.
  const four = `GET /four HTTP/1.1\r\nHost: bad.local\r\nConnection: close\r\n${fields(2)}\r\n`;
  assert.deepEqual(statuses(await sendRaw(fewPort, four)), [200]);
  assert.deepEqual(statuses(await sendRaw(fewPort, get('/', fields(4)))), [431], 'lean codec');
  assert.deepEqual(
    statuses(await sendRaw(fewPort, viaFallback + get('/', fields(4)))),
    [200, 431],
    'node:http fallback',
  );
});

test('a request body that stops arriving gets 408 after stream_idle_timeout and the close', async () => {
  const stalled = 'POST /stall HTTP/1.1\r\nHost: bad.local\r\nContent-Length: 10\r\n\r\nabc';
  // Bounded well past the 0.3 s timeout; the proxy's close ends the wait.
  const answer = await sendRaw(fewPort, stalled, 10_000);
  assert.deepEqual(statuses(answer), [408]);
  assert.match(answer, /connection: close/i);
});

test('absolute-form targets route by their own authority, not the Host header (RFC 9112 §3.2.2)', async () => {
  for (const codec of ['lean', 'fallback']) {
    const body = codec === 'lean' ? '' : 'Content-Length: 0\r\nX-Pad: 1\r\n';
    // The fallback serves requests with a body; CL 0 stays on the lean path, so send HTTP/1.0.
    const version = codec === 'lean' ? 'HTTP/1.1' : 'HTTP/1.0';
    const req = (uri: string, host: string): string =>
      `GET ${uri} ${version}\r\nHost: ${host}\r\n${body}Connection: close\r\n\r\n`;
    const hit = await raw(req('http://bad.local/abs?q=1', 'other.local'));
    assert.deepEqual(statuses(hit), [200], `${codec}: routed by the URI's authority`);
    assert.match(hit, /GET \/abs\?q=1 HTTP\/1\.1$/, `${codec}: origin-form path upstream`);
    const miss = await raw(req('http://other.local/abs', 'bad.local'));
    assert.deepEqual(statuses(miss), [404], `${codec}: the Host header does not pick the virtual host`);
  }
});

test('pipelined: the 1st request is answered, then the malformed 2nd gets 400 and the close', async () => {
  const answer = await raw(
    get('/first') + 'GET / HTTP/1.1\r\nHost: bad.local\r\nBad Name: a\r\n\r\n' + last('/x'),
  );
  assert.deepEqual(statuses(answer), [200, 400]);
  assert.match(answer, /GET \/first HTTP\/1\.1HTTP\/1\.1 400 /);
});

test('requests split byte by byte parse like whole ones', async () => {
  assert.match(await raw([...last('/split')]), /^HTTP\/1\.1 200 [^]*GET \/split HTTP\/1\.1$/);
  const post = 'POST /sp HTTP/1.1\r\nHost: bad.local\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc';
  assert.deepEqual(statuses(await raw([...post])), [200]);
  // The end of the head straddling segments, and a bare-LF end split across two segments.
  const straddle = ['GET /st HTTP/1.1\r\nHost: bad.local\r\nConnection: close\r', '\n\r', '\n'];
  assert.match(await raw(straddle), /^HTTP\/1\.1 200 [^]*GET \/st HTTP\/1\.1$/);
  assert.deepEqual(statuses(await raw(['GET / HTTP/1.1\r\nHost: bad.local\n', '\n'])), [400]);
  // A 50 KiB head in 1 KiB segments, with more pipelined behind it.
  const big = get('/big-head', `x-big: ${'a'.repeat(50 * 1024)}\r\n`) + last('/next');
  const segments = Array.from({ length: Math.ceil(big.length / 1024) }, (_, i) =>
    big.slice(i * 1024, (i + 1) * 1024),
  );
  assert.deepEqual(statuses(await raw(segments)), [200, 200]);
});

test('a hostile upstream never desyncs the downstream connection', async () => {
  const upstreamReset =
    'upstream connect error or disconnect/reset before headers. reset reason: connection termination';
  // Envoy ≥ 1.18: a malformed response head is answered 502 (return_502_for_upstream_protocol_errors).
  const protocolError =
    /upstream connect error or disconnect\/reset before headers\. reset reason: protocol error/;
  const rows: [string, number[], RegExp | undefined][] = [
    // Two responses to one request: the second is never read as the next request's answer.
    [get('/two'), [200, 200], /\r\n\r\nokHTTP\/1\.1 200 [^]*GET \/after/],
    [get('/interim-close'), [503, 200], new RegExp(upstreamReset)],
    [get('/none'), [503, 200], new RegExp(upstreamReset)],
    [get('/short'), [200, 200], /\r\n\r\nokHTTP\/1\.1 200 [^]*GET \/after/],
    [get('/te-cl'), [502, 200], protocolError],
    [get('/cl-list'), [502, 200], protocolError],
    [get('/nul'), [502, 200], protocolError],
    [
      'HEAD /head HTTP/1.1\r\nHost: bad.local\r\n\r\n',
      [200, 200],
      /content-length: 5\r\n\r\nHTTP\/1\.1 200 /,
    ],
    [get('/204'), [204, 200], /204 No Content\r\n\r\nHTTP\/1\.1 200 [^]*GET \/after/],
    [get('/304'), [304, 200], /\r\n\r\nHTTP\/1\.1 200 [^]*GET \/after/],
    [get('/ext'), [200, 200], /\r\n2\r\nok\r\n0\r\n\r\nHTTP\/1\.1 200 /],
    ['POST /two HTTP/1.1\r\nHost: bad.local\r\nContent-Length: 3\r\n\r\nabc', [200, 200], /GET \/after/],
    [get('/bighead'), [502, 200], protocolError],
    [get('/bare-cr'), [502, 200], protocolError],
    [get('/status'), [502, 200], protocolError],
    [get('/ws-colon'), [502, 200], protocolError],
    // Interim responses are dropped; the final one is forwarded.
    [get('/interim'), [200, 200], /^HTTP\/1\.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/],
    // An interim response, then a 40 KiB head in 2 KiB pieces; a head end cut in the middle.
    [get('/trickle'), [200, 200], /x-big: a{40960}\r\ncontent-length: 2\r\n\r\nokHTTP/],
    [get('/straddle'), [200, 200], /content-length: 2\r\n\r\nokHTTP/],
    ['HEAD /headte HTTP/1.1\r\nHost: bad.local\r\n\r\n', [200, 200], /^HTTP\/1\.1 200 OK\r\n\r\nHTTP/],
  ];
  for (const [first, want, shape] of rows) {
    // Closed by the proxy after /after; the bound only matters if it never is.
    const answer = await raw(first + last('/after'), 10_000);
    assert.deepEqual(statuses(answer), want, JSON.stringify(first));
    assert.match(
      answer,
      /GET \/after HTTP\/1\.1$/,
      `${JSON.stringify(first)}: the next request gets its own answer`,
    );
    if (shape) assert.match(answer, shape, JSON.stringify(first));
  }
  // A body shorter than its Content-Length, or a chunk size past 2^48: the downstream connection
  // closes (nothing after the broken response could be framed).
  for (const p of ['/long', '/overflow']) {
    const answer = await raw(get(p) + last('/after'));
    assert.doesNotMatch(answer, /GET \/after/, p);
  }
  assert.deepEqual(statuses(await raw(last('/ok'))), [200], 'still serving');
});

test('a client closing mid-response leaves the proxy serving', async () => {
  await new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(get('/big')));
    s.once('data', () => s.destroy());
    s.on('close', () => resolve());
    s.on('error', () => {});
  });
  assert.deepEqual(statuses(await raw(last('/ok'))), [200]);
});
