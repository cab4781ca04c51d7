/**
 * The identity server daemon: wires datastore, key manager, CA, node attestors, the domain service,
 * the agent API (gRPC/TLS), the admin API (unix socket), and the periodic work (CA rotation, server
 * SVID renewal, pruning of expired entries and join tokens), plus optional metrics and the
 * federation bundle endpoint.
 */
import type { Server as HttpServer } from 'node:http';
import type * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { startAdminApi } from './api/admin.js';
import { RotatingServerCredentials, startAgentApi } from './api/agent.js';
import { JoinTokenAttestor, K8sSatAttestor, type NodeAttestor } from './attestation/index.js';
import { CaManager, loadDiskUpstreamAuthority } from './ca/manager.js';
import { DiskKeyManager, MemoryKeyManager } from './ca/keymanager.js';
import type { ServerConfig } from './config/index.js';
import { openSqliteDataStore } from './datastore/sqlite.js';
import type { DataStore } from './datastore/types.js';
import { FederationManager } from './federation.js';
import { startMetrics, instrumentDataStore, type Metrics } from './metrics.js';
import { IdentityService } from './service.js';
import { ServerSvid } from './server-svid.js';

/** Options of {@link IdentityServer.start}. */
export interface IdentityServerOptions {
  config: ServerConfig;
  /** clock in ms since the epoch (default Date.now) */
  now?: () => number;
  logger?: Logger;
}

/** The running daemon. Stop it with {@link IdentityServer.close}. */
export class IdentityServer {
  readonly service: IdentityService;
  /** bound agent API port */
  readonly agentApiPort: number;
  readonly #log: Logger;
  readonly #store: DataStore;
  readonly #grpc: grpc.Server;
  readonly #admin: HttpServer;
  readonly #credentials: RotatingServerCredentials;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #metrics: Metrics | undefined;
  readonly #federation: FederationManager;
  readonly #svid: ServerSvid;

  private constructor(p: {
    service: IdentityService;
    port: number;
    log: Logger;
    store: DataStore;
    grpc: grpc.Server;
    admin: HttpServer;
    credentials: RotatingServerCredentials;
    svid: ServerSvid;
    metrics?: Metrics;
    federation: FederationManager;
  }) {
    this.service = p.service;
    this.agentApiPort = p.port;
    this.#log = p.log;
    this.#store = p.store;
    this.#grpc = p.grpc;
    this.#admin = p.admin;
    this.#credentials = p.credentials;
    this.#svid = p.svid;
    this.#metrics = p.metrics;
    this.#federation = p.federation;
  }

  /**
   * Starts everything; resolves when both APIs listen. Throws DataDirLockedError when another server
   * holds the data_dir, ConfigError for unusable plugin settings; nothing is left running on failure.
   */
  static async start(o: IdentityServerOptions): Promise<IdentityServer> {
    const cfg = o.config;
    const now = o.now ?? Date.now;
    const log =
      o.logger ?? pino({ level: cfg.logLevel, base: { component: 'identity-server' } }, pino.destination(2));
    const cleanups: (() => unknown)[] = [];
    try {
      const rawStore = openSqliteDataStore({ dataDir: cfg.dataDir, databasePath: cfg.databasePath });
      cleanups.push(() => rawStore.close());
      const metricsRegistry = cfg.metrics
        ? await import('prom-client').then((m) => new m.Registry())
        : undefined;
      const store = metricsRegistry ? instrumentDataStore(rawStore, metricsRegistry) : rawStore;
      const keyManager =
        cfg.keyManager.kind === 'disk' ? new DiskKeyManager(cfg.keyManager.keysPath) : new MemoryKeyManager();
      // The CA reports bundle changes to the service, which is built after the CA.
      const late: { service?: IdentityService } = {};
      const ca = new CaManager({
        trustDomain: cfg.trustDomain,
        caTtlSeconds: cfg.caTtlSeconds,
        caSubject: cfg.caSubject,
        keyManager,
        journal: store,
        bundles: store,
        upstream: cfg.upstreamAuthority ? loadDiskUpstreamAuthority(cfg.upstreamAuthority) : undefined,
        refreshHintSeconds: cfg.bundleEndpoint?.refreshHintSeconds,
        jwtIssuer: cfg.jwtIssuer,
        now,
        onBundleChanged: (sequence) => {
          log.info({ sequence }, 'bundle updated');
          late.service?.notifyChanged();
        },
      });
      await ca.init();
      if (cfg.ignoredKeys.length > 0)
        log.warn(
          { keys: cfg.ignoredKeys },
          'configuration keys not used by trustmesh are ignored (SPIRE would refuse unknown ones)',
        );
      if (cfg.caTtlSeconds < 6 * cfg.defaultX509SvidTtlSeconds) {
        log.warn(
          { caTtlSeconds: cfg.caTtlSeconds, defaultX509SvidTtlSeconds: cfg.defaultX509SvidTtlSeconds },
          'ca_ttl is less than 6 × default_x509_svid_ttl: SVIDs will be capped at the CA expiry',
        );
      }
      const attestors: NodeAttestor[] = [];
      if (cfg.joinToken)
        attestors.push(new JoinTokenAttestor({ trustDomain: cfg.trustDomain, tokens: store, now }));
      if (cfg.k8sSat)
        attestors.push(
          new K8sSatAttestor({ trustDomain: cfg.trustDomain, clusters: cfg.k8sSat.clusters, now }),
        );
      const service = new IdentityService({ config: cfg, store, ca, attestors, now });
      late.service = service;

      const svid = new ServerSvid(service);
      const credentials = new RotatingServerCredentials(svid.material);
      const { server: grpcServer, port } = await startAgentApi({
        service,
        credentials,
        host: cfg.bindAddress,
        port: cfg.bindPort,
        log,
      });
      cleanups.push(() => grpcServer.forceShutdown());
      const admin = await startAdminApi({ service, socketPath: cfg.socketPath, log });
      cleanups.push(() => admin.close());
      const metrics =
        metricsRegistry && cfg.metrics
          ? await startMetrics({ registry: metricsRegistry, service, ...cfg.metrics })
          : undefined;
      if (metrics) cleanups.push(() => metrics.close());
      const federation = new FederationManager({ service, svid, log, now });
      await federation.start();
      cleanups.push(() => federation.close());

      const s = new IdentityServer({
        service,
        port,
        log,
        store: rawStore,
        grpc: grpcServer,
        admin,
        credentials,
        svid,
        metrics,
        federation,
      });
      Object.assign(service.listening, {
        agentApiPort: port,
        bundleEndpointPort: federation.bundleEndpointPort,
        metricsPort: metrics?.port,
      });
      s.#startTimers();
      log.info(
        {
          trustDomain: cfg.trustDomain.name,
          socketPath: cfg.socketPath,
          agentApiAddress: `${cfg.bindAddress}:${port}`,
          metricsPort: metrics?.port,
          bundleEndpointPort: federation.bundleEndpointPort,
        },
        'server started',
      );
      return s;
    } catch (err) {
      for (const c of cleanups.reverse()) {
        try {
          await c();
        } catch {
          // best effort: the original error is what the caller needs
        }
      }
      throw err;
    }
  }

  #startTimers(): void {
    const cfg = this.service.config;
    // SPIRE checks every 10 s; short CA TTLs (tests, demos) need proportionally finer checks.
    const rotateEveryMs = Math.max(200, Math.min(10_000, (cfg.caTtlSeconds * 1000) / 24));
    this.#timers.push(
      setInterval(() => {
        void this.#tick().catch((err: unknown) => this.#log.error({ err }, 'periodic task failed'));
      }, rotateEveryMs).unref(),
    );
  }

  async #tick(): Promise<void> {
    await this.service.ca.rotate();
    if (this.#svid.stale()) {
      this.#svid.renew();
      this.#credentials.update(this.#svid.material);
      this.#federation.onServerSvidRenewed();
      this.#log.debug('server SVID renewed');
    }
    this.service.pruneExpiredEntries();
    this.#store.pruneJoinTokens(this.service.nowSeconds());
  }

  /** Stops the APIs and timers and closes the datastore (releasing the data_dir lock). */
  async close(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    await this.#federation.close();
    await this.#metrics?.close();
    await new Promise<void>((resolve) => this.#admin.close(() => resolve()));
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.#grpc.forceShutdown();
        resolve();
      }, 2000);
      this.#grpc.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    this.#store.close();
    this.#log.info('server stopped');
  }
}
