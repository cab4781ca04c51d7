/**
 * The App Mesh kinds of `appmesh.k8s.aws/v1beta2` (API reference §a.1–§a.8): Mesh, VirtualNode,
 * VirtualService, VirtualRouter (with routes), VirtualGateway, GatewayRoute and BackendGroup.
 * Field names are exactly the CRDs'. Limits and enums are schema keywords; "exactly one of" and
 * cross-field rules are admission rules (`admission.ts`), as App Mesh's webhooks enforce them.
 */
import { Type, type Static, type TProperties, type TSchema } from '@sinclair/typebox';
import {
  BackendGroupReference,
  BoundedString,
  Duration,
  HeaderMatchMethod,
  HTTPMethod,
  HTTPPathMatch,
  HTTPQueryParameters,
  LabelSelector,
  Logging,
  MeshReference,
  ObjectMeta,
  OpenObject,
  PortMapping,
  PortNumber,
  PortProtocol,
  StringEnum,
  StructObject,
  VirtualGatewayPortProtocol,
  VirtualGatewayReference,
  VirtualNodeReference,
  VirtualRouterReference,
  VirtualServiceReference,
} from './common.js';
import {
  BackendDefaults,
  ClientPolicy,
  ListenerTLS,
  VirtualGatewayBackendDefaults,
  VirtualGatewayListenerTLS,
} from './tls.js';

/** API version of every App Mesh kind. */
export const APPMESH_API_VERSION = 'appmesh.k8s.aws/v1beta2';

/** Root of a CRD object: unknown root fields are preserved (kubebuilder `PreserveUnknownFields`), `spec` is structural. */
function CustomResource<K extends string, S extends TProperties>(kind: K, spec: S, description: string) {
  return OpenObject(
    {
      apiVersion: Type.Literal(APPMESH_API_VERSION),
      kind: Type.Literal(kind),
      metadata: ObjectMeta,
      spec: StructObject(spec),
      status: Type.Optional(Type.Unknown()),
    },
    { description },
  );
}

// ───────────────────────────── Mesh (§a.1) ─────────────────────────────

/** `EgressFilter.type`: ALLOW_ALL, or DROP_ALL (the AWS default, filled in when unspecified). */
export const EgressFilterType = StringEnum(['ALLOW_ALL', 'DROP_ALL'] as const);
/** A {@link EgressFilterType} value. */
export type EgressFilterType = Static<typeof EgressFilterType>;

/** `Mesh.spec` (§a.1). */
export const MeshSpec = {
  awsName: Type.Optional(Type.String({ minLength: 1 })),
  namespaceSelector: Type.Optional(LabelSelector),
  egressFilter: Type.Optional(StructObject({ type: EgressFilterType })),
  meshOwner: Type.Optional(Type.String()),
  meshServiceDiscovery: Type.Optional(
    StructObject({ ipPreference: Type.Optional(StringEnum(['IPv4_ONLY', 'IPv6_ONLY'] as const)) }),
  ),
};
/** `Mesh` (cluster-scoped). */
export const Mesh = CustomResource('Mesh', MeshSpec, 'App Mesh Mesh (cluster-scoped)');
/** A {@link Mesh} object. */
export type Mesh = Static<typeof Mesh>;

// ───────────────────────────── VirtualNode (§a.2) ─────────────────────────────

/** Health check policy over a listener's protocols: thresholds 2–10, interval 5–300 s, timeout 2–60 s (ms). */
function healthCheckPolicy<Protocol extends TSchema>(protocol: Protocol) {
  return StructObject({
    healthyThreshold: Type.Integer({ minimum: 2, maximum: 10 }),
    unhealthyThreshold: Type.Integer({ minimum: 2, maximum: 10 }),
    intervalMillis: Type.Integer({ minimum: 5000, maximum: 300000 }),
    timeoutMillis: Type.Integer({ minimum: 2000, maximum: 60000 }),
    protocol,
    path: Type.Optional(Type.String()),
    port: Type.Optional(PortNumber),
  });
}

/** `HealthCheckPolicy`: all of thresholds/interval/timeout/protocol required; `path` only for http/http2. */
export const HealthCheckPolicy = healthCheckPolicy(PortProtocol);
/** A {@link HealthCheckPolicy} value. */
export type HealthCheckPolicy = Static<typeof HealthCheckPolicy>;

/** `OutlierDetection`: all fields required when present. */
export const OutlierDetection = StructObject({
  maxServerErrors: Type.Integer({ minimum: 1 }),
  interval: Duration,
  baseEjectionDuration: Duration,
  maxEjectionPercent: Type.Integer({ minimum: 0, maximum: 100 }),
});
/** A {@link OutlierDetection} value. */
export type OutlierDetection = Static<typeof OutlierDetection>;

/** `VirtualNodeConnectionPool`: exactly one of tcp/http/http2/grpc (admission), matching the listener protocol. */
export const VirtualNodeConnectionPool = StructObject({
  tcp: Type.Optional(StructObject({ maxConnections: Type.Integer({ minimum: 1 }) })),
  http: Type.Optional(
    StructObject({
      maxConnections: Type.Integer({ minimum: 1 }),
      maxPendingRequests: Type.Optional(Type.Integer({ minimum: 1 })),
    }),
  ),
  http2: Type.Optional(StructObject({ maxRequests: Type.Integer({ minimum: 1 }) })),
  grpc: Type.Optional(StructObject({ maxRequests: Type.Integer({ minimum: 1 }) })),
});
/** A {@link VirtualNodeConnectionPool} value. */
export type VirtualNodeConnectionPool = Static<typeof VirtualNodeConnectionPool>;

/** `TCPTimeout{idle?}`. */
export const TCPTimeout = StructObject({ idle: Type.Optional(Duration) });
/** `HTTPTimeout{perRequest?, idle?}`: default per-request timeout is 15 s ({@link DEFAULT_PER_REQUEST_TIMEOUT_MS}). */
export const HTTPTimeout = StructObject({
  perRequest: Type.Optional(Duration),
  idle: Type.Optional(Duration),
});
/** `GRPCTimeout{perRequest?, idle?}`. */
export const GRPCTimeout = HTTPTimeout;
/** A {@link HTTPTimeout} value. */
export type HTTPTimeout = Static<typeof HTTPTimeout>;
/** A {@link TCPTimeout} value. */
export type TCPTimeout = Static<typeof TCPTimeout>;

/** `ListenerTimeout{tcp?, http?, http2?, grpc?}`. */
export const ListenerTimeout = StructObject({
  tcp: Type.Optional(TCPTimeout),
  http: Type.Optional(HTTPTimeout),
  http2: Type.Optional(HTTPTimeout),
  grpc: Type.Optional(GRPCTimeout),
});
/** A {@link ListenerTimeout} value. */
export type ListenerTimeout = Static<typeof ListenerTimeout>;

/** Virtual node `Listener{portMapping, healthCheck?, outlierDetection?, connectionPool?, timeout?, tls?}`. */
export const Listener = StructObject({
  portMapping: PortMapping,
  healthCheck: Type.Optional(HealthCheckPolicy),
  outlierDetection: Type.Optional(OutlierDetection),
  connectionPool: Type.Optional(VirtualNodeConnectionPool),
  timeout: Type.Optional(ListenerTimeout),
  tls: Type.Optional(ListenerTLS),
});
/** A {@link Listener} value. */
export type Listener = Static<typeof Listener>;

/** `DNSServiceDiscovery{hostname, responseType?}`: ENDPOINTS = strict DNS, LOADBALANCER = logical DNS. */
export const DNSServiceDiscovery = StructObject({
  hostname: Type.String({ minLength: 1 }),
  responseType: Type.Optional(StringEnum(['ENDPOINTS', 'LOADBALANCER'] as const)),
  ipPreference: Type.Optional(
    StringEnum(['IPv4_ONLY', 'IPv6_ONLY', 'IPv4_PREFERRED', 'IPv6_PREFERRED'] as const),
  ),
});
/** A {@link DNSServiceDiscovery} value. */
export type DNSServiceDiscovery = Static<typeof DNSServiceDiscovery>;

/** `AWSCloudMapServiceDiscovery{namespaceName, serviceName, attributes?}`; immutable once set. */
export const AWSCloudMapServiceDiscovery = StructObject({
  namespaceName: BoundedString(1, 1024),
  serviceName: BoundedString(1, 1024),
  attributes: Type.Optional(
    Type.Array(StructObject({ key: BoundedString(1, 255), value: BoundedString(1, 1024) })),
  ),
  ipPreference: Type.Optional(
    StringEnum(['IPv4_ONLY', 'IPv6_ONLY', 'IPv4_PREFERRED', 'IPv6_PREFERRED'] as const),
  ),
});
/** A {@link AWSCloudMapServiceDiscovery} value. */
export type AWSCloudMapServiceDiscovery = Static<typeof AWSCloudMapServiceDiscovery>;

/** `ServiceDiscovery`: exactly one of `dns`, `awsCloudMap`. */
export const ServiceDiscovery = StructObject({
  dns: Type.Optional(DNSServiceDiscovery),
  awsCloudMap: Type.Optional(AWSCloudMapServiceDiscovery),
});
/** A {@link ServiceDiscovery} value. */
export type ServiceDiscovery = Static<typeof ServiceDiscovery>;

/** `VirtualServiceBackend{virtualServiceRef | virtualServiceARN, clientPolicy?}`. */
export const VirtualServiceBackend = StructObject({
  virtualServiceRef: Type.Optional(VirtualServiceReference),
  virtualServiceARN: Type.Optional(Type.String({ minLength: 1 })),
  clientPolicy: Type.Optional(ClientPolicy),
});
/** A {@link VirtualServiceBackend} value. */
export type VirtualServiceBackend = Static<typeof VirtualServiceBackend>;

/** `Backend{virtualService}`. */
export const Backend = StructObject({ virtualService: VirtualServiceBackend });
/** A {@link Backend} value. */
export type Backend = Static<typeof Backend>;

/** `VirtualNode.spec` (§a.2). */
export const VirtualNodeSpec = {
  awsName: Type.Optional(Type.String({ minLength: 1 })),
  podSelector: Type.Optional(LabelSelector),
  listeners: Type.Optional(Type.Array(Listener)),
  serviceDiscovery: Type.Optional(ServiceDiscovery),
  backends: Type.Optional(Type.Array(Backend)),
  backendGroups: Type.Optional(Type.Array(BackendGroupReference)),
  backendDefaults: Type.Optional(BackendDefaults),
  logging: Type.Optional(Logging),
  meshRef: Type.Optional(MeshReference),
};
/** `VirtualNode` (namespaced). */
export const VirtualNode = CustomResource('VirtualNode', VirtualNodeSpec, 'App Mesh VirtualNode');
/** A {@link VirtualNode} object. */
export type VirtualNode = Static<typeof VirtualNode>;

// ───────────────────────────── VirtualService (§a.4) ─────────────────────────────

/** `VirtualServiceProvider`: a single virtual node or virtual router (admission: only one). */
export const VirtualServiceProvider = StructObject({
  virtualNode: Type.Optional(
    StructObject({
      virtualNodeRef: Type.Optional(VirtualNodeReference),
      virtualNodeARN: Type.Optional(Type.String({ minLength: 1 })),
    }),
  ),
  virtualRouter: Type.Optional(
    StructObject({
      virtualRouterRef: Type.Optional(VirtualRouterReference),
      virtualRouterARN: Type.Optional(Type.String({ minLength: 1 })),
    }),
  ),
});
/** A {@link VirtualServiceProvider} value. */
export type VirtualServiceProvider = Static<typeof VirtualServiceProvider>;

/** `VirtualService.spec` (§a.4); awsName (default `<name>.<ns>`) is the hostname clients call. */
export const VirtualServiceSpec = {
  awsName: Type.Optional(Type.String({ minLength: 1 })),
  provider: Type.Optional(VirtualServiceProvider),
  meshRef: Type.Optional(MeshReference),
};
/** `VirtualService` (namespaced). */
export const VirtualService = CustomResource('VirtualService', VirtualServiceSpec, 'App Mesh VirtualService');
/** A {@link VirtualService} object. */
export type VirtualService = Static<typeof VirtualService>;

// ───────────────────────────── VirtualRouter and routes (§a.5) ─────────────────────────────

/** `WeightedTarget{virtualNodeRef | virtualNodeARN, weight 0–100, port?}`. */
export const WeightedTarget = StructObject({
  virtualNodeRef: Type.Optional(VirtualNodeReference),
  virtualNodeARN: Type.Optional(Type.String({ minLength: 1 })),
  weight: Type.Integer({ minimum: 0, maximum: 100 }),
  port: Type.Optional(PortNumber),
});
/** A {@link WeightedTarget} value. */
export type WeightedTarget = Static<typeof WeightedTarget>;

/** Route action: `weightedTargets[1..10]`. */
export const RouteAction = StructObject({
  weightedTargets: Type.Array(WeightedTarget, { minItems: 1, maxItems: 10 }),
});
/** A {@link RouteAction} value. */
export type RouteAction = Static<typeof RouteAction>;

/** `HTTPRouteHeader{name 1–50, match?, invert? (default false)}`; no `match` = header must be present. */
export const HTTPRouteHeader = StructObject({
  name: BoundedString(1, 50),
  match: Type.Optional(HeaderMatchMethod),
  invert: Type.Optional(Type.Boolean({ default: false })),
});
/** A {@link HTTPRouteHeader} value. */
export type HTTPRouteHeader = Static<typeof HTTPRouteHeader>;

/** `HTTPRouteMatch`: exactly one of `prefix`/`path`; method, scheme, headers[1..10], queryParameters[1..10], port. */
export const HTTPRouteMatch = StructObject({
  prefix: Type.Optional(Type.String()),
  path: Type.Optional(HTTPPathMatch),
  method: Type.Optional(HTTPMethod),
  scheme: Type.Optional(StringEnum(['http', 'https'] as const)),
  headers: Type.Optional(Type.Array(HTTPRouteHeader, { minItems: 1, maxItems: 10 })),
  queryParameters: Type.Optional(Type.Array(HTTPQueryParameters, { minItems: 1, maxItems: 10 })),
  port: Type.Optional(Type.Integer({ minimum: 0 })),
});
/** A {@link HTTPRouteMatch} value. */
export type HTTPRouteMatch = Static<typeof HTTPRouteMatch>;

/** HTTP retry events. */
export const HTTPRetryPolicyEvent = StringEnum([
  'server-error',
  'gateway-error',
  'client-error',
  'stream-error',
] as const);
/** TCP retry events. */
export const TCPRetryPolicyEvent = StringEnum(['connection-error'] as const);
/** gRPC retry events. */
export const GRPCRetryPolicyEvent = StringEnum([
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
] as const);

/** `HTTPRetryPolicy{maxRetries, perRetryTimeout, httpRetryEvents?[1..25], tcpRetryEvents?[1]}`. */
export const HTTPRetryPolicy = StructObject({
  maxRetries: Type.Integer({ minimum: 0 }),
  perRetryTimeout: Duration,
  httpRetryEvents: Type.Optional(Type.Array(HTTPRetryPolicyEvent, { minItems: 1, maxItems: 25 })),
  tcpRetryEvents: Type.Optional(Type.Array(TCPRetryPolicyEvent, { minItems: 1, maxItems: 1 })),
});
/** A {@link HTTPRetryPolicy} value. */
export type HTTPRetryPolicy = Static<typeof HTTPRetryPolicy>;

/** `GRPCRetryPolicy`: HTTP retry policy plus `grpcRetryEvents[1..5]`. */
export const GRPCRetryPolicy = StructObject({
  maxRetries: Type.Integer({ minimum: 0 }),
  perRetryTimeout: Duration,
  grpcRetryEvents: Type.Optional(Type.Array(GRPCRetryPolicyEvent, { minItems: 1, maxItems: 5 })),
  httpRetryEvents: Type.Optional(Type.Array(HTTPRetryPolicyEvent, { minItems: 1, maxItems: 25 })),
  tcpRetryEvents: Type.Optional(Type.Array(TCPRetryPolicyEvent, { minItems: 1, maxItems: 1 })),
});
/** A {@link GRPCRetryPolicy} value. */
export type GRPCRetryPolicy = Static<typeof GRPCRetryPolicy>;

/** `HTTPRoute{match, action, retryPolicy?, timeout?}` (also used for `http2Route`). */
export const HTTPRoute = StructObject({
  match: HTTPRouteMatch,
  action: RouteAction,
  retryPolicy: Type.Optional(HTTPRetryPolicy),
  timeout: Type.Optional(HTTPTimeout),
});
/** A {@link HTTPRoute} value. */
export type HTTPRoute = Static<typeof HTTPRoute>;

/** `GRPCRouteMetadata{name 1–50, match?, invert?}`. */
export const GRPCRouteMetadata = StructObject({
  name: BoundedString(1, 50),
  match: Type.Optional(HeaderMatchMethod),
  invert: Type.Optional(Type.Boolean({ default: false })),
});
/** A {@link GRPCRouteMetadata} value. */
export type GRPCRouteMetadata = Static<typeof GRPCRouteMetadata>;

/** `GRPCRouteMatch{serviceName?, methodName? (requires serviceName), metadata?[1..10], port?}`. */
export const GRPCRouteMatch = StructObject({
  serviceName: Type.Optional(Type.String({ minLength: 1 })),
  methodName: Type.Optional(BoundedString(1, 50)),
  metadata: Type.Optional(Type.Array(GRPCRouteMetadata, { minItems: 1, maxItems: 10 })),
  port: Type.Optional(Type.Integer({ minimum: 0 })),
});
/** A {@link GRPCRouteMatch} value. */
export type GRPCRouteMatch = Static<typeof GRPCRouteMatch>;

/** `GRPCRoute{match, action, retryPolicy?, timeout?}`. */
export const GRPCRoute = StructObject({
  match: GRPCRouteMatch,
  action: RouteAction,
  retryPolicy: Type.Optional(GRPCRetryPolicy),
  timeout: Type.Optional(GRPCTimeout),
});
/** A {@link GRPCRoute} value. */
export type GRPCRoute = Static<typeof GRPCRoute>;

/** `TCPRoute{match?{port}, action, timeout?{idle}}`. */
export const TCPRoute = StructObject({
  match: Type.Optional(StructObject({ port: Type.Optional(Type.Integer({ minimum: 0 })) })),
  action: RouteAction,
  timeout: Type.Optional(TCPTimeout),
});
/** A {@link TCPRoute} value. */
export type TCPRoute = Static<typeof TCPRoute>;

/** `Route{name, priority? 0–1000 (0 highest), exactly one of httpRoute/http2Route/grpcRoute/tcpRoute}`. */
export const Route = StructObject({
  name: Type.String({ minLength: 1, maxLength: 255 }),
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  httpRoute: Type.Optional(HTTPRoute),
  http2Route: Type.Optional(HTTPRoute),
  grpcRoute: Type.Optional(GRPCRoute),
  tcpRoute: Type.Optional(TCPRoute),
});
/** A {@link Route} value. */
export type Route = Static<typeof Route>;

/** `VirtualRouterListener{portMapping}`. */
export const VirtualRouterListener = StructObject({ portMapping: PortMapping });
/** A {@link VirtualRouterListener} value. */
export type VirtualRouterListener = Static<typeof VirtualRouterListener>;

/** `VirtualRouter.spec` (§a.5): listeners[≥1], routes. */
export const VirtualRouterSpec = {
  awsName: Type.Optional(Type.String({ minLength: 1 })),
  listeners: Type.Array(VirtualRouterListener, { minItems: 1 }),
  routes: Type.Optional(Type.Array(Route)),
  meshRef: Type.Optional(MeshReference),
};
/** `VirtualRouter` (namespaced). */
export const VirtualRouter = CustomResource('VirtualRouter', VirtualRouterSpec, 'App Mesh VirtualRouter');
/** A {@link VirtualRouter} object. */
export type VirtualRouter = Static<typeof VirtualRouter>;

// ───────────────────────────── VirtualGateway (§a.6) ─────────────────────────────

/** `VirtualGatewayHealthCheckPolicy`: as the node's, protocol http|http2|grpc. */
export const VirtualGatewayHealthCheckPolicy = healthCheckPolicy(VirtualGatewayPortProtocol);

/** `VirtualGatewayConnectionPool`: exactly one of http/http2/grpc. */
export const VirtualGatewayConnectionPool = StructObject({
  http: Type.Optional(
    StructObject({
      maxConnections: Type.Integer({ minimum: 1 }),
      maxPendingRequests: Type.Optional(Type.Integer({ minimum: 1 })),
    }),
  ),
  http2: Type.Optional(StructObject({ maxRequests: Type.Integer({ minimum: 1 }) })),
  grpc: Type.Optional(StructObject({ maxRequests: Type.Integer({ minimum: 1 }) })),
});

/** `VirtualGatewayListener{portMapping(http|http2|grpc), healthCheck?, connectionPool?, tls?}`. */
export const VirtualGatewayListener = StructObject({
  portMapping: StructObject({ port: PortNumber, protocol: VirtualGatewayPortProtocol }),
  healthCheck: Type.Optional(VirtualGatewayHealthCheckPolicy),
  connectionPool: Type.Optional(VirtualGatewayConnectionPool),
  tls: Type.Optional(VirtualGatewayListenerTLS),
});
/** A {@link VirtualGatewayListener} value. */
export type VirtualGatewayListener = Static<typeof VirtualGatewayListener>;

/** `VirtualGateway.spec` (§a.6). */
export const VirtualGatewaySpec = {
  awsName: Type.Optional(Type.String({ minLength: 1 })),
  namespaceSelector: Type.Optional(LabelSelector),
  gatewayRouteSelector: Type.Optional(LabelSelector),
  podSelector: Type.Optional(LabelSelector),
  listeners: Type.Optional(Type.Array(VirtualGatewayListener)),
  logging: Type.Optional(Logging),
  backendDefaults: Type.Optional(VirtualGatewayBackendDefaults),
  meshRef: Type.Optional(MeshReference),
};
/** `VirtualGateway` (namespaced). */
export const VirtualGateway = CustomResource('VirtualGateway', VirtualGatewaySpec, 'App Mesh VirtualGateway');
/** A {@link VirtualGateway} object. */
export type VirtualGateway = Static<typeof VirtualGateway>;

// ───────────────────────────── GatewayRoute (§a.7) ─────────────────────────────

/** `GatewayRouteHostnameMatch`: exactly one of `exact`/`suffix` (1–253). */
export const GatewayRouteHostnameMatch = StructObject({
  exact: Type.Optional(BoundedString(1, 253)),
  suffix: Type.Optional(BoundedString(1, 253)),
});
/** A {@link GatewayRouteHostnameMatch} value. */
export type GatewayRouteHostnameMatch = Static<typeof GatewayRouteHostnameMatch>;

/** `GatewayRouteTarget{virtualService{virtualServiceRef | virtualServiceARN}, port?}`. */
export const GatewayRouteTarget = StructObject({
  virtualService: StructObject({
    virtualServiceRef: Type.Optional(VirtualServiceReference),
    virtualServiceARN: Type.Optional(Type.String({ minLength: 1 })),
  }),
  port: Type.Optional(PortNumber),
});
/** A {@link GatewayRouteTarget} value. */
export type GatewayRouteTarget = Static<typeof GatewayRouteTarget>;

/** `GatewayRouteHostnameRewrite{defaultTargetHostname? ENABLED|DISABLED}`. */
export const GatewayRouteHostnameRewrite = StructObject({
  defaultTargetHostname: Type.Optional(StringEnum(['ENABLED', 'DISABLED'] as const)),
});

/** `HTTPGatewayRouteMatch`: at least one of prefix/path/hostname; prefix and path exclusive. */
export const HTTPGatewayRouteMatch = StructObject({
  prefix: Type.Optional(Type.String()),
  path: Type.Optional(HTTPPathMatch),
  hostname: Type.Optional(GatewayRouteHostnameMatch),
  method: Type.Optional(HTTPMethod),
  headers: Type.Optional(
    Type.Array(
      StructObject({
        name: BoundedString(1, 50),
        match: Type.Optional(HeaderMatchMethod),
        invert: Type.Optional(Type.Boolean({ default: false })),
      }),
      { minItems: 1, maxItems: 10 },
    ),
  ),
  queryParameters: Type.Optional(Type.Array(HTTPQueryParameters, { minItems: 1, maxItems: 10 })),
  port: Type.Optional(PortNumber),
});
/** A {@link HTTPGatewayRouteMatch} value. */
export type HTTPGatewayRouteMatch = Static<typeof HTTPGatewayRouteMatch>;

/** `HTTPGatewayRouteRewrite`: at least one of prefix/path/hostname; prefix and path exclusive. */
export const HTTPGatewayRouteRewrite = StructObject({
  prefix: Type.Optional(
    StructObject({
      defaultPrefix: Type.Optional(StringEnum(['ENABLED', 'DISABLED'] as const)),
      value: Type.Optional(BoundedString(1, 255)),
    }),
  ),
  path: Type.Optional(StructObject({ exact: Type.Optional(BoundedString(1, 255)) })),
  hostname: Type.Optional(GatewayRouteHostnameRewrite),
});
/** A {@link HTTPGatewayRouteRewrite} value. */
export type HTTPGatewayRouteRewrite = Static<typeof HTTPGatewayRouteRewrite>;

/** `HTTPGatewayRoute{match, action{target, rewrite?}}` (also `http2Route`). */
export const HTTPGatewayRoute = StructObject({
  match: HTTPGatewayRouteMatch,
  action: StructObject({ target: GatewayRouteTarget, rewrite: Type.Optional(HTTPGatewayRouteRewrite) }),
});
/** A {@link HTTPGatewayRoute} value. */
export type HTTPGatewayRoute = Static<typeof HTTPGatewayRoute>;

/** `GRPCGatewayRoute{match{serviceName?, hostname?, metadata?, port?}, action{target, rewrite?{hostname}}}`. */
export const GRPCGatewayRoute = StructObject({
  match: StructObject({
    serviceName: Type.Optional(Type.String({ minLength: 1 })),
    hostname: Type.Optional(GatewayRouteHostnameMatch),
    metadata: Type.Optional(Type.Array(GRPCRouteMetadata, { minItems: 1, maxItems: 10 })),
    port: Type.Optional(PortNumber),
  }),
  action: StructObject({
    target: GatewayRouteTarget,
    rewrite: Type.Optional(StructObject({ hostname: Type.Optional(GatewayRouteHostnameRewrite) })),
  }),
});
/** A {@link GRPCGatewayRoute} value. */
export type GRPCGatewayRoute = Static<typeof GRPCGatewayRoute>;

/** `GatewayRoute.spec` (§a.7): priority 0–1000 (default 1000, lowest), exactly one route type. */
export const GatewayRouteSpec = {
  awsName: Type.Optional(Type.String({ minLength: 1 })),
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: 1000 })),
  httpRoute: Type.Optional(HTTPGatewayRoute),
  http2Route: Type.Optional(HTTPGatewayRoute),
  grpcRoute: Type.Optional(GRPCGatewayRoute),
  virtualGatewayRef: Type.Optional(VirtualGatewayReference),
  meshRef: Type.Optional(MeshReference),
};
/** `GatewayRoute` (namespaced). */
export const GatewayRoute = CustomResource('GatewayRoute', GatewayRouteSpec, 'App Mesh GatewayRoute');
/** A {@link GatewayRoute} object. */
export type GatewayRoute = Static<typeof GatewayRoute>;

// ───────────────────────────── BackendGroup (§a.8) ─────────────────────────────

/** `BackendGroup.spec{virtualservices[]{name, namespace?}, meshRef?}` (experimental). */
export const BackendGroupSpec = {
  virtualservices: Type.Optional(Type.Array(VirtualServiceReference)),
  meshRef: Type.Optional(MeshReference),
};
/** `BackendGroup` (namespaced, experimental). */
export const BackendGroup = CustomResource(
  'BackendGroup',
  BackendGroupSpec,
  'App Mesh BackendGroup (experimental)',
);
/** A {@link BackendGroup} object. */
export type BackendGroup = Static<typeof BackendGroup>;

/** Default per-request timeout App Mesh applies to HTTP/HTTP2/gRPC listeners and routes: 15 s (user guide). */
export const DEFAULT_PER_REQUEST_TIMEOUT_MS = 15_000;
/** Default GatewayRoute priority (lowest), filled in when unset. */
export const DEFAULT_GATEWAY_ROUTE_PRIORITY = 1000;
