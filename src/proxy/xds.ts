/**
 * The proxy's xDS clients, speaking standard Envoy v3 over gRPC (grpc-js + proto-loader):
 *
 * - {@link AdsClient}: one AggregatedDiscoveryService stream (state of the world). Subscribes to
 *   CDS and LDS, then EDS for EDS clusters and RDS for the route names listeners use. Applies CDS
 *   (and EDS) before LDS (and RDS), as Envoy's cluster warming does. ACKs with the response's
 *   version and nonce; NACKs (previous version, the nonce, `error_detail` INVALID_ARGUMENT naming
 *   every problem) and keeps the last good config. Reconnects with backoff.
 * - {@link SdsClient}: one SecretDiscoveryService.StreamSecrets stream per secret name over the
 *   agent's unix socket (what Envoy does without ADS for SDS, spiffe.md §f.5): first request carries
 *   the node and `resource_names`, later ACKs carry `version_info` + `response_nonce`.
 *
 * `google.protobuf.Any` resources are decoded with protobufjs into the proto3 JSON shape the
 * config parsers take (`@type` on nested Any, snake_case keys).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { TypeUrl } from './config.js';
import { ConfigError } from './errors.js';
import type { Proxy } from './proxy.js';

const require = createRequire(import.meta.url);
const DEPS = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(DEPS, d));

/** Files whose messages may appear inside resources (Any payloads included). */
const RESOURCE_PROTOS = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
];

/**
 * tcp_proxy is not among the protos shipped with @grpc/grpc-js-xds; this is the subset of
 * envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto the proxy reads, field numbers
 * as in Envoy's file.
 */
const TCP_PROXY_PROTO = `
syntax = "proto3";
package envoy.extensions.filters.network.tcp_proxy.v3;
import "google/protobuf/duration.proto";
message TcpProxy {
  message WeightedCluster {
    message ClusterWeight { string name = 1; uint32 weight = 2; }
    repeated ClusterWeight clusters = 1;
  }
  string stat_prefix = 1;
  oneof cluster_specifier { string cluster = 2; WeightedCluster weighted_clusters = 10; }
  google.protobuf.Duration idle_timeout = 8;
}`;

let root: protobuf.Root | undefined;

/** The protobufjs root with every resource type (lazy; loading takes ~100 ms). */
function resourceRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    for (const dir of INCLUDE_DIRS) {
      const p = path.join(dir, target);
      try {
        require('node:fs').accessSync(p);
        return p;
      } catch {
        // try the next include dir
      }
    }
    return target;
  };
  r.loadSync(RESOURCE_PROTOS, { keepCase: true });
  protobuf.parse(TCP_PROXY_PROTO, r, { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

/**
 * Decodes a `google.protobuf.Any` (`{type_url, value}`) into the proto3 JSON shape with `@type`;
 * nested Anys are unpacked too. Throws ConfigError for unknown types or undecodable bytes.
 */
export function decodeAny(any: { type_url: string; value: Buffer | Uint8Array }): Record<string, unknown> {
  const r = resourceRoot();
  const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
  let type: protobuf.Type;
  try {
    type = r.lookupType(name);
  } catch {
    throw new ConfigError(`resource ${any.type_url}`, ['unknown resource type']);
  }
  try {
    const obj = type.toObject(type.decode(any.value), {
      json: true,
      enums: String,
      longs: String,
      bytes: String,
      defaults: false,
      oneofs: false,
    });
    return { '@type': any.type_url, ...obj };
  } catch (err) {
    throw new ConfigError(`resource ${any.type_url}`, [`cannot decode: ${(err as Error).message}`]);
  }
}

/**
 * Encodes a resource given in proto3 JSON shape (snake_case, `@type` on nested Any) as a
 * `google.protobuf.Any` — the inverse of {@link decodeAny}, for xDS/SDS servers and tests.
 * Throws ConfigError for unknown types.
 */
export function encodeAny(
  typeUrl: string,
  resource: Record<string, unknown>,
): { type_url: string; value: Buffer } {
  const r = resourceRoot();
  let type: protobuf.Type;
  try {
    type = r.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  } catch {
    throw new ConfigError(`resource ${typeUrl}`, ['unknown resource type']);
  }
  return {
    type_url: typeUrl,
    value: Buffer.from(
      type.encode(type.fromObject(fromProto3Json(type, resource) as Record<string, unknown>)).finish(),
    ),
  };
}

const WRAPPERS = new Set(
  [
    'DoubleValue',
    'FloatValue',
    'Int64Value',
    'UInt64Value',
    'Int32Value',
    'UInt32Value',
    'BoolValue',
    'StringValue',
    'BytesValue',
  ].map((n) => `google.protobuf.${n}`),
);

/** Rewrites proto3 JSON forms protobufjs' fromObject does not read: Duration strings ("1.5s")
 * and bare wrapper values; recurses into nested messages and `@type` Anys. */
function fromProto3Json(type: protobuf.Type, v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const src = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(src)) {
    const field = type.fields[k];
    if (!field || !field.resolvedType || !(field.resolvedType instanceof protobuf.Type)) {
      out[k] = val;
      continue;
    }
    const ft = field.resolvedType;
    const conv = (x: unknown): unknown => {
      const full = ft.fullName.slice(1);
      if (full === 'google.protobuf.Duration' && typeof x === 'string') {
        const secs = Number(x.replace(/s$/, ''));
        return { seconds: Math.trunc(secs), nanos: Math.round((secs - Math.trunc(secs)) * 1e9) };
      }
      if (WRAPPERS.has(full) && (typeof x !== 'object' || x === null)) return { value: x };
      if (
        full === 'google.protobuf.Any' &&
        x &&
        typeof x === 'object' &&
        typeof (x as Record<string, unknown>)['@type'] === 'string'
      ) {
        const at = (x as Record<string, unknown>)['@type'] as string;
        try {
          const inner = resourceRoot().lookupType(at.slice(at.lastIndexOf('/') + 1));
          const rest = { ...(x as Record<string, unknown>) };
          delete rest['@type'];
          return { '@type': at, ...(fromProto3Json(inner, rest) as Record<string, unknown>) };
        } catch {
          return x;
        }
      }
      if (full === 'google.protobuf.Struct' || full === 'google.protobuf.Value') return x;
      return fromProto3Json(ft, x);
    };
    out[k] = Array.isArray(val)
      ? val.map(conv)
      : field.map && val && typeof val === 'object'
        ? Object.fromEntries(Object.entries(val).map(([mk, mv]) => [mk, conv(mv)]))
        : conv(val);
  }
  return out;
}

/** The node sent to control planes. Versions say "Envoy ≥ 1.18" so SPIRE serves the SPIFFE validator. */
export interface XdsNode {
  id: string;
  cluster: string;
}

function nodeMessage(n: XdsNode): Record<string, unknown> {
  return {
    id: n.id,
    cluster: n.cluster,
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: 1, minor_number: 29, patch: 0 } },
    client_features: ['envoy.lb.does_not_support_overprovisioning'],
  };
}

interface DiscoveryResponse {
  version_info: string;
  resources: { type_url: string; value: Buffer }[];
  type_url: string;
  nonce: string;
}

interface DiscoveryRequest {
  version_info?: string;
  node?: Record<string, unknown>;
  resource_names?: string[];
  type_url: string;
  response_nonce?: string;
  error_detail?: { code: number; message: string };
}

type DiscoveryStream = grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;

/** See {@link serviceClients}. */
export interface ServiceClients {
  ads: grpc.ServiceClientConstructor;
  sds: grpc.ServiceClientConstructor;
}
let clients: ServiceClients | undefined;

/**
 * The grpc-js constructors of Envoy's AggregatedDiscoveryService (`ads`) and
 * SecretDiscoveryService (`sds`), loaded once with snake_case fields and bytes as Buffer; each
 * constructor's `.service` is the definition a grpc-js server registers.
 */
export function serviceClients(): ServiceClients {
  if (clients) return clients;
  const def = protoLoader.loadSync(
    ['envoy/service/discovery/v3/ads.proto', 'envoy/service/secret/v3/sds.proto'],
    {
      keepCase: true,
      longs: String,
      enums: String,
      bytes: Buffer,
      defaults: true,
      oneofs: true,
      includeDirs: INCLUDE_DIRS,
    },
  );
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: {
      service: {
        discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } };
        secret: { v3: { SecretDiscoveryService: grpc.ServiceClientConstructor } };
      };
    };
  };
  clients = {
    ads: pkg.envoy.service.discovery.v3.AggregatedDiscoveryService,
    sds: pkg.envoy.service.secret.v3.SecretDiscoveryService,
  };
  return clients;
}

/** grpc-js target for `unix:///path`, `unix:/path` or `host:port`. */
function target(address: string): string {
  if (address.startsWith('unix:')) return address;
  if (address.startsWith('/')) return `unix://${address}`;
  return address.replace(/^(grpc|http|tcp):\/\//, '');
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

/** Per-type subscription state on the ADS stream. */
interface Subscription {
  names: string[];
  version: string;
  nonce: string;
}

/** Aggregated Discovery Service client (see module doc). Call {@link start}; {@link close} stops it. */
export class AdsClient {
  readonly #address: string;
  readonly #node: XdsNode;
  readonly #proxy: Proxy;
  #client: grpc.Client | undefined;
  #stream: DiscoveryStream | undefined;
  #closed = false;
  #backoff = BACKOFF_MIN_MS;
  #sentNode = false;
  readonly #subs = new Map<string, Subscription>();
  #cdsApplied = false;
  #pendingLds: DiscoveryResponse | undefined;
  #queue: Promise<void> = Promise.resolve();

  constructor(options: { address: string; node: XdsNode; proxy: Proxy }) {
    this.#address = options.address;
    this.#node = options.node;
    this.#proxy = options.proxy;
  }

  /** Opens the stream (and reopens it with backoff whenever it ends). */
  start(): void {
    if (this.#closed) return;
    const Ctor = serviceClients().ads;
    this.#client ??= new Ctor(target(this.#address), grpc.credentials.createInsecure());
    const stream = (
      this.#client as unknown as { StreamAggregatedResources(): DiscoveryStream }
    ).StreamAggregatedResources();
    this.#stream = stream;
    this.#sentNode = false;
    const connected = this.#proxy.stats.gauge('control_plane.connected_state');
    stream.on('data', (res: DiscoveryResponse) => {
      connected.value = 1;
      this.#backoff = BACKOFF_MIN_MS;
      this.#queue = this.#queue
        .then(() => this.#onResponse(res))
        .catch((err: unknown) => this.#proxy.log('xds response handling failed', { error: String(err) }));
    });
    const restart = (): void => {
      if (this.#stream !== stream) return;
      this.#stream = undefined;
      connected.value = 0;
      if (this.#closed) return;
      const ms = this.#backoff;
      this.#backoff = Math.min(this.#backoff * 2, BACKOFF_MAX_MS);
      setTimeout(() => this.start(), ms).unref();
    };
    stream.on('error', (err: Error) => {
      this.#proxy.log('ads stream error', { error: err.message });
      restart();
    });
    stream.on('end', restart);
    // Initial subscriptions (wildcard CDS and LDS), plus whatever was subscribed before a reconnect.
    for (const t of [TypeUrl.cluster, TypeUrl.listener])
      if (!this.#subs.has(t)) this.#subs.set(t, { names: [], version: '', nonce: '' });
    for (const [t, s] of this.#subs)
      this.#send({ type_url: t, resource_names: s.names, version_info: s.version });
  }

  #send(req: DiscoveryRequest): void {
    if (!this.#sentNode) {
      req.node = nodeMessage(this.#node);
      this.#sentNode = true;
    }
    this.#stream?.write(req);
  }

  #subscribe(typeUrl: string, names: string[]): void {
    const sorted = [...new Set(names)].sort();
    const cur = this.#subs.get(typeUrl);
    if (cur && cur.names.join('\n') === sorted.join('\n')) return;
    const s = cur ?? { names: [], version: '', nonce: '' };
    s.names = sorted;
    this.#subs.set(typeUrl, s);
    this.#send({
      type_url: typeUrl,
      resource_names: sorted,
      version_info: s.version,
      response_nonce: s.nonce,
    });
  }

  async #onResponse(res: DiscoveryResponse): Promise<void> {
    const t = res.type_url;
    const sub = this.#subs.get(t) ?? { names: [], version: '', nonce: '' };
    this.#subs.set(t, sub);
    if (t === TypeUrl.listener && !this.#cdsApplied) {
      // Clusters first: hold LDS until CDS has been applied (Envoy's warming order).
      this.#pendingLds = res;
      return;
    }
    try {
      const resources = res.resources.map((a) => decodeAny(a));
      switch (t) {
        case TypeUrl.cluster:
          this.#proxy.applyClusters(resources, res.version_info);
          this.#subscribe(
            TypeUrl.endpoint,
            this.#proxy.clusters
              .all()
              .filter((c) => c.config.type === 'EDS')
              .map((c) => c.config.edsServiceName),
          );
          break;
        case TypeUrl.endpoint:
          this.#proxy.applyEndpoints(resources, res.version_info);
          break;
        case TypeUrl.route:
          this.#proxy.applyRoutes(resources, res.version_info);
          break;
        case TypeUrl.listener:
          await this.#proxy.applyListeners(resources, res.version_info);
          this.#subscribe(TypeUrl.route, this.#rdsNames());
          this.#proxy.markLive();
          break;
        default:
          throw new ConfigError(`type ${t}`, ['not subscribed']);
      }
      sub.version = res.version_info;
      sub.nonce = res.nonce;
      this.#send({
        type_url: t,
        version_info: res.version_info,
        response_nonce: res.nonce,
        resource_names: sub.names,
      });
    } catch (err) {
      sub.nonce = res.nonce;
      const message = err instanceof Error ? err.message : String(err);
      this.#proxy.log('xds update rejected', { typeUrl: t, version: res.version_info, error: message });
      this.#send({
        type_url: t,
        version_info: sub.version,
        response_nonce: res.nonce,
        resource_names: sub.names,
        error_detail: { code: grpc.status.INVALID_ARGUMENT, message },
      });
    }
    if (t === TypeUrl.cluster && !this.#cdsApplied) {
      this.#cdsApplied = true;
      const held = this.#pendingLds;
      this.#pendingLds = undefined;
      if (held) await this.#onResponse(held);
    }
  }

  #rdsNames(): string[] {
    const names: string[] = [];
    for (const l of this.#proxy.listeners.all()) {
      for (const fc of [
        ...l.config.filterChains,
        ...(l.config.defaultFilterChain ? [l.config.defaultFilterChain] : []),
      ]) {
        if (fc.filter.kind === 'http' && fc.filter.rdsName) names.push(fc.filter.rdsName);
      }
    }
    return names;
  }

  /** Ends the stream and stops reconnecting. */
  close(): void {
    this.#closed = true;
    this.#stream?.cancel();
    this.#stream = undefined;
    this.#client?.close();
  }
}

/** SDS client: one StreamSecrets stream per watched secret name (see module doc). */
export class SdsClient {
  readonly #socketPath: string;
  readonly #node: XdsNode;
  readonly #proxy: Proxy;
  #client: grpc.Client | undefined;
  readonly #streams = new Map<
    string,
    { stream: DiscoveryStream | undefined; backoff: number; version: string; closed: boolean }
  >();

  constructor(options: { socketPath: string; node: XdsNode; proxy: Proxy }) {
    this.#socketPath = options.socketPath;
    this.#node = options.node;
    this.#proxy = options.proxy;
  }

  /** Watches exactly `names`: opens streams for new names, cancels those no longer listed. */
  watch(names: string[]): void {
    const want = new Set(names);
    for (const [n, s] of this.#streams) {
      if (!want.has(n)) {
        s.closed = true;
        s.stream?.cancel();
        this.#streams.delete(n);
      }
    }
    for (const n of want)
      if (!this.#streams.has(n))
        this.#open(n, { stream: undefined, backoff: BACKOFF_MIN_MS, version: '', closed: false });
  }

  #open(
    name: string,
    state: { stream: DiscoveryStream | undefined; backoff: number; version: string; closed: boolean },
  ): void {
    if (state.closed) return;
    this.#streams.set(name, state);
    const Ctor = serviceClients().sds;
    this.#client ??= new Ctor(target(this.#socketPath), grpc.credentials.createInsecure());
    const stream = (this.#client as unknown as { StreamSecrets(): DiscoveryStream }).StreamSecrets();
    state.stream = stream;
    stream.on('data', (res: DiscoveryResponse) => {
      state.backoff = BACKOFF_MIN_MS;
      try {
        const secrets = res.resources.map((a) => decodeAny(a));
        if (!secrets.length)
          throw new ConfigError(`secret ${JSON.stringify(name)}`, ['response holds no resource']);
        for (const s of secrets) this.#proxy.applySecret(s, res.version_info);
        state.version = res.version_info;
        stream.write({
          type_url: TypeUrl.secret,
          version_info: res.version_info,
          response_nonce: res.nonce,
          resource_names: [name],
        });
        this.#proxy.stats.counter(`sds.${name}.update_success`).value++;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.#proxy.stats.counter(`sds.${name}.update_rejected`).value++;
        this.#proxy.log('sds update rejected', { secret: name, error: message });
        stream.write({
          type_url: TypeUrl.secret,
          version_info: state.version,
          response_nonce: res.nonce,
          resource_names: [name],
          error_detail: { code: grpc.status.INVALID_ARGUMENT, message },
        });
      }
    });
    const restart = (): void => {
      if (state.stream !== stream) return;
      state.stream = undefined;
      if (state.closed) return;
      const ms = state.backoff;
      state.backoff = Math.min(state.backoff * 2, BACKOFF_MAX_MS);
      setTimeout(() => this.#open(name, state), ms).unref();
    };
    stream.on('error', (err: Error) => {
      if (!state.closed) this.#proxy.log('sds stream error', { secret: name, error: err.message });
      restart();
    });
    stream.on('end', restart);
    stream.write({
      node: nodeMessage(this.#node),
      resource_names: [name],
      type_url: TypeUrl.secret,
      version_info: state.version,
    });
  }

  /** Cancels every stream. */
  close(): void {
    for (const s of this.#streams.values()) {
      s.closed = true;
      s.stream?.cancel();
    }
    this.#streams.clear();
    this.#client?.close();
  }
}
