/**
 * The compiler: a validated {@link MeshState} → the Envoy resources App Mesh would serve to each proxy
 * node (reference §c). See `index.ts` for the emitted Envoy fields (the proxy's contract).
 */
import type {
  ClientPolicy,
  GatewayRoute,
  HealthCheckPolicy,
  Listener as VnListener,
  MeshState,
  PortProtocol,
  Route,
  VirtualGateway,
  VirtualGatewayListener,
  VirtualNode,
  VirtualRouter,
  VirtualService,
} from '../model/index.js';
import { DEFAULT_PER_REQUEST_TIMEOUT_MS } from '../model/index.js';
import { TypeUrl, type JsonObject, type ResourcesByType } from '../xds/index.js';
import { UnknownNodeError, type CompileIssue, type CompileIssueCode } from './errors.js';
import { TrackedState } from './tracked-state.js';
import { deepFreeze, type RecordedTarget, type RouteMemo, type RouterRoutesRecord } from './route-memo.js';
import {
  T,
  accessLogs,
  adsConfigSource,
  circuitBreakers,
  http2ProtocolOptions,
  httpConnectionManager,
  originalDstFilter,
  routerFilter,
  socketAddress,
  tcpProxy,
  tlsInspectorFilter,
} from './envoy.js';
import {
  EGRESS_PORT,
  INGRESS_PORT,
  egressClusterName,
  egressListenerName,
  egressRouteName,
  formatNodeId,
  gatewayRouteConfigName,
  ingressClusterName,
  ingressListenerName,
  parseNodeId,
  passthroughClusterName,
  selfRedirectClusterName,
} from './names.js';
import {
  appMeshDuration,
  clusterSpecifier,
  gatewayHttpRouteMatch,
  grpcRouteMatch,
  httpRouteMatch,
  msToDuration,
  orderGatewayRoutes,
  orderRoutes,
  retryPolicy,
  authorityMatcher,
  headerMatcher,
  type WeightedCluster,
} from './routes.js';
import {
  decideUpstreamTls,
  downstreamTlsContext,
  effectiveClientPolicy,
  tlsTransportSocket,
  upstreamTlsContext,
} from './tls.js';

/** One address serving a virtual node listener (a pod IP and port, typically). */
export interface EndpointAddress {
  address: string;
  port: number;
}

/**
 * Supplies the endpoints of a virtual node listener when the platform knows them (the local runtime's
 * pod IPs). Returning `undefined` means "not known here": the compiler falls back to the node's DNS
 * service discovery. An empty array means "known: no endpoint ready".
 */
export interface EndpointResolver {
  resolve(
    virtualNode: VirtualNode,
    listener: { port: number; protocol: PortProtocol },
  ): readonly EndpointAddress[] | undefined;
}

/** Options of the compiler. */
export interface CompileOptions {
  /** Pod endpoints; without it (or when it returns undefined) DNS service discovery is used. */
  endpointResolver?: EndpointResolver;
  /**
   * Also emit, for each outbound HTTP/gRPC virtual host, a gRPC API listener `<virtual service>:<port>`
   * using the same route configuration, for proxyless gRPC clients (grpc-js-xds, grpc-go).
   */
  apiListeners?: boolean;
  /** Upstream connect timeout in ms (default 1000). */
  connectTimeoutMs?: number;
  /** Routes of virtual routers compiled once and shared by their callers (see `route-memo.ts`). */
  memo?: RouteMemo;
}

/** The Envoy resources of one proxy node, in push order, plus what could not be compiled. */
export interface NodeConfig {
  nodeId: string;
  clusters: JsonObject[];
  endpoints: JsonObject[];
  listeners: JsonObject[];
  routeConfigurations: JsonObject[];
  issues: CompileIssue[];
  /** Dependency keys of every object read to compile this node (see `tracked-state.ts`). */
  reads: ReadonlySet<string>;
}

/** A {@link NodeConfig} as the snapshot cache takes it (type URL → resources). */
export function toResourcesByType(config: NodeConfig): ResourcesByType {
  return {
    [TypeUrl.Cluster]: config.clusters,
    [TypeUrl.ClusterLoadAssignment]: config.endpoints,
    [TypeUrl.Listener]: config.listeners,
    [TypeUrl.RouteConfiguration]: config.routeConfigurations,
  };
}

/** Every proxy node id of the mesh state: one per admitted virtual node and virtual gateway (§c.1). */
export function meshNodeIds(state: MeshState): string[] {
  const ids: string[] = [];
  for (const kind of ['VirtualNode', 'VirtualGateway'] as const) {
    for (const r of state.list(kind)) {
      const mesh = state.meshOf(r);
      if (!mesh || !r.spec.awsName) continue;
      ids.push(
        formatNodeId({
          mesh: mesh.spec.awsName ?? mesh.metadata.name,
          kind: kind === 'VirtualNode' ? 'virtualNode' : 'virtualGateway',
          name: r.spec.awsName,
        }),
      );
    }
  }
  return ids;
}

/**
 * Compiles every node of the mesh (or only `only` among them; ids not in the mesh are skipped); see
 * {@link compileNode}.
 */
export function compileMesh(
  state: MeshState,
  options: CompileOptions = {},
  only?: ReadonlySet<string>,
): Map<string, NodeConfig> {
  const out = new Map<string, NodeConfig>();
  for (const id of meshNodeIds(state))
    if (!only || only.has(id)) out.set(id, compileNode(state, id, options));
  return out;
}

/**
 * Compiles the Envoy resources App Mesh would serve to proxy `nodeId`
 * (`mesh/<mesh>/virtualNode/<vn awsName>` or `…/virtualGateway/<vg awsName>`). Never throws for a bad
 * mesh: unresolvable parts are reported in `issues` and left out. Throws {@link UnknownNodeError} when
 * the id is malformed or names nothing.
 */
export function compileNode(state: MeshState, nodeId: string, options: CompileOptions = {}): NodeConfig {
  const id = parseNodeId(nodeId);
  if (!id) throw new UnknownNodeError(nodeId, 'expected mesh/<mesh>/virtualNode|virtualGateway/<awsName>');
  const tracked = new TrackedState(state);
  const mesh = tracked.meshByAwsName(id.mesh);
  if (!mesh) throw new UnknownNodeError(nodeId, `no mesh with awsName ${id.mesh}`);
  const ctx = new NodeCompiler(tracked, nodeId, id.mesh, options);
  if (id.kind === 'virtualNode') {
    const vn = tracked.byAwsName('VirtualNode', id.mesh, id.name);
    if (!vn) throw new UnknownNodeError(nodeId, `no virtual node with awsName ${id.name} in mesh ${id.mesh}`);
    ctx.compileVirtualNode(vn);
  } else {
    const vg = tracked.byAwsName('VirtualGateway', id.mesh, id.name);
    if (!vg)
      throw new UnknownNodeError(nodeId, `no virtual gateway with awsName ${id.name} in mesh ${id.mesh}`);
    ctx.compileVirtualGateway(vg);
  }
  return { ...ctx.result(), reads: tracked.reads };
}

const routeTypeOfProtocol = {
  http: 'httpRoute',
  http2: 'http2Route',
  grpc: 'grpcRoute',
  tcp: 'tcpRoute',
} as const;

function objectName(r: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return `${r.kind} ${r.metadata.namespace ? `${r.metadata.namespace}/` : ''}${r.metadata.name}`;
}

function isHttpLike(p: PortProtocol): p is 'http' | 'http2' | 'grpc' {
  return p !== 'tcp';
}

function alpnFor(p: PortProtocol): string[] {
  return p === 'http2' || p === 'grpc' ? ['h2'] : p === 'http' ? ['http/1.1'] : [];
}

/** A virtual host of an outbound route configuration. */
interface EgressVirtualHost {
  virtualService: string;
  port: number;
  routes: readonly JsonObject[];
}

/** Outbound plan for one backend port: HTTP virtual hosts or one TCP target. */
interface EgressPort {
  protocol: PortProtocol;
  hosts: EgressVirtualHost[];
  tcp?: { target: JsonObject; idle?: string; owner: string };
}

/** A virtual router listener's routes as one caller needs them: its client policy, its name in issues. */
interface RouterRoutesCall {
  router: VirtualRouter;
  port: number;
  protocol: 'http' | 'http2' | 'grpc';
  policy: ClientPolicy | undefined;
  owner: string;
}

/** What {@link RouteMemo} keeps of a router's routes while they are being compiled. */
type Recording = { targets: RecordedTarget[]; issues: RouteIssue[]; seen: Set<string> };
type RouteIssue = RouterRoutesRecord['issues'][number];

/** State of one node's compilation. */
class NodeCompiler {
  readonly #state: TrackedState;
  readonly #nodeId: string;
  readonly #mesh: string;
  readonly #options: CompileOptions;
  readonly #clusters = new Map<string, JsonObject>();
  readonly #endpoints = new Map<string, JsonObject>();
  readonly #listeners: JsonObject[] = [];
  readonly #routeConfigs: JsonObject[] = [];
  readonly #issues: CompileIssue[] = [];
  readonly #egressPorts = new Map<number, EgressPort>();

  constructor(state: TrackedState, nodeId: string, mesh: string, options: CompileOptions) {
    this.#state = state;
    this.#nodeId = nodeId;
    this.#mesh = mesh;
    this.#options = options;
  }

  result(): Omit<NodeConfig, 'reads'> {
    return {
      nodeId: this.#nodeId,
      clusters: [...this.#clusters.values()],
      endpoints: [...this.#endpoints.values()],
      listeners: this.#listeners,
      routeConfigurations: this.#routeConfigs,
      issues: this.#issues,
    };
  }

  #issue(
    code: CompileIssueCode,
    message: string,
    object?: string,
    path?: string,
    severity?: 'error' | 'warning',
  ): void {
    const i: CompileIssue = {
      severity: severity ?? (code.startsWith('TM_WARN') ? 'warning' : 'error'),
      code,
      nodeId: this.#nodeId,
      message,
    };
    if (object !== undefined) i.object = object;
    if (path !== undefined) i.path = path;
    this.#issues.push(i);
  }

  /** An issue of a router's routes: raised for this node and kept in `recording` for the nodes that replay it. */
  #routeIssue(
    recording: Recording | undefined,
    code: CompileIssueCode,
    message: string,
    object: string,
    path: string,
  ): void {
    this.#issue(code, message, object, path);
    recording?.issues.push({ code, message, object, path, after: recording.targets.length });
  }

  get #connectTimeout(): string {
    return msToDuration(this.#options.connectTimeoutMs ?? 1000);
  }

  // ───────────── virtual node ─────────────

  compileVirtualNode(vn: VirtualNode): void {
    const vnName = vn.spec.awsName!;
    const listeners = vn.spec.listeners ?? [];
    if (listeners.length > 0) this.#ingress(vn, vnName, listeners);
    const defaults = vn.spec.backendDefaults?.clientPolicy;
    vn.spec.backends?.forEach((b, i) => {
      const vs = this.#state.resolveVirtualService(b.virtualService);
      if (!vs) {
        this.#issue(
          'TM_ERR_COMPILE_REFERENCE',
          'backend virtual service not found',
          objectName(vn),
          `spec.backends[${i}]`,
        );
        return;
      }
      this.#backend(vs, effectiveClientPolicy(b.virtualService.clientPolicy, defaults), objectName(vn));
    });
    for (const vs of this.#backendGroupServices(vn)) this.#backend(vs, defaults, objectName(vn));
    this.#egress(this.#egressPorts, vn.spec.logging, true);
  }

  /** Virtual services named through `backendGroups` (`name: "*"` = every VS of that namespace, §a.2). */
  #backendGroupServices(vn: VirtualNode): VirtualService[] {
    const out: VirtualService[] = [];
    for (const g of vn.spec.backendGroups ?? []) {
      const ns = g.namespace ?? vn.metadata.namespace;
      if (g.name === '*') {
        out.push(...this.#state.list('VirtualService').filter((vs) => vs.metadata.namespace === ns));
        continue;
      }
      const group = this.#state.get('BackendGroup', ns, g.name);
      for (const ref of group?.spec.virtualservices ?? []) {
        const vs = this.#state.get('VirtualService', ref.namespace ?? ns, ref.name);
        if (vs) out.push(vs);
      }
    }
    return out;
  }

  /** Inbound listener `lds_ingress_0.0.0.0_15000`: one filter chain set per listener port (§c.3). */
  #ingress(vn: VirtualNode, vnName: string, listeners: VnListener[]): void {
    const chains: JsonObject[] = [];
    let inspect = false;
    listeners.forEach((l, i) => {
      const { port, protocol } = l.portMapping;
      const cluster = ingressClusterName(this.#mesh, vnName, protocol, port);
      this.#clusters.set(cluster, this.#ingressCluster(cluster, l));
      const filters = [this.#ingressFilter(vn, l, cluster)];
      const base = `ingress_${protocol}_${port}`;
      const tls = l.tls;
      if (!tls || tls.mode === 'DISABLED') {
        chains.push({ name: base, filter_chain_match: { destination_port: port }, filters });
        return;
      }
      if (tls.certificate.acm) {
        this.#issue(
          'TM_ERR_COMPILE_UNSUPPORTED',
          `listener ${protocol}/${port}: ACM certificates exist only in AWS; the port gets no filter chain`,
          objectName(vn),
          `spec.listeners[${i}].tls.certificate.acm`,
        );
        return;
      }
      const socket = tlsTransportSocket(
        downstreamTlsContext(tls, isHttpLike(protocol) ? ['h2', 'http/1.1'] : []),
      );
      if (tls.mode === 'STRICT') {
        chains.push({
          name: base,
          filter_chain_match: { destination_port: port },
          filters,
          transport_socket: socket,
        });
      } else {
        inspect = true;
        chains.push({
          name: `${base}_tls`,
          filter_chain_match: { destination_port: port, transport_protocol: 'tls' },
          filters,
          transport_socket: socket,
        });
        chains.push({
          name: `${base}_plaintext`,
          filter_chain_match: { destination_port: port, transport_protocol: 'raw_buffer' },
          filters,
        });
      }
    });
    if (chains.length === 0) return;
    this.#listeners.push({
      '@type': T.listener,
      name: ingressListenerName(INGRESS_PORT),
      address: socketAddress('0.0.0.0', INGRESS_PORT),
      listener_filters: inspect ? [originalDstFilter(), tlsInspectorFilter()] : [originalDstFilter()],
      filter_chains: chains,
    });
  }

  #ingressFilter(vn: VirtualNode, l: VnListener, cluster: string): JsonObject {
    const { port, protocol } = l.portMapping;
    const log = accessLogs(vn.spec.logging);
    if (protocol === 'tcp') {
      const idle = l.timeout?.tcp?.idle;
      return tcpProxy(`ingress_tcp_${port}`, { cluster }, idle ? appMeshDuration(idle) : undefined, log);
    }
    const t = l.timeout?.[protocol];
    const route: JsonObject = {
      cluster,
      timeout: t?.perRequest ? appMeshDuration(t.perRequest) : msToDuration(DEFAULT_PER_REQUEST_TIMEOUT_MS),
    };
    if (t?.idle) route.idle_timeout = appMeshDuration(t.idle);
    return httpConnectionManager({
      statPrefix: `ingress_${protocol}_${port}`,
      routeConfig: {
        name: `rds_ingress_${protocol}_${port}`,
        virtual_hosts: [
          {
            name: `ingress_${protocol}_${port}`,
            domains: ['*'],
            routes: [{ match: { prefix: '/' }, route }],
          },
        ],
      },
      accessLog: log,
    });
  }

  /** Local app cluster: STATIC 127.0.0.1:<port>; the listener's connection pool becomes its circuit breakers. */
  #ingressCluster(name: string, l: VnListener): JsonObject {
    const { port, protocol } = l.portMapping;
    const pool = l.connectionPool;
    const cluster: JsonObject = {
      '@type': T.cluster,
      name,
      type: 'STATIC',
      connect_timeout: this.#connectTimeout,
      load_assignment: {
        cluster_name: name,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress('127.0.0.1', port) } }] }],
      },
      circuit_breakers: circuitBreakers({
        maxConnections: pool?.tcp?.maxConnections ?? pool?.http?.maxConnections,
        maxPendingRequests: pool?.http?.maxPendingRequests,
        maxRequests: pool?.http2?.maxRequests ?? pool?.grpc?.maxRequests,
      }),
    };
    if (protocol === 'http2' || protocol === 'grpc')
      cluster.typed_extension_protocol_options = http2ProtocolOptions();
    return cluster;
  }

  // ───────────── backends and outbound ─────────────

  /** Plans the outbound virtual hosts / TCP targets of one backend virtual service. */
  #backend(vs: VirtualService, policy: ClientPolicy | undefined, owner: string): void {
    const vsName = vs.spec.awsName!;
    const provider = vs.spec.provider;
    if (provider?.virtualNode) {
      const target = this.#state.resolveVirtualNode(provider.virtualNode);
      if (!target) {
        this.#issue(
          'TM_ERR_COMPILE_REFERENCE',
          `provider of ${vsName} not found`,
          objectName(vs),
          'spec.provider.virtualNode',
        );
        return;
      }
      for (const l of target.spec.listeners ?? []) {
        const cluster = this.#egressCluster(target, l, policy, owner);
        if (!cluster) continue;
        const { port, protocol } = l.portMapping;
        if (protocol === 'tcp') this.#addTcp(port, vsName, { cluster }, l.timeout?.tcp?.idle);
        else
          this.#addHost(port, protocol, {
            virtualService: vsName,
            port,
            routes: [
              {
                match: { prefix: '/' },
                route: {
                  cluster,
                  ...this.#httpTimeouts(l, undefined),
                  retry_policy: retryPolicy(protocol === 'grpc' ? 'grpc' : 'http', undefined),
                },
              },
            ],
          });
      }
      return;
    }
    if (provider?.virtualRouter) {
      const router = this.#state.resolveVirtualRouter(provider.virtualRouter);
      if (!router) {
        this.#issue(
          'TM_ERR_COMPILE_REFERENCE',
          `provider of ${vsName} not found`,
          objectName(vs),
          'spec.provider.virtualRouter',
        );
        return;
      }
      for (const rl of router.spec.listeners) {
        const { port, protocol } = rl.portMapping;
        if (protocol === 'tcp') {
          const target = this.#routerTcpTarget(router, port, policy, owner);
          if (target) this.#addTcp(port, vsName, target.spec, target.idle);
        } else {
          this.#addHost(port, protocol, {
            virtualService: vsName,
            port,
            routes: this.#routerRoutes({ router, port, protocol, policy, owner }),
          });
        }
      }
      return;
    }
    this.#issue(
      'TM_WARN_COMPILE_SEMANTICS',
      `virtual service ${vsName} has no provider: no route to it`,
      objectName(vs),
      'spec.provider',
    );
  }

  #addHost(port: number, protocol: PortProtocol, host: EgressVirtualHost): void {
    const p = this.#egressPorts.get(port);
    if (!p) {
      this.#egressPorts.set(port, { protocol, hosts: [host] });
      return;
    }
    if (p.tcp) {
      this.#issue(
        'TM_ERR_COMPILE_CONFLICT',
        `port ${port} is TCP for ${p.tcp.owner} and ${protocol} for ${host.virtualService}; ${host.virtualService} is left out`,
      );
      return;
    }
    if (!p.hosts.some((h) => h.virtualService === host.virtualService && h.port === host.port))
      p.hosts.push(host);
  }

  #addTcp(
    port: number,
    vsName: string,
    target: { cluster: string } | { weighted_clusters: JsonObject },
    idle: { unit: 's' | 'ms'; value: number } | undefined,
  ): void {
    const p = this.#egressPorts.get(port);
    const plan = {
      target: target as JsonObject,
      owner: vsName,
      ...(idle ? { idle: appMeshDuration(idle) } : {}),
    };
    if (!p) {
      this.#egressPorts.set(port, { protocol: 'tcp', hosts: [], tcp: plan });
      return;
    }
    if (p.tcp?.owner === vsName) return;
    const other = p.tcp?.owner ?? p.hosts[0]?.virtualService;
    this.#issue(
      'TM_ERR_COMPILE_CONFLICT',
      `port ${port} is already used by ${other}; a TCP backend on a shared port cannot be told apart, ${vsName} is left out`,
    );
  }

  /**
   * `timeout` / `idle_timeout` of an outbound route: the route's own timeout, else (for a virtual service
   * provided directly by a node, which has no route) the target listener's, else App Mesh's 15 s default.
   */
  #httpTimeouts(
    target: VnListener | undefined,
    route:
      | { perRequest?: { unit: 's' | 'ms'; value: number }; idle?: { unit: 's' | 'ms'; value: number } }
      | undefined,
  ): JsonObject {
    const protocol = target?.portMapping.protocol;
    const lt = protocol === undefined || protocol === 'tcp' ? undefined : target?.timeout?.[protocol];
    const per = route?.perRequest ?? lt?.perRequest;
    const idle = route?.idle ?? lt?.idle;
    const out: JsonObject = {
      timeout: per ? appMeshDuration(per) : msToDuration(DEFAULT_PER_REQUEST_TIMEOUT_MS),
    };
    if (idle) out.idle_timeout = appMeshDuration(idle);
    return out;
  }

  /**
   * Envoy routes of a virtual router's HTTP/HTTP2/gRPC listener on `port`, in App Mesh order: replayed
   * from `options.memo` when another node compiled them from the same objects, else compiled (and
   * recorded when every target's cluster could be built).
   */
  #routerRoutes(call: RouterRoutesCall): readonly JsonObject[] {
    const { router, port, protocol, policy, owner } = call;
    const memo = this.#options.memo;
    if (!memo) return this.#compileRouterRoutes(call);
    const key = `${this.#mesh}\0${port}\0${protocol}`;
    const record = memo.get(router, key);
    if (record) {
      const mark = {
        issues: this.#issues.length,
        clusters: this.#clusters.size,
        endpoints: this.#endpoints.size,
      };
      if (this.#replay(record, policy, owner)) return record.routes;
      // A failed replay leaves no trace: the compile below builds its clusters again and raises their
      // issues. Dropping only the issues lost them: a cluster the replay built (e.g. one without
      // endpoints, an issue) is taken as built by the compile, which then raised nothing for it.
      this.#issues.length = mark.issues;
      truncateMap(this.#clusters, mark.clusters);
      truncateMap(this.#endpoints, mark.endpoints);
    }
    const recording: Recording = { targets: [], issues: [], seen: new Set() };
    const routes = this.#compileRouterRoutes(call, recording);
    const { targets, issues } = recording;
    if (!targets.some((t) => t.refused)) memo.set(router, key, { targets, issues, routes });
    return routes;
  }

  /**
   * Resolves a record's targets for this node, building their clusters with this node's `policy`, and
   * raises the record's issues among their cluster issues in the order the compile raised them.
   * False when a target resolves differently or its cluster cannot be built: the routes are then
   * compiled afresh (the reads this replay added are a subset of what that compile adds).
   */
  #replay(record: RouterRoutesRecord, policy: ClientPolicy | undefined, owner: string): boolean {
    let next = 0;
    for (const [k, t] of record.targets.entries()) {
      const vn = this.#state.resolveVirtualNode(t.ref);
      if (vn !== t.vn) return false;
      if (vn && t.cluster && this.#egressCluster(vn, t.cluster.listener, policy, owner) !== t.cluster.name)
        return false;
      while (next < record.issues.length && record.issues[next]!.after <= k + 1) {
        const i = record.issues[next++]!;
        this.#issue(i.code, i.message, i.object, i.path);
      }
    }
    return true;
  }

  #compileRouterRoutes(call: RouterRoutesCall, recording?: Recording): JsonObject[] {
    const { router, port, protocol, policy, owner } = call;
    const type = routeTypeOfProtocol[protocol];
    const out: JsonObject[] = [];
    const routes = (router.spec.routes ?? []).map((r, index) => ({ r, index, priority: r.priority }));
    for (const { r, index } of orderRoutes(routes)) {
      const spec = r[type];
      if (!spec) continue;
      if (spec.match.port !== undefined && spec.match.port !== 0 && spec.match.port !== port) continue;
      const targets = this.#weightedClusters(router, r, index, type, protocol, policy, owner, recording);
      const specifier = clusterSpecifier(targets.clusters);
      // No resolvable target: already reported per target.
      if (targets.clusters.length === 0) continue;
      if (!specifier) {
        this.#routeIssue(
          recording,
          'TM_WARN_COMPILE_SEMANTICS',
          `route ${r.name} has no target with a weight above 0; it is left out`,
          objectName(router),
          `spec.routes[${index}]`,
        );
        continue;
      }
      const match =
        type === 'grpcRoute'
          ? grpcRouteMatch(r.grpcRoute!.match)
          : httpRouteMatch(r[type as 'httpRoute']!.match);
      const retry = retryPolicy(protocol === 'grpc' ? 'grpc' : 'http', spec.retryPolicy);
      out.push({
        name: r.name,
        match,
        route: { ...specifier, ...this.#httpTimeouts(undefined, spec.timeout), retry_policy: retry },
      });
    }
    return out;
  }

  #routerTcpTarget(router: VirtualRouter, port: number, policy: ClientPolicy | undefined, owner: string) {
    const routes = (router.spec.routes ?? []).map((r, index) => ({ r, index, priority: r.priority }));
    for (const { r, index } of orderRoutes(routes)) {
      const spec = r.tcpRoute;
      if (!spec) continue;
      if (spec.match?.port !== undefined && spec.match.port !== 0 && spec.match.port !== port) continue;
      const targets = this.#weightedClusters(router, r, index, 'tcpRoute', 'tcp', policy, owner);
      const specifier = clusterSpecifier(targets.clusters);
      if (!specifier) continue;
      const weighted = specifier.weighted_clusters as JsonObject | undefined;
      return {
        spec: weighted ? { weighted_clusters: weighted } : { cluster: specifier.cluster as string },
        idle: spec.timeout?.idle,
      };
    }
    return undefined;
  }

  /** Clusters (with weights) of a route's weighted targets; unresolvable targets are reported and skipped. */
  #weightedClusters(
    router: VirtualRouter,
    r: Route,
    index: number,
    type: 'httpRoute' | 'http2Route' | 'grpcRoute' | 'tcpRoute',
    protocol: PortProtocol,
    policy: ClientPolicy | undefined,
    owner: string,
    recording?: Recording,
  ): { clusters: WeightedCluster[]; listener?: VnListener } {
    const clusters: WeightedCluster[] = [];
    let first: VnListener | undefined;
    r[type]!.action.weightedTargets.forEach((t, j) => {
      const path = `spec.routes[${index}].${type}.action.weightedTargets[${j}]`;
      const vn = this.#state.resolveVirtualNode(t);
      const recorded: RecordedTarget = { ref: t, vn };
      // Routes repeat targets: a replay resolves each distinct (reference, port) once.
      const seenKey = `${t.virtualNodeRef?.namespace ?? ''}/${t.virtualNodeRef?.name ?? ''}|${t.virtualNodeARN ?? ''}|${t.port ?? ''}`;
      if (recording && !recording.seen.has(seenKey)) {
        recording.seen.add(seenKey);
        recording.targets.push(recorded);
      }
      if (!vn) {
        this.#routeIssue(
          recording,
          'TM_ERR_COMPILE_REFERENCE',
          `route ${r.name}: target virtual node not found`,
          objectName(router),
          path,
        );
        return;
      }
      const listener = (vn.spec.listeners ?? []).find(
        (l) => (t.port === undefined || l.portMapping.port === t.port) && l.portMapping.protocol === protocol,
      );
      if (!listener) {
        this.#routeIssue(
          recording,
          'TM_ERR_COMPILE_REFERENCE',
          `route ${r.name}: ${objectName(vn)} has no ${protocol} listener${t.port ? ` on port ${t.port}` : ''}`,
          objectName(router),
          path,
        );
        return;
      }
      const cluster = this.#egressCluster(vn, listener, policy, owner);
      if (!cluster) {
        recorded.refused = true;
        return;
      }
      recorded.cluster = { listener, name: cluster };
      first ??= listener;
      clusters.push({ cluster, weight: t.weight });
    });
    return first ? { clusters, listener: first } : { clusters };
  }

  /**
   * Adds (once) the egress cluster of `target`'s listener with the TLS §a.3 decides, health checks and
   * outlier detection from the target listener, and its endpoints. Returns its name, or undefined when
   * TLS cannot be honoured (the cluster is then left out: traffic fails closed).
   */
  #egressCluster(
    target: VirtualNode,
    l: VnListener,
    policy: ClientPolicy | undefined,
    owner: string,
  ): string | undefined {
    const { port, protocol } = l.portMapping;
    const name = egressClusterName(this.#mesh, target.spec.awsName!, protocol, port);
    if (this.#clusters.has(name)) return name;
    const discovery = target.spec.serviceDiscovery;
    const discoveryName =
      discovery?.dns?.hostname ??
      (discovery?.awsCloudMap
        ? `${discovery.awsCloudMap.serviceName}.${discovery.awsCloudMap.namespaceName}`
        : undefined);
    const decision = decideUpstreamTls(policy, { port, tls: l.tls, discoveryName });
    if (decision.mode === 'unsupported') {
      this.#issue(
        'TM_ERR_COMPILE_UNSUPPORTED',
        `${name}: ${decision.reason}; the cluster is left out`,
        owner,
      );
      return undefined;
    }
    const cluster: JsonObject = { '@type': T.cluster, name, connect_timeout: this.#connectTimeout };
    const resolved = this.#options.endpointResolver?.resolve(target, { port, protocol });
    const lbEndpoint = (address: string, p: number): JsonObject => {
      const endpoint: JsonObject = { address: socketAddress(address, p) };
      if (l.healthCheck?.port !== undefined)
        endpoint.health_check_config = { port_value: l.healthCheck.port };
      return { endpoint };
    };
    if (resolved) {
      cluster.type = 'EDS';
      cluster.eds_cluster_config = { eds_config: adsConfigSource() };
      this.#endpoints.set(name, {
        '@type': T.clusterLoadAssignment,
        cluster_name: name,
        endpoints: [
          {
            locality: {},
            load_balancing_weight: 1,
            lb_endpoints: resolved.map((e) => lbEndpoint(e.address, e.port)),
          },
        ],
      });
    } else if (discovery?.dns) {
      cluster.type = discovery.dns.responseType === 'LOADBALANCER' ? 'LOGICAL_DNS' : 'STRICT_DNS';
      cluster.load_assignment = {
        cluster_name: name,
        endpoints: [{ lb_endpoints: [lbEndpoint(discovery.dns.hostname, port)] }],
      };
      if (discovery.dns.ipPreference === 'IPv4_ONLY') cluster.dns_lookup_family = 'V4_ONLY';
      else if (discovery.dns.ipPreference === 'IPv6_ONLY') cluster.dns_lookup_family = 'V6_ONLY';
      else if (discovery.dns.ipPreference === 'IPv4_PREFERRED') cluster.dns_lookup_family = 'V4_PREFERRED';
    } else {
      this.#issue(
        'TM_ERR_COMPILE_UNSUPPORTED',
        `${name}: ${objectName(target)} has no DNS service discovery and no endpoint resolver knows it; the cluster has no endpoints`,
        owner,
      );
      cluster.type = 'EDS';
      cluster.eds_cluster_config = { eds_config: adsConfigSource() };
      this.#endpoints.set(name, { '@type': T.clusterLoadAssignment, cluster_name: name });
    }
    cluster.circuit_breakers = circuitBreakers({});
    if (protocol === 'http2' || protocol === 'grpc')
      cluster.typed_extension_protocol_options = http2ProtocolOptions();
    if (l.healthCheck) cluster.health_checks = [healthCheck(l.healthCheck)];
    if (l.outlierDetection) {
      const o = l.outlierDetection;
      cluster.outlier_detection = {
        consecutive_5xx: o.maxServerErrors,
        interval: appMeshDuration(o.interval),
        base_ejection_time: appMeshDuration(o.baseEjectionDuration),
        max_ejection_percent: o.maxEjectionPercent,
      };
    }
    if (decision.mode !== 'plaintext')
      cluster.transport_socket = tlsTransportSocket(
        upstreamTlsContext(decision, alpnFor(protocol), discoveryName),
      );
    this.#clusters.set(name, cluster);
    return name;
  }

  /**
   * Outbound listener `lds_egress_0.0.0.0_15001` (original destination): a filter chain per backend
   * port (HTTP: HCM routing on Host/:authority via `rds_egress_http_<port>`; TCP: tcp_proxy); with the
   * mesh's egress filter ALLOW_ALL a `*` virtual host and a default chain pass everything else to the
   * original destination; DROP_ALL (the default) drops it. `byPort` false: one HTTP chain for all
   * (a gateway's self-redirect target, reached directly on 15001).
   */
  #egress(ports: Map<number, EgressPort>, logging: VirtualNode['spec']['logging'], byPort: boolean): void {
    const meshObj = this.#state.meshByAwsName(this.#mesh);
    const allowAll = byPort && meshObj?.spec.egressFilter?.type === 'ALLOW_ALL';
    const passthrough = passthroughClusterName(this.#mesh);
    const log = accessLogs(logging);
    const chains: JsonObject[] = [];
    const sorted = [...ports].sort(([a], [b]) => a - b);
    for (const [port, plan] of sorted) {
      if (plan.tcp) {
        chains.push({
          name: `egress_tcp_${port}`,
          filter_chain_match: { destination_port: port },
          filters: [
            tcpProxy(`egress_tcp_${port}`, plan.tcp.target as { cluster: string }, plan.tcp.idle, log),
          ],
        });
        continue;
      }
      const routeName = egressRouteName(byPort ? port : EGRESS_PORT);
      if (byPort) {
        this.#routeConfigs.push(
          this.#egressRouteConfig(routeName, plan.hosts, allowAll ? passthrough : undefined),
        );
        chains.push({
          name: `egress_http_${port}`,
          filter_chain_match: { destination_port: port },
          filters: [
            httpConnectionManager({ statPrefix: `egress_http_${port}`, rds: routeName, accessLog: log }),
          ],
        });
        if (this.#options.apiListeners) for (const h of plan.hosts) this.#apiListener(h, routeName);
      }
    }
    if (!byPort) {
      const hosts = sorted.flatMap(([, p]) => p.hosts);
      if (hosts.length === 0) return;
      const routeName = egressRouteName(EGRESS_PORT);
      this.#routeConfigs.push(this.#egressRouteConfig(routeName, hosts, undefined));
      chains.push({
        name: 'egress_http',
        filters: [httpConnectionManager({ statPrefix: 'egress_http', rds: routeName, accessLog: log })],
      });
    }
    const listener: JsonObject = {
      '@type': T.listener,
      name: egressListenerName(),
      address: socketAddress('0.0.0.0', EGRESS_PORT),
    };
    if (byPort) listener.listener_filters = [originalDstFilter()];
    if (chains.length > 0) listener.filter_chains = chains;
    if (allowAll) {
      this.#clusters.set(passthrough, {
        '@type': T.cluster,
        name: passthrough,
        type: 'ORIGINAL_DST',
        lb_policy: 'CLUSTER_PROVIDED',
        connect_timeout: this.#connectTimeout,
      });
      listener.default_filter_chain = {
        name: 'egress_allow_all',
        filters: [tcpProxy('egress_allow_all', { cluster: passthrough }, undefined, log)],
      };
    }
    // DROP_ALL with no backend: no chain at all; the listener is left out and connections are refused.
    if (chains.length > 0 || allowAll) this.#listeners.push(listener);
  }

  #egressRouteConfig(name: string, hosts: EgressVirtualHost[], passthrough: string | undefined): JsonObject {
    const seen = new Set<string>();
    const virtualHosts: JsonObject[] = [];
    for (const h of hosts) {
      // The bare name belongs to the first port seen; Envoy rejects a domain twice in one route config.
      const domains = [h.virtualService, `${h.virtualService}:${h.port}`].filter((d) => !seen.has(d));
      domains.forEach((d) => seen.add(d));
      if (domains.length === 0) continue;
      // `routes` may be frozen and shared with other nodes (RouteMemo): the config is only read from here on.
      virtualHosts.push({ name: `${h.virtualService}_${h.port}`, domains, routes: h.routes as JsonObject[] });
    }
    if (passthrough)
      virtualHosts.push({
        name: 'allow_all',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster: passthrough } }],
      });
    const config: JsonObject = { '@type': T.routeConfiguration, name };
    if (virtualHosts.length > 0) config.virtual_hosts = virtualHosts;
    // Frozen around the shared routes, it is encoded from their cached encodings (xds codec).
    if (this.#options.memo) deepFreeze(config);
    return config;
  }

  /** gRPC API listener `<virtual service>:<port>` for proxyless clients, sharing the outbound routes. */
  #apiListener(host: EgressVirtualHost, routeName: string): void {
    this.#listeners.push({
      '@type': T.listener,
      name: `${host.virtualService}:${host.port}`,
      api_listener: {
        api_listener: {
          '@type': T.hcm,
          stat_prefix: `${host.virtualService}:${host.port}`,
          rds: { config_source: adsConfigSource(), route_config_name: routeName },
          http_filters: [routerFilter()],
        },
      },
    });
  }

  // ───────────── virtual gateway ─────────────

  /**
   * A gateway: per VG listener an inbound listener `lds_ingress_0.0.0.0_<port>` whose routes
   * (`rds_ingress_<protocol>_<port>`) are the attached gateway routes in priority order. Targets provided
   * by a virtual node are routed directly; targets provided by a virtual router go through the
   * self-redirect cluster to the gateway's own outbound listener, which applies the router's routes.
   * Prefix rewrite to `/` and Host rewrite to the virtual service name are on by default (§a.6).
   */
  compileVirtualGateway(vg: VirtualGateway): void {
    const policy = vg.spec.backendDefaults?.clientPolicy;
    const routes = this.#state
      .list('GatewayRoute')
      .filter(
        (gr) =>
          gr.spec.virtualGatewayRef?.name === vg.metadata.name &&
          gr.spec.virtualGatewayRef?.namespace === vg.metadata.namespace,
      );
    const routedViaRouter = new Map<string, VirtualService>();
    (vg.spec.listeners ?? []).forEach((l, i) => {
      const { port, protocol } = l.portMapping;
      const type = routeTypeOfProtocol[protocol] as 'httpRoute' | 'http2Route' | 'grpcRoute';
      const candidates = routes
        .filter(
          (gr) =>
            gr.spec[type] && (gr.spec[type]!.match.port === undefined || gr.spec[type]!.match.port === port),
        )
        .map((gr) => ({
          gr,
          priority: gr.spec.priority,
          prefixLength: (gr.spec.httpRoute ?? gr.spec.http2Route)?.match.prefix?.length ?? 0,
        }));
      const envoyRoutes: JsonObject[] = [];
      for (const { gr } of orderGatewayRoutes(candidates)) {
        const r = this.#gatewayRoute(vg, gr, type, protocol, port, policy, routedViaRouter);
        if (r) envoyRoutes.push(r);
      }
      const routeName = gatewayRouteConfigName(protocol, port);
      const config: JsonObject = { '@type': T.routeConfiguration, name: routeName };
      if (envoyRoutes.length > 0)
        config.virtual_hosts = [{ name: `gateway_${protocol}_${port}`, domains: ['*'], routes: envoyRoutes }];
      this.#routeConfigs.push(config);
      this.#gatewayListener(vg, l, i, routeName);
    });
    for (const vs of routedViaRouter.values()) this.#backend(vs, policy, objectName(vg));
    this.#egress(this.#egressPorts, vg.spec.logging, false);
  }

  #gatewayListener(vg: VirtualGateway, l: VirtualGatewayListener, index: number, routeName: string): void {
    const { port, protocol } = l.portMapping;
    const filters = [
      httpConnectionManager({
        statPrefix: `ingress_${protocol}_${port}`,
        rds: routeName,
        accessLog: accessLogs(vg.spec.logging),
      }),
    ];
    const base = `ingress_${protocol}_${port}`;
    const listener: JsonObject = {
      '@type': T.listener,
      name: ingressListenerName(port),
      address: socketAddress('0.0.0.0', port),
    };
    const tls = l.tls;
    if (!tls || tls.mode === 'DISABLED') listener.filter_chains = [{ name: base, filters }];
    else if (tls.certificate.acm) {
      this.#issue(
        'TM_ERR_COMPILE_UNSUPPORTED',
        `listener ${protocol}/${port}: ACM certificates exist only in AWS; the listener is left out`,
        objectName(vg),
        `spec.listeners[${index}].tls.certificate.acm`,
      );
      return;
    } else {
      const socket = tlsTransportSocket(downstreamTlsContext(tls, ['h2', 'http/1.1']));
      if (tls.mode === 'STRICT') listener.filter_chains = [{ name: base, filters, transport_socket: socket }];
      else {
        listener.listener_filters = [tlsInspectorFilter()];
        listener.filter_chains = [
          {
            name: `${base}_tls`,
            filter_chain_match: { transport_protocol: 'tls' },
            filters,
            transport_socket: socket,
          },
          { name: `${base}_plaintext`, filter_chain_match: { transport_protocol: 'raw_buffer' }, filters },
        ];
      }
    }
    this.#listeners.push(listener);
  }

  #gatewayRoute(
    vg: VirtualGateway,
    gr: GatewayRoute,
    type: 'httpRoute' | 'http2Route' | 'grpcRoute',
    protocol: 'http' | 'http2' | 'grpc',
    port: number,
    policy: ClientPolicy | undefined,
    viaRouter: Map<string, VirtualService>,
  ): JsonObject | undefined {
    const spec = gr.spec[type]!;
    const path = `spec.${type}.action.target`;
    const vs = this.#state.resolveVirtualService(spec.action.target.virtualService);
    if (!vs) {
      this.#issue(
        'TM_ERR_COMPILE_REFERENCE',
        'gateway route target virtual service not found',
        objectName(gr),
        path,
      );
      return undefined;
    }
    const vsName = vs.spec.awsName!;
    let match: JsonObject;
    const action: JsonObject = {};
    if (type === 'grpcRoute') {
      const m = gr.spec.grpcRoute!.match;
      match = { prefix: m.serviceName !== undefined ? `/${m.serviceName}/` : '/' };
      const headers = (m.metadata ?? []).map((h) => headerMatcher(h.name, h.match, h.invert));
      if (m.hostname) headers.push(authorityMatcher(m.hostname));
      if (headers.length > 0) match.headers = headers;
      if (gr.spec.grpcRoute!.action.rewrite?.hostname?.defaultTargetHostname !== 'DISABLED')
        action.host_rewrite_literal = vsName;
    } else {
      const http = gr.spec[type]!;
      const m = (http as NonNullable<GatewayRoute['spec']['httpRoute']>).match;
      match = gatewayHttpRouteMatch(m);
      const rewrite = (http as NonNullable<GatewayRoute['spec']['httpRoute']>).action.rewrite;
      if (rewrite?.path?.exact !== undefined)
        action.regex_rewrite = { pattern: { regex: '.*' }, substitution: rewrite.path.exact };
      else if (m.prefix !== undefined) {
        if (rewrite?.prefix?.value !== undefined) action.prefix_rewrite = rewrite.prefix.value;
        else if (rewrite?.prefix?.defaultPrefix !== 'DISABLED') action.prefix_rewrite = '/';
      }
      if (rewrite?.hostname?.defaultTargetHostname !== 'DISABLED') action.host_rewrite_literal = vsName;
    }
    const provider = vs.spec.provider;
    if (provider?.virtualNode) {
      const vn = this.#state.resolveVirtualNode(provider.virtualNode);
      const listener = vn?.spec.listeners?.find(
        (l) =>
          (spec.action.target.port === undefined || l.portMapping.port === spec.action.target.port) &&
          l.portMapping.protocol === protocol,
      );
      if (!vn || !listener) {
        this.#issue(
          'TM_ERR_COMPILE_REFERENCE',
          `${vsName}: no provider virtual node with a ${protocol} listener`,
          objectName(gr),
          path,
        );
        return undefined;
      }
      const cluster = this.#egressCluster(vn, listener, policy, objectName(vg));
      if (!cluster) return undefined;
      return {
        name: gr.spec.awsName ?? gr.metadata.name,
        match,
        route: {
          cluster,
          ...action,
          ...this.#httpTimeouts(listener, undefined),
          retry_policy: retryPolicy(protocol === 'grpc' ? 'grpc' : 'http', undefined),
        },
      };
    }
    if (provider?.virtualRouter) {
      if (action.host_rewrite_literal === undefined) {
        this.#issue(
          'TM_WARN_COMPILE_SEMANTICS',
          `${vsName} is routed by a virtual router, which selects routes by Host: the Host is rewritten to it despite defaultTargetHostname DISABLED`,
          objectName(gr),
          `spec.${type}.action.rewrite.hostname`,
        );
        action.host_rewrite_literal = vsName;
      }
      viaRouter.set(vsName, vs);
      const cluster = selfRedirectClusterName(this.#mesh, vg.spec.awsName!, protocol, port);
      if (!this.#clusters.has(cluster)) {
        const c: JsonObject = {
          '@type': T.cluster,
          name: cluster,
          type: 'STATIC',
          connect_timeout: this.#connectTimeout,
          load_assignment: {
            cluster_name: cluster,
            endpoints: [
              { lb_endpoints: [{ endpoint: { address: socketAddress('127.0.0.1', EGRESS_PORT) } }] },
            ],
          },
        };
        if (protocol !== 'http') c.typed_extension_protocol_options = http2ProtocolOptions();
        this.#clusters.set(cluster, c);
      }
      return {
        name: gr.spec.awsName ?? gr.metadata.name,
        match,
        route: { cluster, ...action, timeout: msToDuration(DEFAULT_PER_REQUEST_TIMEOUT_MS) },
      };
    }
    this.#issue(
      'TM_WARN_COMPILE_SEMANTICS',
      `${vsName} has no provider: gateway route left out`,
      objectName(gr),
      path,
    );
    return undefined;
  }
}

/** Deletes the entries of `map` added after it had `size` entries (Maps iterate in insertion order). */
function truncateMap(map: Map<string, unknown>, size: number): void {
  let i = 0;
  for (const key of [...map.keys()]) if (i++ >= size) map.delete(key);
}

/** Envoy `HealthCheck` of an App Mesh listener health check (run by the client proxies, §a.2). */
export function healthCheck(
  h: HealthCheckPolicy | NonNullable<VirtualGatewayListener['healthCheck']>,
): JsonObject {
  const out: JsonObject = {
    timeout: msToDuration(h.timeoutMillis),
    interval: msToDuration(h.intervalMillis),
    unhealthy_threshold: h.unhealthyThreshold,
    healthy_threshold: h.healthyThreshold,
  };
  if (h.protocol === 'tcp') out.tcp_health_check = {};
  else if (h.protocol === 'grpc') out.grpc_health_check = {};
  else {
    const http: JsonObject = { path: h.path ?? '/' };
    if (h.protocol === 'http2') http.codec_client_type = 'HTTP2';
    out.http_health_check = http;
  }
  return out;
}
