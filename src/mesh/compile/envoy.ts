/**
 * Small builders of Envoy v3 resources in proto3 JSON shape, shared by the virtual node and virtual
 * gateway compilers. Names of extensions and type URLs are Envoy's.
 */
import type { JsonObject } from '../xds/index.js';
import type { Logging } from '../model/index.js';

/** Type URLs of the resources and extensions the compiler emits. */
export const T = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routeConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  clusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  hcm: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  tcpProxy: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  originalDst: 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
  tlsInspector: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  httpProtocolOptions: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  fileAccessLog: 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
} as const;

/** ADS config source (`{ads: {}, resource_api_version: V3}`), used for RDS and EDS. */
export function adsConfigSource(): JsonObject {
  return { ads: {}, resource_api_version: 'V3' };
}

/** `SocketAddress` as an `Address`. */
export function socketAddress(address: string, port: number): JsonObject {
  return { socket_address: { address, port_value: port } };
}

/** Listener filter `envoy.filters.listener.original_dst` (restores the iptables-redirected destination). */
export function originalDstFilter(): JsonObject {
  return { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': T.originalDst } };
}

/** Listener filter `envoy.filters.listener.tls_inspector` (sets `transport_protocol` tls / raw_buffer). */
export function tlsInspectorFilter(): JsonObject {
  return { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': T.tlsInspector } };
}

/** The terminal HTTP filter `envoy.filters.http.router`. */
export function routerFilter(): JsonObject {
  return { name: 'envoy.filters.http.router', typed_config: { '@type': T.router } };
}

/** `access_log` entries of an App Mesh `logging.accessLog.file` (text or JSON format), or none. */
export function accessLogs(logging: Logging | undefined): JsonObject[] {
  const file = logging?.accessLog?.file;
  if (!file) return [];
  const config: JsonObject = { '@type': T.fileAccessLog, path: file.path };
  if (file.format?.text !== undefined)
    config.log_format = { text_format_source: { inline_string: file.format.text } };
  else if (file.format?.json)
    config.log_format = { json_format: Object.fromEntries(file.format.json.map((kv) => [kv.key, kv.value])) };
  return [{ name: 'envoy.access_loggers.file', typed_config: config }];
}

/** Options of {@link httpConnectionManager}: exactly one of `rds` (route config name) or `routeConfig`. */
export interface HcmOptions {
  statPrefix: string;
  rds?: string;
  routeConfig?: JsonObject;
  accessLog?: JsonObject[];
}

/** Network filter `envoy.filters.network.http_connection_manager` (codec AUTO, router last). */
export function httpConnectionManager(o: HcmOptions): JsonObject {
  const hcm: JsonObject = { '@type': T.hcm, codec_type: 'AUTO', stat_prefix: o.statPrefix };
  if (o.rds !== undefined) hcm.rds = { config_source: adsConfigSource(), route_config_name: o.rds };
  if (o.routeConfig) hcm.route_config = o.routeConfig;
  hcm.http_filters = [routerFilter()];
  if (o.accessLog?.length) hcm.access_log = o.accessLog;
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: hcm };
}

/** Network filter `envoy.filters.network.tcp_proxy` to a cluster or weighted clusters. */
export function tcpProxy(
  statPrefix: string,
  target: { cluster: string } | { weighted_clusters: JsonObject },
  idleTimeout?: string,
  accessLog?: JsonObject[],
): JsonObject {
  const config: JsonObject = { '@type': T.tcpProxy, stat_prefix: statPrefix };
  if ('cluster' in target) config.cluster = target.cluster;
  else config.weighted_clusters = target.weighted_clusters;
  if (idleTimeout !== undefined) config.idle_timeout = idleTimeout;
  if (accessLog?.length) config.access_log = accessLog;
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: config };
}

/** `typed_extension_protocol_options` making a cluster speak HTTP/2 upstream (http2 and grpc listeners). */
export function http2ProtocolOptions(): JsonObject {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': T.httpProtocolOptions,
      explicit_http_config: { http2_protocol_options: {} },
    },
  };
}

/** Circuit-breaker threshold App Mesh uses for "unlimited" (§a.5: breakers effectively disabled). */
export const UNLIMITED = 2147483647;

/** `circuit_breakers` with App Mesh's unlimited defaults, overridden by the given limits. */
export function circuitBreakers(limits: {
  maxConnections?: number;
  maxPendingRequests?: number;
  maxRequests?: number;
}): JsonObject {
  return {
    thresholds: [
      {
        max_connections: limits.maxConnections ?? UNLIMITED,
        max_pending_requests: limits.maxPendingRequests ?? UNLIMITED,
        max_requests: limits.maxRequests ?? UNLIMITED,
        max_retries: UNLIMITED,
      },
    ],
  };
}
