/**
 * `mesh/compile`: App Mesh v1beta2 resources (a validated `MeshState`) → the Envoy v3 resources App Mesh
 * serves each proxy (reference appmesh-api.md §a.3, §a.5–a.7, §c). Resources are plain objects in
 * proto3 JSON shape (field names as in the .proto, `"@type"` on every Any, Durations as `"1.5s"`), and
 * every one encodes with the real Envoy protos (`mesh/xds` codec).
 *
 * ## Contract for proxies (the Envoy fields emitted — our proxy implements exactly these)
 *
 * **Listener** (`envoy.config.listener.v3.Listener`): `name`, `address.socket_address{address,
 * port_value}`, `listener_filters[]` (`envoy.filters.listener.original_dst`, `…tls_inspector`),
 * `filter_chains[]{name, filter_chain_match{destination_port, transport_protocol "tls"|"raw_buffer"},
 * filters[], transport_socket}`, `default_filter_chain` (egress ALLOW_ALL), `api_listener.api_listener`
 * (proxyless gRPC only). Names: `lds_ingress_0.0.0.0_15000` (VN inbound, a chain set per listener port:
 * DISABLED → one plaintext chain; STRICT → one TLS chain; PERMISSIVE → a `tls` and a `raw_buffer` chain
 * plus tls_inspector), `lds_ingress_0.0.0.0_<port>` (VG listeners), `lds_egress_0.0.0.0_15001`
 * (outbound; a chain per backend port matched on the original destination port; absent when DROP_ALL and
 * no backends).
 *
 * **Network filters**: `envoy.filters.network.http_connection_manager` (HttpConnectionManager:
 * `codec_type` AUTO, `stat_prefix`, `rds{config_source{ads{}, resource_api_version V3},
 * route_config_name}` or inline `route_config`, `http_filters[]` = [`envoy.filters.http.router`],
 * `access_log[]` (`envoy.access_loggers.file`: `path`, `log_format{text_format_source.inline_string |
 * json_format}`)); `envoy.filters.network.tcp_proxy` (`stat_prefix`, `cluster` | `weighted_clusters
 * {clusters[]{name, weight}}`, `idle_timeout`, `access_log`).
 *
 * **Downstream TLS** (`transport_socket` `envoy.transport_sockets.tls`, DownstreamTlsContext):
 * `common_tls_context{tls_certificate_sds_secret_configs[] | tls_certificates[]{certificate_chain.filename,
 * private_key.filename}, validation_context_sds_secret_config | combined_validation_context{
 * default_validation_context{match_typed_subject_alt_names[]{san_type URI|DNS, matcher.exact}},
 * validation_context_sds_secret_config} | validation_context{trusted_ca.filename,
 * match_typed_subject_alt_names}, alpn_protocols}`, `require_client_certificate` (when the listener has
 * `validation`). SDS configs: `{name: <secretName verbatim>, sds_config{api_config_source{api_type GRPC,
 * transport_api_version V3, grpc_services[]{envoy_grpc.cluster_name "static_cluster_sds_unix_socket"}},
 * resource_api_version V3}}`.
 *
 * **RouteConfiguration**: `name` (`rds_egress_http_<port>`, `rds_ingress_<protocol>_<port>`),
 * `virtual_hosts[]{name, domains[] (`<vs>`, `<vs>:<port>`, `*`), routes[]}`. **Route**: `name`,
 * `match{prefix | path | safe_regex.regex, headers[]{name, string_match{exact|prefix|suffix|
 * safe_regex.regex} | range_match{start,end} | present_match, invert_match}, query_parameters[]{name,
 * string_match.exact | present_match}}`, `route{cluster | weighted_clusters.clusters[]{name, weight},
 * timeout, idle_timeout, retry_policy{retry_on, num_retries, per_try_timeout, retriable_status_codes},
 * prefix_rewrite, regex_rewrite{pattern.regex, substitution}, host_rewrite_literal}`. Routes are in
 * evaluation order (first match wins). `:authority` hostname matches use `safe_regex` (RE2, full match).
 *
 * **Cluster**: `name` (`cds_ingress_<mesh>_<vn>_<protocol>_<port>`, `cds_egress_<mesh>_<vn>_<protocol>_<port>`,
 * `cds_egress_<mesh>_allow_all`, `cds_ingress_<mesh>_<vg>_self_redirect_<protocol>_<port>`), `type`
 * STATIC | STRICT_DNS | LOGICAL_DNS | EDS | ORIGINAL_DST, `lb_policy` (default ROUND_ROBIN omitted;
 * CLUSTER_PROVIDED for ORIGINAL_DST), `connect_timeout`, `load_assignment` (STATIC/DNS), `eds_cluster_config
 * {eds_config{ads{}, resource_api_version V3}}`, `dns_lookup_family`, `circuit_breakers.thresholds[]{
 * max_connections, max_pending_requests, max_requests, max_retries}`, `health_checks[]{timeout, interval,
 * unhealthy_threshold, healthy_threshold, http_health_check{path, codec_client_type} | tcp_health_check |
 * grpc_health_check}`, `outlier_detection{consecutive_5xx, interval, base_ejection_time,
 * max_ejection_percent}`, `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.
 * HttpProtocolOptions"].explicit_http_config.http2_protocol_options` (http2/grpc upstreams),
 * `transport_socket` (UpstreamTlsContext: `common_tls_context` as above with the client certificate and
 * trust of the client policy, `sni`).
 *
 * **ClusterLoadAssignment**: `cluster_name`, `endpoints[]{locality, load_balancing_weight, lb_endpoints[]{
 * endpoint{address.socket_address, health_check_config.port_value}}}`.
 */
export { compileNode, compileMesh, meshNodeIds, toResourcesByType, healthCheck } from './compile.js';
export type { NodeConfig, CompileOptions, EndpointResolver, EndpointAddress } from './compile.js';
export { configDump } from './config-dump.js';
export {
  decideUpstreamTls,
  effectiveClientPolicy,
  downstreamTlsContext,
  upstreamTlsContext,
  sdsSecretConfig,
  subjectAltNameMatchers,
} from './tls.js';
export type { UpstreamTlsDecision, ServerListenerView } from './tls.js';
export {
  orderRoutes,
  orderGatewayRoutes,
  headerMatcher,
  httpRouteMatch,
  grpcRouteMatch,
  gatewayHttpRouteMatch,
  retryPolicy,
  clusterSpecifier,
  msToDuration,
} from './routes.js';
export type { WeightedCluster } from './routes.js';
export {
  INGRESS_PORT,
  EGRESS_PORT,
  SDS_CLUSTER,
  formatNodeId,
  parseNodeId,
  ingressListenerName,
  egressListenerName,
  ingressClusterName,
  egressClusterName,
  passthroughClusterName,
  selfRedirectClusterName,
  egressRouteName,
  gatewayRouteConfigName,
} from './names.js';
export type { ProxyNodeId } from './names.js';
export { CompileError, UnknownNodeError } from './errors.js';
export type { CompileIssue, CompileIssueCode } from './errors.js';
export { ControlPlane } from './control-plane.js';
export { RouteMemo } from './route-memo.js';
export type { RouterRoutesRecord, RecordedTarget } from './route-memo.js';
export type {
  ControlPlaneOptions,
  ControlPlaneEvents,
  CompileReport,
  MeshSource,
  MeshSourceChange,
} from './control-plane.js';
