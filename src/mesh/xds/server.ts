/**
 * The xDS management server: Envoy's Aggregated Discovery Service (state-of-the-world,
 * `envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources`) plus the per-type
 * LDS/CDS/RDS/EDS streams, over `@grpc/grpc-js` on TCP or a unix socket, serving a {@link SnapshotCache}.
 *
 * Protocol (Envoy "xDS REST and gRPC protocol", state of the world):
 * - the first request of a stream carries `node.id` (at most {@link maxNodeIdBytes} bytes); that node's
 *   snapshot is served; a stream without one ends with INVALID_ARGUMENT naming the field;
 * - each response has a fresh `nonce`; a request whose `response_nonce` is not the last nonce sent for
 *   its type is stale and ignored; a matching request with `error_detail` is a NACK: the rejected
 *   version is logged (and published on `trustmesh:xds:nack`) and not sent again, so the client keeps
 *   its last good config; without `error_detail` it is an ACK (`trustmesh:xds:ack`);
 * - one response per type is in flight at a time, and types go out in the order CDS → EDS → LDS → RDS:
 *   a listener is pushed only once the clusters pushed before it were ACKed or NACKed (warming safety);
 * - LDS and CDS subscriptions with no names are wildcard; EDS and RDS serve the names requested;
 * - on shutdown every open stream ends with UNAVAILABLE "server shutting down", as gRPC servers end
 *   their calls, so clients reconnect elsewhere instead of waiting on a reset stream.
 */
import { channel } from 'node:diagnostics_channel';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { InvalidListenAddressError, XdsServerClosedError } from './errors.js';
import { envoyProtoIncludeDirs } from './protos.js';
import { pushOrder, TypeUrl, wildcardTypes, type SnapshotCache } from './snapshot-cache.js';
import type { AnyMessage } from './codec.js';

/**
 * Longest `node.id` accepted, in bytes. Envoy sets no limit; App Mesh node ids
 * (`mesh/<mesh>/virtualGateway/<awsName>`, names of up to a few hundred bytes) fit with room to
 * spare, while a client can't make every log line of its stream carry a megabyte.
 */
export const maxNodeIdBytes = 1024;

/** Structured logger the server writes to (pino-compatible subset). */
export interface XdsLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Published on `trustmesh:xds:ack` / `trustmesh:xds:nack` for every ACK / NACK. */
export interface XdsAckEvent {
  nodeId: string;
  typeUrl: string;
  version: string;
  /** NACK only: the client's `error_detail.message`. */
  errorDetail?: string;
}

/** Diagnostics channels of the server. */
export const xdsChannels = {
  ack: channel('trustmesh:xds:ack'),
  nack: channel('trustmesh:xds:nack'),
} as const;

/** Options of {@link XdsServer}. */
export interface XdsServerOptions {
  /** The snapshots to serve. */
  cache: SnapshotCache;
  /** Where stream, ACK and NACK events are logged; silent when omitted. */
  logger?: XdsLogger;
  /** Server credentials; insecure when omitted (loopback / unix socket use). */
  credentials?: grpc.ServerCredentials;
}

/** DiscoveryRequest as proto-loader decodes it (field names as in the .proto). */
interface DiscoveryRequest {
  version_info: string;
  node: { id: string; cluster: string } | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail: { code: number; message: string } | null;
}

interface DiscoveryResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
}

type DiscoveryStream = grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;

const silentLogger: XdsLogger = { info() {}, warn() {} };

const serviceFiles = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/listener/v3/lds.proto',
  'envoy/service/cluster/v3/cds.proto',
  'envoy/service/route/v3/rds.proto',
  'envoy/service/endpoint/v3/eds.proto',
];

let services: grpc.GrpcObject | undefined;

function discoveryServices(): grpc.GrpcObject {
  services ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(serviceFiles, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
      includeDirs: [...envoyProtoIncludeDirs],
    }),
  );
  return services;
}

function serviceClient(path: string): grpc.ServiceClientConstructor {
  let node: unknown = discoveryServices();
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  return node as grpc.ServiceClientConstructor;
}

function serviceDefinition(path: string): grpc.ServiceDefinition {
  return serviceClient(path).service;
}

/**
 * The grpc-js client constructor of `envoy.service.discovery.v3.AggregatedDiscoveryService`, loaded
 * once with the server's proto-loader options (keepCase, enums and longs as strings, `Any` kept as
 * `{type_url, value}`), for ADS clients that talk to this server (tests, benchmarks).
 */
export function aggregatedDiscoveryServiceClient(): grpc.ServiceClientConstructor {
  return serviceClient('envoy.service.discovery.v3.AggregatedDiscoveryService');
}

/** Per-type state of one stream. */
interface TypeState {
  /** `null` = wildcard (all resources of the type). */
  names: Set<string> | null;
  /** Nonce of the latest response sent; requests naming another nonce are stale. */
  lastNonce: string | undefined;
  /** The latest response is not yet ACKed or NACKed. */
  inFlight: boolean;
  sentVersion: string | undefined;
  nackedVersion: string | undefined;
  /** The subscription changed since the last response. */
  dirty: boolean;
}

/** One xDS stream (ADS, or a single-type stream when `onlyTypeUrl` is set). */
class StreamSession {
  readonly #call: DiscoveryStream;
  readonly #server: XdsServer;
  readonly #onlyTypeUrl: string | undefined;
  readonly #types = new Map<string, TypeState>();
  #nodeId: string | undefined;
  #unwatch: (() => void) | undefined;
  #nonceCounter = 0;
  #closed = false;
  #pumpScheduled = false;

  constructor(server: XdsServer, call: DiscoveryStream, onlyTypeUrl?: string) {
    this.#server = server;
    this.#call = call;
    this.#onlyTypeUrl = onlyTypeUrl;
    call.on('data', (req: DiscoveryRequest) => this.#onRequest(req));
    call.on('end', () => {
      this.close();
      call.end();
    });
    call.on('error', () => this.close());
    call.on('cancelled', () => this.close());
  }

  /** Stops watching the cache; the gRPC call is left to grpc-js. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch?.();
    this.#server.streamClosed(this);
  }

  /** Ends the call with UNAVAILABLE "server shutting down" (server shutdown). */
  shutDown(): void {
    this.#endWithStatus(grpc.status.UNAVAILABLE, 'server shutting down');
  }

  /**
   * Ends the call with a gRPC status. grpc-js writes the status trailers only for an 'error' event;
   * `destroy()` resets the HTTP/2 stream without them, and the client never learns why.
   */
  #endWithStatus(code: grpc.status, details: string): void {
    this.close();
    this.#call.emit('error', Object.assign(new Error(details), { code, details }));
  }

  #onRequest(req: DiscoveryRequest): void {
    if (this.#closed) return;
    if (this.#nodeId === undefined) {
      const nodeId = req.node?.id;
      if (!nodeId) {
        this.#endWithStatus(
          grpc.status.INVALID_ARGUMENT,
          'node.id: the first DiscoveryRequest must carry node.id',
        );
        return;
      }
      const bytes = Buffer.byteLength(nodeId);
      if (bytes > maxNodeIdBytes) {
        this.#endWithStatus(
          grpc.status.INVALID_ARGUMENT,
          `node.id: ${bytes} bytes, longer than the ${maxNodeIdBytes} allowed`,
        );
        return;
      }
      this.#nodeId = nodeId;
      this.#unwatch = this.#server.cache.watch(nodeId, () => this.schedulePump());
      this.#server.logger.info({ nodeId }, 'xds stream opened');
    }
    const typeUrl = req.type_url || this.#onlyTypeUrl || '';
    if (this.#onlyTypeUrl && typeUrl !== this.#onlyTypeUrl) return;
    let state = this.#types.get(typeUrl);
    if (req.response_nonce) {
      // A stale nonce means the client has not seen our latest response: ignore the request entirely.
      if (!state || req.response_nonce !== state.lastNonce) return;
    }
    if (state && req.response_nonce && state.inFlight) {
      state.inFlight = false;
      const event: XdsAckEvent = { nodeId: this.#nodeId, typeUrl, version: req.version_info };
      if (req.error_detail) {
        state.nackedVersion = state.sentVersion;
        event.version = state.sentVersion ?? '';
        event.errorDetail = req.error_detail.message;
        this.#server.logger.warn(
          {
            nodeId: this.#nodeId,
            typeUrl,
            version: state.sentVersion,
            errorDetail: req.error_detail.message,
          },
          'xds NACK: client rejected the update, keeping its last good config',
        );
        xdsChannels.nack.publish(event);
      } else {
        xdsChannels.ack.publish(event);
      }
    }
    const names =
      req.resource_names.length === 0 && wildcardTypes.has(typeUrl) && (!state || state.names === null)
        ? null
        : new Set(req.resource_names);
    if (!state) {
      state = {
        names,
        lastNonce: undefined,
        inFlight: false,
        sentVersion: undefined,
        nackedVersion: undefined,
        dirty: true,
      };
      this.#types.set(typeUrl, state);
    } else if (!sameNames(state.names, names)) {
      state.names = names;
      state.dirty = true;
    }
    this.schedulePump();
  }

  /**
   * Pumps on the next turn of the event loop, so that requests arriving together (Envoy subscribes LDS
   * and CDS back to back) are answered in push order rather than arrival order.
   */
  schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.pump();
    });
  }

  /** Sends whatever is due, type by type in push order, never past a type whose response is in flight. */
  pump(): void {
    if (this.#closed || this.#nodeId === undefined) return;
    const snapshot = this.#server.cache.getSnapshot(this.#nodeId);
    if (!snapshot) return;
    const order = [...pushOrder, ...[...this.#types.keys()].filter((t) => !pushOrder.includes(t))];
    for (const typeUrl of order) {
      const state = this.#types.get(typeUrl);
      if (!state) continue;
      if (state.inFlight) return;
      const type = snapshot.get(typeUrl);
      if (!type) continue;
      const due = state.dirty || (type.version !== state.sentVersion && type.version !== state.nackedVersion);
      if (!due) continue;
      const resources: AnyMessage[] = [];
      if (state.names === null) for (const r of type.resources.values()) resources.push(r.any);
      else
        for (const name of state.names) {
          const r = type.resources.get(name);
          if (r) resources.push(r.any);
        }
      const nonce = String(++this.#nonceCounter);
      state.lastNonce = nonce;
      state.inFlight = true;
      state.sentVersion = type.version;
      state.dirty = false;
      this.#call.write({ version_info: type.version, resources, type_url: typeUrl, nonce });
      // Later types wait for this one's ACK/NACK (warming safety).
      return;
    }
  }
}

function sameNames(a: Set<string> | null, b: Set<string> | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.size !== b.size) return false;
  for (const n of a) if (!b.has(n)) return false;
  return true;
}

/**
 * Parses a listen address: `host:port`, `[v6]:port` or `unix:///abs/path` into grpc-js' bind form.
 * Throws {@link InvalidListenAddressError}.
 */
export function parseListenAddress(address: string): string {
  if (address.startsWith('unix://')) {
    const p = address.slice('unix://'.length);
    if (!p.startsWith('/')) throw new InvalidListenAddressError(address);
    return `unix://${p}`;
  }
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(address);
  if (!m || Number(m[2]) > 65535) throw new InvalidListenAddressError(address);
  return address;
}

/**
 * Serves a {@link SnapshotCache} over ADS and the per-type xDS services. Lifecycle: `listen()` resolves
 * once bound; `close()` ends every stream and stops the server.
 */
export class XdsServer {
  /** The cache served. */
  readonly cache: SnapshotCache;
  /** @internal */
  readonly logger: XdsLogger;
  readonly #server = new grpc.Server();
  readonly #credentials: grpc.ServerCredentials;
  readonly #sessions = new Set<StreamSession>();
  #closed = false;

  constructor(options: XdsServerOptions) {
    this.cache = options.cache;
    this.logger = options.logger ?? silentLogger;
    this.#credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
    const open = (onlyTypeUrl?: string) => (call: DiscoveryStream) => {
      this.#sessions.add(new StreamSession(this, call, onlyTypeUrl));
    };
    this.#server.addService(serviceDefinition('envoy.service.discovery.v3.AggregatedDiscoveryService'), {
      StreamAggregatedResources: open(),
    });
    this.#server.addService(serviceDefinition('envoy.service.listener.v3.ListenerDiscoveryService'), {
      StreamListeners: open(TypeUrl.Listener),
    });
    this.#server.addService(serviceDefinition('envoy.service.cluster.v3.ClusterDiscoveryService'), {
      StreamClusters: open(TypeUrl.Cluster),
    });
    this.#server.addService(serviceDefinition('envoy.service.route.v3.RouteDiscoveryService'), {
      StreamRoutes: open(TypeUrl.RouteConfiguration),
    });
    this.#server.addService(serviceDefinition('envoy.service.endpoint.v3.EndpointDiscoveryService'), {
      StreamEndpoints: open(TypeUrl.ClusterLoadAssignment),
    });
  }

  /**
   * Binds `address` (`host:port`, port 0 for an ephemeral one, or `unix:///path`). Resolves with the
   * bound address (`host:<actual port>` or the unix URI). Throws {@link InvalidListenAddressError}.
   */
  async listen(address: string): Promise<string> {
    if (this.#closed) throw new XdsServerClosedError();
    const target = parseListenAddress(address);
    const port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(target, this.#credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    if (target.startsWith('unix://')) return target;
    return target.replace(/:\d+$/, `:${port}`);
  }

  /** Number of open streams (for tests and metrics). */
  get streamCount(): number {
    return this.#sessions.size;
  }

  /** @internal Called by a session when its stream ends. */
  streamClosed(session: StreamSession): void {
    this.#sessions.delete(session);
  }

  /**
   * Ends all streams with UNAVAILABLE "server shutting down" and shuts the server down, forcibly after `graceMs` (clients keep
   * idle HTTP/2 connections open, which would hold a graceful shutdown forever). Idempotent.
   */
  async close(graceMs = 500): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#sessions]) s.shutDown();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
