/**
 * The sidecar proxy: owns the stats store, the secret store, clusters, route tables, listeners and
 * the admin endpoint, and applies configuration from a static bootstrap or from xDS (ADS) and SDS.
 *
 * Update order follows Envoy: clusters (CDS) and their endpoints (EDS) before listeners (LDS) and
 * routes (RDS). Every `apply*` validates the whole update first; an invalid update throws
 * ConfigError and leaves the last good config serving (the ADS client NACKs with the message).
 */
import type http from 'node:http';
import { ClusterManager } from './cluster.js';
import {
  inlineRouteConfigs,
  unknownRouteClusters,
  parseCluster,
  parseListener,
  parseLoadAssignment,
  parseRouteConfiguration,
  parseSecret,
  type BootstrapConfig,
  type ClusterConfig,
  type ListenerConfig,
} from './config.js';
import { ConfigError } from './errors.js';
import { ListenerManager } from './listener.js';
import { RouteTable } from './router.js';
import { SecretStore, certsDump } from './secrets.js';
import { Stats } from './stats.js';
import { startAdmin, boundPort, type AdminSource } from './admin.js';

/** Options of {@link Proxy.create}. */
export interface ProxyOptions {
  nodeId: string;
  nodeCluster?: string;
  /** Admin endpoint bind address (default 127.0.0.1) and port (default 9901; 0 = any free port). */
  adminAddress?: string;
  adminPort?: number;
  /** Proxy HTTP/1.1 connections at L4 when a route table has a single cluster and no
   * per-request feature (default true). */
  l4FastPath?: boolean;
  /** Clock in ms, injected for tests. */
  now?: () => number;
  /** Structured log sink; default writes JSON lines to stderr. */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/** A resource as last applied: its version and raw JSON (for /config_dump). */
interface Applied {
  version: string;
  raw: unknown;
}

/** One running proxy. */
export class Proxy implements AdminSource {
  readonly stats = new Stats();
  readonly secrets: SecretStore;
  readonly clusters: ClusterManager;
  readonly listeners: ListenerManager;
  readonly routes = new Map<string, RouteTable>();
  readonly options: ProxyOptions;
  readonly log: (msg: string, fields?: Record<string, unknown>) => void;
  #state: 'PRE_INITIALIZING' | 'INITIALIZING' | 'LIVE' = 'PRE_INITIALIZING';
  #admin: http.Server | undefined;
  readonly #startMs: number;
  readonly #applied = {
    listeners: new Map<string, Applied>(),
    clusters: new Map<string, Applied>(),
    routes: new Map<string, Applied>(),
    endpoints: new Map<string, Applied>(),
  };
  #bootstrapRaw: unknown = {};
  readonly #sdsWatchers = new Set<(names: string[]) => void>();
  readonly #now: () => number;

  private constructor(options: ProxyOptions) {
    this.options = options;
    this.#now = options.now ?? Date.now;
    this.log =
      options.log ??
      ((msg, fields) => process.stderr.write(JSON.stringify({ level: 'info', msg, ...fields }) + '\n'));
    this.secrets = new SecretStore({ now: this.#now });
    this.clusters = new ClusterManager({
      stats: this.stats,
      secrets: this.secrets,
      now: this.#now,
      log: this.log,
    });
    this.listeners = new ListenerManager({
      stats: this.stats,
      secrets: this.secrets,
      clusters: this.clusters,
      routes: (n) => this.routes.get(n),
      now: this.#now,
      l4FastPath: options.l4FastPath ?? true,
    });
    this.#startMs = this.#now();
    for (const n of [
      'listener_manager.lds.update_success',
      'listener_manager.lds.update_rejected',
      'cluster_manager.cds.update_success',
      'cluster_manager.cds.update_rejected',
    ])
      this.stats.counter(n);
    this.stats.gauge('control_plane.connected_state');
  }

  /** Creates a proxy and starts its admin endpoint. Close it with {@link close}. */
  static async create(options: ProxyOptions): Promise<Proxy> {
    const p = new Proxy(options);
    p.#admin = await startAdmin(p, options.adminAddress ?? '127.0.0.1', options.adminPort ?? 9901);
    p.#state = 'INITIALIZING';
    return p;
  }

  /** The admin endpoint's bound port. */
  get adminPort(): number {
    return this.#admin ? boundPort(this.#admin) : 0;
  }

  /** Marks the proxy initialized (`/ready` → 200 LIVE). */
  markLive(): void {
    this.#state = 'LIVE';
  }

  /** Calls `fn` with the full list of SDS secret names whenever it changes (for the SDS client). */
  onSdsNames(fn: (names: string[]) => void): void {
    this.#sdsWatchers.add(fn);
    fn(this.sdsNames());
  }

  /** Secret names the current listeners and clusters fetch over SDS. */
  sdsNames(): string[] {
    const names = new Set<string>();
    for (const c of this.clusters.all()) for (const n of c.config.tls?.sdsNames ?? []) names.add(n);
    for (const l of this.listeners.all())
      for (const fc of [
        ...l.config.filterChains,
        ...(l.config.defaultFilterChain ? [l.config.defaultFilterChain] : []),
      ])
        for (const n of fc.tls?.sdsNames ?? []) names.add(n);
    return [...names].sort();
  }

  #notifySds(): void {
    const names = this.sdsNames();
    for (const w of this.#sdsWatchers) w(names);
  }

  /** Applies a parsed static bootstrap: secrets, clusters, then listeners; marks LIVE. */
  async applyBootstrap(b: BootstrapConfig): Promise<void> {
    this.#bootstrapRaw = b.raw;
    for (const s of b.secrets) this.secrets.set(s, 'static');
    for (const c of b.clusters) this.clusters.addOrUpdate(c);
    await this.listeners.apply(b.listeners);
    this.#notifySds();
  }

  /** CDS state of the world: validates all clusters, then replaces the set. Throws ConfigError. */
  applyClusters(resources: unknown[], version: string): void {
    const parsed = this.#parseAll(
      resources,
      (r) => parseCluster(r),
      'cds',
      'cluster_manager.cds.update_rejected',
    );
    for (const c of parsed) this.clusters.addOrUpdate(c);
    this.clusters.retain(new Set(parsed.map((c: ClusterConfig) => c.name)));
    this.#record(
      this.#applied.clusters,
      parsed.map((c) => c.name),
      resources,
      version,
    );
    this.stats.counter('cluster_manager.cds.update_success').value++;
    this.#notifySds();
  }

  /** EDS: applies each ClusterLoadAssignment. Throws ConfigError. */
  applyEndpoints(resources: unknown[], version: string): void {
    const parsed = this.#parseAll(
      resources,
      (r) => parseLoadAssignment(r),
      'eds',
      'cluster_manager.cds.update_rejected',
    );
    for (const la of parsed) this.clusters.applyLoadAssignment(la);
    this.#record(
      this.#applied.endpoints,
      parsed.map((c) => c.clusterName),
      resources,
      version,
    );
  }

  /** RDS: adds or replaces route configurations by name. Throws ConfigError. */
  applyRoutes(resources: unknown[], version: string): void {
    const parsed = this.#parseAll(
      resources,
      (r) => parseRouteConfiguration(r),
      'rds',
      'http.rds.update_rejected',
    );
    const unknown = parsed.flatMap((rc) => unknownRouteClusters(rc, false, (c) => !!this.clusters.get(c)));
    if (unknown.length) {
      this.stats.counter('http.rds.update_rejected').value++;
      throw new ConfigError('rds', unknown);
    }
    for (const rc of parsed) this.routes.set(rc.name, new RouteTable(rc));
    this.#record(
      this.#applied.routes,
      parsed.map((c) => c.name),
      resources,
      version,
    );
  }

  /** LDS state of the world: validates all listeners, binds/updates them. Rejects with ConfigError
   * when a listener cannot be parsed or bound. */
  async applyListeners(resources: unknown[], version: string): Promise<void> {
    // API listeners configure proxyless gRPC clients, not a sidecar: Envoy ignores them too.
    resources = resources.filter((r) => {
      const o = r as Record<string, unknown>;
      return o.api_listener === undefined && o.apiListener === undefined;
    });
    const parsed: ListenerConfig[] = this.#parseAll(
      resources,
      (r) => parseListener(r),
      'lds',
      'listener_manager.lds.update_rejected',
    );
    // Inline route configs validate their clusters by default; CDS is applied before LDS (ADS order).
    const unknown = parsed.flatMap((l) =>
      inlineRouteConfigs(l).flatMap((rc) =>
        unknownRouteClusters(rc, true, (c) => !!this.clusters.get(c)).map(
          (m) => `listener ${JSON.stringify(l.name)}: ${m}`,
        ),
      ),
    );
    if (unknown.length) {
      this.stats.counter('listener_manager.lds.update_rejected').value++;
      throw new ConfigError('lds', unknown);
    }
    try {
      await this.listeners.apply(parsed);
    } catch (err) {
      this.stats.counter('listener_manager.lds.update_rejected').value++;
      throw new ConfigError('lds', [`bind failed: ${(err as Error).message}`]);
    }
    this.#record(
      this.#applied.listeners,
      parsed.map((c) => c.name),
      resources,
      version,
    );
    this.stats.counter('listener_manager.lds.update_success').value++;
    this.#notifySds();
  }

  /** SDS: stores a secret resource pushed by the agent. Throws ConfigError (NACK). */
  applySecret(resource: unknown, version: string): void {
    this.secrets.set(parseSecret(resource), version);
  }

  #parseAll<T>(resources: unknown[], parse: (r: unknown) => T, what: string, rejectStat: string): T[] {
    const problems: string[] = [];
    const out: T[] = [];
    for (const r of resources) {
      try {
        out.push(parse(r));
      } catch (err) {
        problems.push(err instanceof Error ? err.message : String(err));
      }
    }
    if (problems.length) {
      this.stats.counter(rejectStat).value++;
      throw new ConfigError(what, problems);
    }
    return out;
  }

  #record(map: Map<string, Applied>, names: string[], raws: unknown[], version: string): void {
    names.forEach((n, i) => map.set(n, { version, raw: raws[i] }));
  }

  // ---- AdminSource

  state(): 'PRE_INITIALIZING' | 'INITIALIZING' | 'LIVE' {
    return this.#state;
  }

  serverInfo(): Record<string, unknown> {
    const up = Math.floor((this.#now() - this.#startMs) / 1000);
    return {
      version: `trustmesh/0.1.0/node-${process.versions.node}/RELEASE/BoringSSL-compatible`,
      state: this.#state,
      hot_restart_version: 'disabled',
      command_line_options: {
        service_node: this.options.nodeId,
        service_cluster: this.options.nodeCluster ?? '',
      },
      node: {
        id: this.options.nodeId,
        cluster: this.options.nodeCluster ?? '',
        user_agent_name: 'trustmesh',
      },
      uptime_current_epoch: `${up}s`,
      uptime_all_epochs: `${up}s`,
    };
  }

  clustersText(): string {
    return (
      this.clusters
        .all()
        .flatMap((c) => c.adminLines())
        .join('\n') + '\n'
    );
  }

  clustersJson(): unknown {
    const now = this.#now();
    return {
      cluster_statuses: this.clusters.all().map((c) => ({
        name: c.config.name,
        added_via_api: c.config.type === 'EDS',
        host_statuses: c.hosts.map((h) => ({
          address: { socket_address: { address: h.address, port_value: h.port } },
          stats: [
            { name: 'cx_active', type: 'GAUGE', value: String(h.cxActive) },
            { name: 'rq_total', value: String(h.rqTotal) },
          ],
          health_status: {
            eds_health_status: h.edsUnhealthy ? 'UNHEALTHY' : 'HEALTHY',
            failed_active_health_check: h.failedActiveHc || undefined,
            failed_outlier_check: h.ejectedUntilMs > now || undefined,
          },
          weight: h.weight,
        })),
      })),
    };
  }

  certs(): unknown {
    return certsDump(this.secrets, this.#now());
  }

  statsText(filter?: RegExp): string {
    return this.stats.toText(filter);
  }

  statsJson(): unknown {
    return this.stats.toJson();
  }

  statsPrometheus(): string {
    return this.stats.toPrometheus();
  }

  configDump(): unknown {
    const dyn = (m: Map<string, Applied>, key: string): unknown[] =>
      [...m].map(([name, a]) => ({ name, version_info: a.version, [key]: a.raw }));
    return {
      configs: [
        { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: this.#bootstrapRaw },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
          dynamic_active_clusters: dyn(this.#applied.clusters, 'cluster'),
        },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
          dynamic_listeners: dyn(this.#applied.listeners, 'active_state'),
        },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
          dynamic_route_configs: dyn(this.#applied.routes, 'route_config'),
        },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
          dynamic_endpoint_configs: dyn(this.#applied.endpoints, 'endpoint_config'),
        },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
          dynamic_active_secrets: this.secrets.all().map((s) => ({
            name: s.secret.name,
            version_info: s.version,
            last_updated: new Date(s.lastUpdatedMs).toISOString(),
            secret: { name: s.secret.name, '@type': s.secret.kind },
          })),
        },
      ],
    };
  }

  listenersText(): string {
    return (
      this.listeners
        .all()
        .map((l) => l.adminLine())
        .join('\n') + '\n'
    );
  }

  listenersJson(): unknown {
    return {
      listener_statuses: this.listeners.all().map((l) => ({
        name: l.config.name,
        local_address: { socket_address: { address: l.config.address, port_value: l.port } },
      })),
    };
  }

  /** Closes listeners, clusters and the admin endpoint. */
  async close(): Promise<void> {
    await this.listeners.close();
    this.clusters.close();
    const admin = this.#admin;
    if (admin) await new Promise<void>((r) => admin.close(() => r()));
    admin?.closeAllConnections();
  }
}
