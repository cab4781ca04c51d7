/**
 * The upstream apps behind virtual node B in test/proxy/mesh-protocols.test.ts, run as one child
 * process inside the test's network namespace (the proxy's ingress cluster is 127.0.0.1:<port> there).
 *
 * `mesh-apps.ts <http port> <h2c port> <grpc port> <tcp port> <second http port>` listens on
 * 127.0.0.1:
 * - HTTP/1.1 (twice: `http`, `http-permissive`) and h2c: answer JSON
 *   `{app, version, authority, path, xfcc}` describing the request;
 * - gRPC (`test.Echo`, JSON messages): `Say` answers `{echo, authority, xfcc}` with trailing metadata
 *   `x-app-trailer: done`; `Chat` (bidi) echoes each message;
 * - TCP: echoes bytes.
 * Prints `mesh-apps ready` on stdout once every port is bound; exits on SIGTERM.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { echoService } from './echo-service.js';

const [httpPort, h2cPort, grpcPort, tcpPort, permissivePort] = process.argv.slice(2).map(Number);

function describe(req: http.IncomingMessage | http2.Http2ServerRequest, app: string): string {
  const h = req.headers as Record<string, string | undefined>;
  return JSON.stringify({
    app,
    version: req.httpVersion,
    authority: h[':authority'] ?? h.host,
    path: req.url,
    xfcc: h['x-forwarded-client-cert'] ?? null,
  });
}

function listen(server: net.Server | http2.Http2Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

async function main(): Promise<void> {
  const h1App =
    (app: string) =>
    (req: http.IncomingMessage, res: http.ServerResponse): void => {
      req.resume();
      req.on('end', () => res.end(describe(req, app)));
    };
  const h1 = http.createServer(h1App('http'));
  const h1Permissive = http.createServer(h1App('http-permissive'));
  const h2c = http2.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(describe(req, 'h2c')));
  });
  const tcp = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const server = new grpc.Server();
  server.addService(echoService, {
    say: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const md = call.metadata.getMap();
      const trailer = new grpc.Metadata();
      trailer.set('x-app-trailer', 'done');
      cb(
        null,
        {
          echo: call.request,
          authority: md[':authority'] ?? null,
          xfcc: md['x-forwarded-client-cert'] ?? null,
        },
        trailer,
      );
    },
    chat: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      call.on('data', (m: unknown) => call.write(m));
      call.on('end', () => call.end());
    },
  });
  await Promise.all([
    listen(h1, httpPort!),
    listen(h2c, h2cPort!),
    listen(tcp, tcpPort!),
    listen(h1Permissive, permissivePort!),
  ]);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${grpcPort}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  process.stdout.write('mesh-apps ready\n');
  process.once('SIGTERM', () => process.exit(0));
}

void main().catch((err: unknown) => {
  process.stderr.write(`mesh-apps: ${String(err)}\n`);
  process.exit(1);
});
