/**
 * Protocols through real proxy processes: gRPC (HTTP/2) client → A (h2c in) → h2 over mTLS → B →
 * h2c gRPC app — unary, server streaming, status and trailers from the app, and `grpc-status` on
 * the proxy's local errors (no route → UNIMPLEMENTED); and the tcp_proxy network filter over mTLS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { A_ID, B_ID, TD, makePki, type TestPki } from './support/pki.js';
import {
  certSecret,
  cluster,
  commonTls,
  hcm,
  ingressListener,
  plainListener,
  spiffeBundleSecret,
  startProxy,
  tcpProxy,
  vhost,
  type ProxyProcess,
} from './support/envoy.js';

const PROTO = `syntax = "proto3";
package echo;
service Echo { rpc Say(Msg) returns (Msg); rpc Count(Msg) returns (stream Msg); }
message Msg { string text = 1; }
`;

let dir: string;
let pki: TestPki;
let app: grpc.Server;
let tcpEcho: net.Server;
let a: ProxyProcess;
let b: ProxyProcess;
let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
let EchoClient: grpc.ServiceClientConstructor;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-proxy-proto-'));
  pki = await makePki(dir);
  fs.writeFileSync(path.join(dir, 'echo.proto'), PROTO);
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(dir, 'echo.proto'))) as unknown as {
    echo: { Echo: grpc.ServiceClientConstructor };
  };
  EchoClient = def.echo.Echo;
  app = new grpc.Server();
  app.addService(EchoClient.service, {
    Say: (call: grpc.ServerUnaryCall<{ text: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      if (call.request.text === 'fail') cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
      else cb(null, { text: `echo ${call.request.text}` });
    },
    Count: (call: grpc.ServerWritableStream<{ text: string }, unknown>) => {
      for (let i = 1; i <= 3; i++) call.write({ text: `${call.request.text} ${i}` });
      call.end();
    },
  });
  const appPort = await new Promise<number>((resolve, reject) =>
    app.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  tcpEcho = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => tcpEcho.listen(0, '127.0.0.1', r));
  const tcpPort = (tcpEcho.address() as net.AddressInfo).port;
  const bundle = spiffeBundleSecret(TD, { 'example.org': pki.ca });
  const bTcp = ingressListener({
    port: 0,
    mode: 'STRICT',
    certName: B_ID,
    validationName: TD,
    sans: [A_ID],
    filter: tcpProxy('tcp_in', 'tcp_app'),
  });
  (bTcp as { name: string }).name = 'lds_ingress_tcp';
  b = await startProxy(dir, 'b', {
    static_resources: {
      secrets: [certSecret(B_ID, pki.b.cert, pki.b.key), bundle],
      listeners: [
        ingressListener({
          port: 0,
          mode: 'STRICT',
          certName: B_ID,
          validationName: TD,
          sans: [A_ID],
          filter: hcm('ingress', [
            vhost('local', ['*'], [{ match: { prefix: '/' }, route: { cluster: 'app' } }]),
          ]),
        }),
        bTcp,
      ],
      clusters: [
        cluster('app', [['127.0.0.1', appPort]], { http2: true }),
        cluster('tcp_app', [['127.0.0.1', tcpPort]]),
      ],
    },
  });
  a = await startProxy(dir, 'a', {
    static_resources: {
      secrets: [certSecret(A_ID, pki.a.cert, pki.a.key), bundle],
      listeners: [
        plainListener(
          'lds_egress_0.0.0.0_15001',
          0,
          hcm('egress', [
            vhost(
              'echo',
              ['*'],
              [{ match: { prefix: '/echo.Echo/' }, route: { cluster: 'cds_egress_echo', timeout: '5s' } }],
            ),
          ]),
        ),
      ],
      clusters: [
        cluster('cds_egress_echo', [['127.0.0.1', b.listeners['lds_ingress_0.0.0.0_15000']!]], {
          http2: true,
          tls: { sni: 'localhost', ...commonTls(A_ID, TD, [B_ID]) },
        }),
      ],
    },
  });
  client = new EchoClient(
    `127.0.0.1:${a.listeners['lds_egress_0.0.0.0_15001']}`,
    grpc.credentials.createInsecure(),
  ) as typeof client;
});

after(async () => {
  client?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  app?.forceShutdown();
  tcpEcho?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function say(text: string): Promise<{ text: string }> {
  return new Promise((resolve, reject) =>
    (client.Say as (r: unknown, cb: (e: grpc.ServiceError | null, v: { text: string }) => void) => void)(
      { text },
      (e, v) => (e ? reject(e) : resolve(v)),
    ),
  );
}

test('gRPC unary and server streaming through A → mTLS (h2) → B', async () => {
  for (let i = 0; i < 3; i++) assert.deepEqual(await say(`hi ${i}`), { text: `echo hi ${i}` });
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = (client.Count as (r: unknown) => grpc.ClientReadableStream<{ text: string }>)({ text: 'n' });
    call.on('data', (m: { text: string }) => got.push(m.text));
    call.on('error', reject);
    call.on('end', () => resolve());
  });
  assert.deepEqual(got, ['n 1', 'n 2', 'n 3']);
  assert.ok((await a.stat('cluster.cds_egress_echo.upstream_rq_200')) >= 4);
});

test('gRPC status and message from the app pass through (trailers)', async () => {
  await assert.rejects(
    say('fail'),
    (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND && e.details === 'no such thing',
  );
});

test('local errors carry grpc-status: no route → UNIMPLEMENTED', async () => {
  const err = await new Promise<grpc.ServiceError>((resolve) => {
    client.makeUnaryRequest(
      '/other.Svc/Nope',
      (x: Buffer) => x,
      (x: Buffer) => x,
      Buffer.alloc(0),
      (e) => resolve(e!),
    );
  });
  assert.equal(err.code, grpc.status.UNIMPLEMENTED);
});

test('tcp_proxy over mTLS carries bytes both ways', async () => {
  const port = b.listeners['lds_ingress_tcp']!;
  const s = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: fs.readFileSync(pki.ca),
    cert: fs.readFileSync(pki.a.cert),
    key: fs.readFileSync(pki.a.key),
  });
  await new Promise<void>((r, j) => {
    s.once('secureConnect', () => r());
    s.once('error', j);
  });
  s.write('ping over tcp');
  const echoed = await new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString())));
  s.destroy();
  assert.equal(echoed, 'ping over tcp');
});
