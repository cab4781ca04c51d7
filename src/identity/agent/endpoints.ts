/**
 * The agent socket: one unix socket serving the SPIFFE Workload API and Envoy SDS v3 over gRPC
 * (HTTP/2 cleartext), with each connection's caller taken from SO_PEERCRED at accept time
 * (SPIRE `pkg/agent/endpoints/endpoints.go`).
 *
 * `@grpc/grpc-js` never shows a handler its socket, so the services run on Connect's node adapter
 * over a `node:http2` server: the `connection` event gives the accepted socket, whose peer is read
 * once and handed to handlers through Connect context values.
 *
 * Bounds, so that one misbehaving client cannot hurt the others: at most `maxStreamsPerConnection`
 * concurrent streams per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS; more are refused by the
 * protocol), a per-connection memory cap (`maxSessionMemory`), stream handlers that coalesce updates
 * instead of queuing them, and a garbage preface only kills its own connection.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import path from 'node:path';
import { createContextValues, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { Logger } from 'pino';
import { identifyPeer, type PeerProcess } from './peer.js';
import { kPeer } from './context.js';

/** Options of {@link AgentEndpoints}. */
export interface AgentEndpointsOptions {
  /** absolute path of the unix socket (created mode 0777 so every local workload can connect) */
  socketPath: string;
  /** registers the services (Workload API, SDS, reflection) */
  routes: (router: ConnectRouter) => void;
  log: Logger;
  /** concurrent HTTP/2 streams per connection (default 128) */
  maxStreamsPerConnection?: number;
  /** per-connection HTTP/2 memory cap in MiB (default 4) */
  maxSessionMemoryMiB?: number;
}

const kPeerPromise = Symbol('trustmesh.agent.peer');

/**
 * gRPC's `grpc-message` percent-encoding (PROTOCOL-HTTP2.md): only bytes outside 0x20–0x7E and `%`
 * are escaped. Connect escapes with encodeURIComponent, which grpc-js clients (decodeURI) show
 * half-decoded (`%3A` for `:`), so SPIRE's exact messages would not reach them.
 */
export function grpcPercentEncode(message: string): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out +=
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function reencode(headers: unknown): void {
  if (!headers || typeof headers !== 'object') return;
  const h = headers as Record<string, unknown>;
  const v = h['grpc-message'];
  if (typeof v !== 'string') return;
  try {
    h['grpc-message'] = grpcPercentEncode(decodeURIComponent(v));
  } catch {
    // not valid percent-encoding: leave it as Connect wrote it
  }
}

/** Re-encodes `grpc-message` in headers (trailers-only responses) and trailers. */
function fixGrpcMessageEncoding(res: http2.Http2ServerResponse): void {
  const writeHead = res.writeHead.bind(res) as (...a: unknown[]) => http2.Http2ServerResponse;
  const addTrailers = res.addTrailers.bind(res);
  res.writeHead = ((...a: unknown[]) => {
    reencode(a[a.length - 1]);
    return writeHead(...a);
  }) as typeof res.writeHead;
  res.addTrailers = (trailers) => {
    reencode(trailers);
    addTrailers(trailers);
  };
}

/** The listening agent socket. Create with {@link AgentEndpoints.listen}; stop with {@link close}. */
export class AgentEndpoints {
  readonly socketPath: string;
  readonly #server: http2.Http2Server;
  readonly #sessions = new Set<http2.ServerHttp2Session>();

  private constructor(socketPath: string, server: http2.Http2Server) {
    this.socketPath = socketPath;
    this.#server = server;
    server.on('session', (s) => {
      this.#sessions.add(s);
      s.on('close', () => this.#sessions.delete(s));
    });
  }

  /**
   * Creates the socket directory, removes a stale socket file, listens, and resolves once the
   * socket accepts connections. Throws when the path cannot be bound.
   */
  static async listen(options: AgentEndpointsOptions): Promise<AgentEndpoints> {
    const { log } = options;
    const handler = connectNodeAdapter({
      routes: options.routes,
      grpc: true,
      grpcWeb: false,
      connect: false,
      // No gzip either way (SPIRE's agent registers no compressor): grpc-js clients advertise gzip, and
      // compressing every ~2 KB SVID response on a local socket cost more CPU than the rest of a fetch.
      acceptCompression: [],
      contextValues: (req) => {
        const socket = req.socket as Socket & { [kPeerPromise]?: Promise<PeerProcess> };
        return createContextValues().set(kPeer, socket[kPeerPromise]);
      },
    });
    const server = http2.createServer(
      {
        settings: { maxConcurrentStreams: options.maxStreamsPerConnection ?? 128 },
        maxSessionMemory: options.maxSessionMemoryMiB ?? 4,
      },
      (req, res) => {
        fixGrpcMessageEncoding(res);
        handler(req, res);
      },
    );
    server.on('connection', (socket: Socket & { [kPeerPromise]?: Promise<PeerProcess> }) => {
      const peer = identifyPeer(socket);
      // Handlers await it; a failure becomes Unavailable there, never an unhandled rejection here.
      peer.catch(() => {});
      socket[kPeerPromise] = peer;
      void peer.then(
        (p) => log.debug({ pid: p.pid, uid: p.uid, gid: p.gid }, 'workload connected'),
        () => {},
      );
    });
    server.on('sessionError', (err) => log.debug({ err }, 'agent socket: HTTP/2 session error'));
    server.on('clientError', (err, socket) => {
      log.debug({ err }, 'agent socket: client error');
      socket.destroy();
    });
    await mkdir(path.dirname(options.socketPath), { recursive: true });
    await rm(options.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(options.socketPath, 0o777);
    server.on('error', (err) => log.error({ err }, 'agent socket error'));
    log.info({ socketPath: options.socketPath }, 'agent socket listening');
    return new AgentEndpoints(options.socketPath, server);
  }

  /** Number of open client connections. */
  connectionCount(): number {
    return this.#sessions.size;
  }

  /** Stops accepting, closes every open connection (streams end), removes the socket file. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sessions) s.destroy();
    await closed;
    await rm(this.socketPath, { force: true });
  }
}
