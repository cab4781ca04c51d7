/**
 * App Mesh routes → Envoy `Route`s: match conversion (HTTP, HTTP/2, gRPC, gateway routes), route order,
 * retry policies (App Mesh's defaults when none is given) and timeouts. Reference §a.5, §a.7; Envoy
 * `config.route.v3.RouteMatch`, `RouteAction`, `RetryPolicy`, `HeaderMatcher`.
 */
import type {
  GRPCRetryPolicy,
  GRPCRouteMatch,
  GRPCRouteMetadata,
  HTTPGatewayRouteMatch,
  HTTPRetryPolicy,
  HTTPRouteHeader,
  HTTPRouteMatch,
  HeaderMatchMethod,
  Duration,
} from '../model/index.js';
import { durationToMs } from '../model/index.js';
import type { JsonObject } from '../xds/index.js';

/** Formats milliseconds as a proto3 JSON Duration (`1500` → `"1.5s"`). */
export function msToDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos === 0 ? `${seconds}s` : `${seconds}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}s`;
}

/** App Mesh `Duration` → proto3 JSON Duration. */
export function appMeshDuration(d: Duration): string {
  return msToDuration(durationToMs(d));
}

/**
 * Orders routes as App Mesh evaluates them (§a.5): routes with a `priority` first, ascending (0 is
 * highest), ties in declaration order; then routes without priority in declaration order (the
 * walkthroughs rely on an unprioritized `prefix: /` route acting as the catch-all). Stable; pure.
 */
export function orderRoutes<R extends { priority?: number }>(routes: readonly R[]): R[] {
  const indexed = routes.map((route, index) => ({ route, index }));
  indexed.sort((a, b) => {
    const pa = a.route.priority ?? Number.POSITIVE_INFINITY;
    const pb = b.route.priority ?? Number.POSITIVE_INFINITY;
    return pa !== pb ? pa - pb : a.index - b.index;
  });
  return indexed.map((x) => x.route);
}

/**
 * Orders gateway routes (§a.7): ascending priority (default 1000), then the longest match prefix (the
 * pre-priority rule), then declaration order. Stable; pure.
 */
export function orderGatewayRoutes<R extends { priority?: number; prefixLength: number }>(
  routes: readonly R[],
): R[] {
  const indexed = routes.map((route, index) => ({ route, index }));
  indexed.sort((a, b) => {
    const pa = a.route.priority ?? 1000;
    const pb = b.route.priority ?? 1000;
    if (pa !== pb) return pa - pb;
    if (a.route.prefixLength !== b.route.prefixLength) return b.route.prefixLength - a.route.prefixLength;
    return a.index - b.index;
  });
  return indexed.map((x) => x.route);
}

/**
 * `HeaderMatcher` for an App Mesh header/metadata match: exact/prefix/suffix/regex → `string_match`
 * (regex: RE2, full string), range → `range_match` [start, end), no match → `present_match`,
 * `invert` → `invert_match`.
 */
export function headerMatcher(
  name: string,
  match: HeaderMatchMethod | undefined,
  invert?: boolean,
): JsonObject {
  const out: JsonObject = { name };
  if (!match) out.present_match = true;
  else if (match.exact !== undefined) out.string_match = { exact: match.exact };
  else if (match.prefix !== undefined) out.string_match = { prefix: match.prefix };
  else if (match.suffix !== undefined) out.string_match = { suffix: match.suffix };
  else if (match.regex !== undefined) out.string_match = { safe_regex: { regex: match.regex } };
  else if (match.range !== undefined)
    out.range_match = { start: String(match.range.start), end: String(match.range.end) };
  else out.present_match = true;
  if (invert) out.invert_match = true;
  return out;
}

function headersOf(list: readonly (HTTPRouteHeader | GRPCRouteMetadata)[] | undefined): JsonObject[] {
  return (list ?? []).map((h) => headerMatcher(h.name, h.match, h.invert));
}

function queryParametersOf(list: HTTPRouteMatch['queryParameters']): JsonObject[] {
  return (list ?? []).map((q): JsonObject =>
    q.match?.exact !== undefined
      ? { name: q.name, string_match: { exact: q.match.exact } }
      : { name: q.name, present_match: true },
  );
}

function pathSpecifier(m: { prefix?: string; path?: { exact?: string; regex?: string } }): JsonObject {
  if (m.path?.exact !== undefined) return { path: m.path.exact };
  if (m.path?.regex !== undefined) return { safe_regex: { regex: m.path.regex } };
  return { prefix: m.prefix ?? '/' };
}

/** `RouteMatch` of an HTTP/HTTP2 route: prefix | path exact | path regex, `:method`, `:scheme`, headers, query. */
export function httpRouteMatch(m: HTTPRouteMatch): JsonObject {
  const headers = headersOf(m.headers);
  if (m.method) headers.push({ name: ':method', string_match: { exact: m.method } });
  if (m.scheme) headers.push({ name: ':scheme', string_match: { exact: m.scheme } });
  const out: JsonObject = pathSpecifier(m);
  if (headers.length > 0) out.headers = headers;
  const query = queryParametersOf(m.queryParameters);
  if (query.length > 0) out.query_parameters = query;
  return out;
}

/**
 * `RouteMatch` of a gRPC route: service + method → path `/<service>/<method>`, service only → prefix
 * `/<service>/`, neither → prefix `/`; metadata → headers.
 */
export function grpcRouteMatch(m: GRPCRouteMatch): JsonObject {
  const out: JsonObject =
    m.serviceName !== undefined && m.methodName !== undefined
      ? { path: `/${m.serviceName}/${m.methodName}` }
      : { prefix: m.serviceName !== undefined ? `/${m.serviceName}/` : '/' };
  const headers = headersOf(m.metadata);
  if (headers.length > 0) out.headers = headers;
  return out;
}

/** `RouteMatch` of a gateway HTTP route: path specifier, hostname (`:authority` exact/suffix), method, headers, query. */
export function gatewayHttpRouteMatch(m: HTTPGatewayRouteMatch): JsonObject {
  const headers = headersOf(m.headers);
  if (m.hostname?.exact !== undefined) headers.push(authorityMatcher({ exact: m.hostname.exact }));
  else if (m.hostname?.suffix !== undefined) headers.push(authorityMatcher({ suffix: m.hostname.suffix }));
  if (m.method) headers.push({ name: ':method', string_match: { exact: m.method } });
  const out: JsonObject = pathSpecifier(m);
  if (headers.length > 0) out.headers = headers;
  const query = queryParametersOf(m.queryParameters);
  if (query.length > 0) out.query_parameters = query;
  return out;
}

/**
 * Hostname match on `:authority`, ignoring a `:port` suffix: exact `h` matches `h` and `h:<port>`;
 * suffix `s` matches any host ending in `s` (with or without a port).
 */
export function authorityMatcher(h: { exact?: string; suffix?: string }): JsonObject {
  const escaped = (h.exact ?? h.suffix ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const regex = h.exact !== undefined ? `${escaped}(:[0-9]+)?` : `.*${escaped}(:[0-9]+)?`;
  return { name: ':authority', string_match: { safe_regex: { regex } } };
}

/** Envoy `retry_on` names of App Mesh HTTP/TCP retry events (App Mesh user guide, route retry policy). */
const httpRetryOn: Record<string, string> = {
  'server-error': '5xx',
  'gateway-error': 'gateway-error',
  'client-error': 'retriable-4xx',
  'stream-error': 'refused-stream',
  'connection-error': 'connect-failure',
};

/**
 * Envoy `RetryPolicy` of a route. With a policy: `retry_on` from its events, `num_retries` = maxRetries,
 * `per_try_timeout`. Without: App Mesh's injected default (§a.5) — 2 retries; HTTP on 503
 * (`retriable-status-codes` [503]), gRPC on UNAVAILABLE; plus connect-failure, refused-stream and reset.
 */
export function retryPolicy(
  kind: 'http' | 'grpc',
  policy: HTTPRetryPolicy | GRPCRetryPolicy | undefined,
): JsonObject {
  if (!policy) {
    return kind === 'grpc'
      ? { retry_on: 'unavailable,connect-failure,refused-stream,reset', num_retries: 2 }
      : {
          retry_on: 'retriable-status-codes,connect-failure,refused-stream,reset',
          num_retries: 2,
          retriable_status_codes: [503],
        };
  }
  const events = [
    ...(policy.httpRetryEvents ?? []).map((e) => httpRetryOn[e]!),
    ...(policy.tcpRetryEvents ?? []).map((e) => httpRetryOn[e]!),
    ...('grpcRetryEvents' in policy ? (policy.grpcRetryEvents ?? []) : []),
  ];
  const out: JsonObject = {};
  if (events.length > 0) out.retry_on = [...new Set(events)].join(',');
  if (policy.maxRetries > 0) out.num_retries = policy.maxRetries;
  out.per_try_timeout = appMeshDuration(policy.perRetryTimeout);
  return out;
}

/** A cluster and its relative weight, for a route action. */
export interface WeightedCluster {
  cluster: string;
  weight: number;
}

/**
 * The `cluster` / `weighted_clusters` part of a `RouteAction`. Targets naming the same cluster are merged;
 * zero-weight targets are dropped (Envoy rejects a zero total); one target becomes `cluster`. Returns `undefined` when every weight is zero.
 */
export function clusterSpecifier(targets: readonly WeightedCluster[]): JsonObject | undefined {
  const merged = new Map<string, number>();
  for (const t of targets) if (t.weight > 0) merged.set(t.cluster, (merged.get(t.cluster) ?? 0) + t.weight);
  const live = [...merged].map(([cluster, weight]) => ({ cluster, weight }));
  if (live.length === 0) return undefined;
  if (live.length === 1) return { cluster: live[0]!.cluster };
  return { weighted_clusters: { clusters: live.map((t) => ({ name: t.cluster, weight: t.weight })) } };
}
