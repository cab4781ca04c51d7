/**
 * Upstream clusters with Envoy's semantics: endpoints (STATIC, STRICT_DNS, LOGICAL_DNS, EDS,
 * ORIGINAL_DST), round-robin load balancing with the 50% panic threshold, keep-alive connection
 * pools (HTTP/1.1 through the lean {@link H1Pool}, HTTP/2 and gRPC through one `node:http2` session per host),
 * upstream TLS from the cluster's transport socket (SDS certificate, validation context, SAN match,
 * session resumption), active health checks, outlier detection (consecutive 5xx) and circuit
 * breakers. Stat names are Envoy's (`cluster.<name>.upstream_rq_2xx`, `.ssl.handshake`, …).
 */
import net from 'node:net';
import tls from 'node:tls';
import http2 from 'node:http2';
import dns from 'node:dns/promises';
import { Client } from 'undici';
import type { ClusterConfig, EndpointConfig, LoadAssignmentConfig } from './config.js';
import { PeerVerificationError, UpstreamError } from './errors.js';
import { sslStats, type Counter, type Gauge, type SslStats, type Stats } from './stats.js';
import { TlsContextProvider, type SecretStore } from './secrets.js';
import { peerChain } from './verify.js';
import { H1Pool, type PendingRequests } from './h1upstream.js';

/** How soon a health check waiting for the cluster's TLS secrets looks again (ms). */
const HC_SECRETS_RETRY_MS = 250;

/** One upstream endpoint of a cluster, with its health flags and pools. */
export class Host {
  readonly address: string;
  readonly port: number;
  readonly key: string;
  weight: number;
  /** EDS health_status said unhealthy/draining. */
  edsUnhealthy = false;
  /** Active health checking has not (yet) passed. */
  failedActiveHc = false;
  /** Ejected by outlier detection until this time (ms), or 0. */
  ejectedUntilMs = 0;
  ejections = 0;
  consecutive5xx = 0;
  hcSuccesses = 0;
  hcFailures = 0;
  /** A health check has passed at least once since the host was added. */
  hcEverPassed = false;
  cxActive = 0;
  cxTotal = 0;
  rqTotal = 0;
  rqSuccess = 0;
  rqError = 0;
  rqActive = 0;
  h1: H1Pool | undefined;
  h2: http2.ClientHttp2Session | undefined;
  tlsSession: Buffer | undefined;
  tlsSessionGeneration = 0;

  constructor(e: EndpointConfig) {
    this.address = e.address;
    this.port = e.port;
    this.key = `${e.address}:${e.port}`;
    this.weight = e.weight;
    this.edsUnhealthy = !e.healthy;
  }

  /** Healthy for load balancing at `nowMs`. */
  healthy(nowMs: number): boolean {
    return !this.edsUnhealthy && !this.failedActiveHc && this.ejectedUntilMs <= nowMs;
  }
}

/** Envoy's per-cluster stats, held as counter objects. */
interface ClusterStats {
  cxTotal: Counter;
  cxActive: Gauge;
  cxOverflow: Counter;
  cxConnectFail: Counter;
  cxConnectTimeout: Counter;
  rqTotal: Counter;
  rqActive: Gauge;
  rq2xx: Counter;
  rq3xx: Counter;
  rq4xx: Counter;
  rq5xx: Counter;
  rqTimeout: Counter;
  rqPerTryTimeout: Counter;
  rqRetry: Counter;
  rqRetrySuccess: Counter;
  rqRetryOverflow: Counter;
  rqPendingOverflow: Counter;
  rqRxReset: Counter;
  noHealthyUpstream: Counter;
  membershipHealthy: Gauge;
  membershipTotal: Gauge;
  hcAttempt: Counter;
  hcSuccess: Counter;
  hcFailure: Counter;
  hcHealthy: Gauge;
  odEjectionsEnforced: Counter;
  odEjectionsActive: Gauge;
  ssl: SslStats;
}

/** Options shared by every cluster. */
export interface ClusterDeps {
  stats: Stats;
  secrets: SecretStore;
  now: () => number;
  /** Called with an error message when something goes wrong in the background (health check, DNS). */
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

/** A connected upstream byte stream. */
export type UpstreamSocket = net.Socket | tls.TLSSocket;

/** An upstream cluster. Create through {@link ClusterManager}. */
export class Cluster {
  readonly config: ClusterConfig;
  readonly stats: ClusterStats;
  readonly tls: TlsContextProvider | undefined;
  hosts: Host[] = [];
  #rr = 0;
  #closed = false;
  readonly #deps: ClusterDeps;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #hcClients = new Map<string, Client>();
  #rqActive = 0;
  /** Connections being opened (connect or TLS handshake not done yet). */
  #opening = 0;
  /** Requests queued for a connection in any host's HTTP/1.1 pool (max_pending_requests). */
  readonly #pending: PendingRequests;
  /** `upstream_rq_<status>` counters by status, so the per-request path builds no stat names. */
  readonly #byStatus = new Map<number, Counter>();

  constructor(config: ClusterConfig, deps: ClusterDeps) {
    this.config = config;
    this.#deps = deps;
    this.#pending = {
      active: 0,
      max: config.circuitBreakers.maxPendingRequests,
      overflowed: () => this.stats.rqPendingOverflow.value++,
    };
    const s = deps.stats.scope(`cluster.${config.name}.`);
    this.stats = {
      cxTotal: s.counter('upstream_cx_total'),
      cxActive: s.gauge('upstream_cx_active'),
      cxOverflow: s.counter('upstream_cx_overflow'),
      cxConnectFail: s.counter('upstream_cx_connect_fail'),
      cxConnectTimeout: s.counter('upstream_cx_connect_timeout'),
      rqTotal: s.counter('upstream_rq_total'),
      rqActive: s.gauge('upstream_rq_active'),
      rq2xx: s.counter('upstream_rq_2xx'),
      rq3xx: s.counter('upstream_rq_3xx'),
      rq4xx: s.counter('upstream_rq_4xx'),
      rq5xx: s.counter('upstream_rq_5xx'),
      rqTimeout: s.counter('upstream_rq_timeout'),
      rqPerTryTimeout: s.counter('upstream_rq_per_try_timeout'),
      rqRetry: s.counter('upstream_rq_retry'),
      rqRetrySuccess: s.counter('upstream_rq_retry_success'),
      rqRetryOverflow: s.counter('upstream_rq_retry_overflow'),
      rqPendingOverflow: s.counter('upstream_rq_pending_overflow'),
      rqRxReset: s.counter('upstream_rq_rx_reset'),
      noHealthyUpstream: s.counter('upstream_cx_none_healthy'),
      membershipHealthy: s.gauge('membership_healthy'),
      membershipTotal: s.gauge('membership_total'),
      hcAttempt: s.counter('health_check.attempt'),
      hcSuccess: s.counter('health_check.success'),
      hcFailure: s.counter('health_check.failure'),
      hcHealthy: s.gauge('health_check.healthy'),
      odEjectionsEnforced: s.counter('outlier_detection.ejections_enforced_total'),
      odEjectionsActive: s.gauge('outlier_detection.ejections_active'),
      ssl: sslStats(s),
    };
    this.tls = config.tls ? new TlsContextProvider(deps.secrets, config.tls, false) : undefined;
    if (config.loadAssignment && config.type === 'STATIC') this.setEndpoints(config.loadAssignment.endpoints);
    if (config.type === 'STRICT_DNS' || config.type === 'LOGICAL_DNS') this.#resolveLoop();
  }

  /** Replaces the endpoint set (EDS update, DNS answer); keeps the state of hosts that stay. */
  setEndpoints(endpoints: EndpointConfig[]): void {
    const old = new Map(this.hosts.map((h) => [h.key, h]));
    const next: Host[] = [];
    for (const e of endpoints) {
      const key = `${e.address}:${e.port}`;
      const h = old.get(key) ?? new Host(e);
      old.delete(key);
      h.weight = e.weight;
      h.edsUnhealthy = !e.healthy;
      if (!next.some((n) => n.key === key)) next.push(h);
    }
    for (const gone of old.values()) this.#closeHost(gone);
    const added = next.filter((h) => !this.hosts.includes(h));
    this.hosts = next;
    for (const h of added) this.#startHealthChecks(h);
    this.#updateMembership();
  }

  /** Applies a ClusterLoadAssignment (EDS). */
  applyLoadAssignment(cla: LoadAssignmentConfig): void {
    this.setEndpoints(cla.endpoints);
  }

  #updateMembership(): void {
    const now = this.#deps.now();
    this.stats.membershipTotal.value = this.hosts.length;
    this.stats.membershipHealthy.value = this.hosts.filter((h) => h.healthy(now)).length;
    this.stats.hcHealthy.value = this.hosts.filter((h) => !h.failedActiveHc).length;
  }

  /**
   * Picks a host by round robin among healthy hosts; with fewer than 50% healthy, Envoy's panic
   * mode balances across all hosts. Throws UpstreamError UH when the cluster has no hosts.
   */
  pick(originalDst?: { address: string; port: number }): Host {
    if (this.config.type === 'ORIGINAL_DST') {
      if (!originalDst) throw new UpstreamError('UH', `cluster ${this.config.name}: no original destination`);
      const key = `${originalDst.address}:${originalDst.port}`;
      let h = this.hosts.find((x) => x.key === key);
      if (!h) {
        h = new Host({ address: originalDst.address, port: originalDst.port, weight: 1, healthy: true });
        this.hosts.push(h);
        this.#updateMembership();
      }
      return h;
    }
    const n = this.hosts.length;
    if (!n) {
      this.stats.noHealthyUpstream.value++;
      throw new UpstreamError('UH', 'no healthy upstream');
    }
    const now = this.#deps.now();
    let healthy = 0;
    for (const h of this.hosts) if (h.healthy(now)) healthy++;
    const panic = healthy * 2 < n;
    for (let i = 0; i < n; i++) {
      const h = this.hosts[this.#rr++ % n]!;
      if (panic || h.healthy(now)) return h;
    }
    this.stats.noHealthyUpstream.value++;
    throw new UpstreamError('UH', 'no healthy upstream');
  }

  /** Reserves a request slot (circuit breaker max_requests); throws UpstreamError UO on overflow. */
  beginRequest(host: Host): void {
    if (this.#rqActive >= this.config.circuitBreakers.maxRequests) {
      this.stats.rqPendingOverflow.value++;
      throw new UpstreamError('UO', 'upstream overflow (circuit breaker max_requests)');
    }
    this.#rqActive++;
    this.stats.rqActive.value = this.#rqActive;
    this.stats.rqTotal.value++;
    host.rqTotal++;
    host.rqActive++;
  }

  /** Releases the slot and records the outcome: status (0 = reset/connect failure) for stats and
   * outlier detection. */
  endRequest(host: Host, status: number): void {
    this.#rqActive--;
    this.stats.rqActive.value = this.#rqActive;
    host.rqActive--;
    const s = this.stats;
    if (status >= 500 || status === 0) {
      if (status >= 500) s.rq5xx.value++;
      host.rqError++;
      this.#outlier5xx(host);
    } else {
      host.rqSuccess++;
      host.consecutive5xx = 0;
      if (status >= 400) s.rq4xx.value++;
      else if (status >= 300) s.rq3xx.value++;
      else s.rq2xx.value++;
    }
    if (status) {
      let c = this.#byStatus.get(status);
      if (!c) {
        c = this.#deps.stats.counter(`cluster.${this.config.name}.upstream_rq_${status}`);
        this.#byStatus.set(status, c);
      }
      c.value++;
    }
  }

  #outlier5xx(host: Host): void {
    const od = this.config.outlier;
    if (!od) return;
    host.consecutive5xx++;
    if (host.consecutive5xx < od.consecutive5xx) return;
    host.consecutive5xx = 0;
    const now = this.#deps.now();
    const ejected = this.hosts.filter((h) => h.ejectedUntilMs > now).length;
    // Envoy ejects at least one host even when max_ejection_percent rounds down to zero.
    if (ejected > 0 && (ejected + 1) * 100 > od.maxEjectionPercent * this.hosts.length) return;
    host.ejections++;
    const ms = od.baseEjectionTimeMs * host.ejections;
    host.ejectedUntilMs = now + ms;
    this.stats.odEjectionsEnforced.value++;
    this.stats.odEjectionsActive.value = ejected + 1;
    this.#updateMembership();
    this.#timer(ms, () => {
      this.stats.odEjectionsActive.value = this.hosts.filter(
        (h) => h.ejectedUntilMs > this.#deps.now(),
      ).length;
      this.#updateMembership();
    });
  }

  /**
   * Envoy's `max_connections` circuit breaker for a filter that opens one upstream connection per
   * downstream connection (tcp_proxy): false, counting `upstream_cx_overflow`, when the cluster's
   * open and opening connections have reached it.
   */
  admitConnection(): boolean {
    if (this.stats.cxActive.value + this.#opening < this.config.circuitBreakers.maxConnections) return true;
    this.stats.cxOverflow.value++;
    return false;
  }

  /**
   * Opens a connection to `host` (TLS per the cluster's transport socket, verified against its
   * validation context). Counts Envoy's cx and ssl stats. `alpn` is offered over TLS.
   */
  connect(host: Host, alpn?: string[]): Promise<UpstreamSocket> {
    return new Promise((resolve, reject) => {
      const s = this.stats;
      const ctx = this.tls?.current();
      if (this.tls && !ctx) {
        s.cxConnectFail.value++;
        reject(new UpstreamError('UF', `cluster ${this.config.name}: TLS secrets not yet available`));
        return;
      }
      let sock: UpstreamSocket;
      this.#opening++;
      let opening = true;
      const opened = (): void => {
        if (opening) this.#opening--;
        opening = false;
      };
      const onFail = (err: Error): void => {
        opened();
        clearTimeout(timer);
        s.cxConnectFail.value++;
        sock.destroy();
        reject(
          err instanceof UpstreamError
            ? err
            : new UpstreamError('UF', `connect to ${host.key} failed: ${err.message}`, { cause: err }),
        );
      };
      const timer = setTimeout(() => {
        s.cxConnectTimeout.value++;
        onFail(new UpstreamError('UF', `connect to ${host.key} timed out`));
      }, this.config.connectTimeoutMs);
      const established = (): void => {
        opened();
        clearTimeout(timer);
        sock.removeListener('error', onFail);
        s.cxTotal.value++;
        s.cxActive.value++;
        host.cxTotal++;
        host.cxActive++;
        sock.once('close', () => {
          s.cxActive.value--;
          host.cxActive--;
        });
        sock.on('error', () => {});
        resolve(sock);
      };
      if (!ctx) {
        sock = net.connect({ host: host.address, port: host.port, noDelay: true }, established);
        sock.once('error', onFail);
        return;
      }
      const reuse = host.tlsSessionGeneration === ctx.generation ? host.tlsSession : undefined;
      const t = tls.connect({
        host: host.address,
        port: host.port,
        secureContext: ctx.context,
        ...(this.config.tls?.sni ? { servername: this.config.tls.sni } : {}),
        rejectUnauthorized: false,
        session: reuse,
        ALPNProtocols: alpn ?? this.config.tls?.alpn,
      });
      t.setNoDelay(true);
      sock = t;
      t.once('error', onFail);
      // Only sessions of verified connections are kept, so a resumed session (for which the
      // server sends no certificate in TLS 1.3) stands for a peer that passed verification with
      // this validator generation.
      let verified = false;
      t.on('session', (session: Buffer) => {
        if (!verified) return;
        host.tlsSession = session;
        host.tlsSessionGeneration = ctx.generation;
      });
      t.once('secureConnect', () => {
        const resumed = t.isSessionReused() && reuse !== undefined;
        if (ctx.validator && !resumed) {
          try {
            ctx.validator.verify(peerChain(t), this.#deps.now());
          } catch (err) {
            if (err instanceof PeerVerificationError) {
              if (err.reason === 'san') s.ssl.failVerifySan.value++;
              else if (err.reason === 'no_cert') s.ssl.failVerifyNoCert.value++;
              else s.ssl.failVerifyError.value++;
            }
            s.ssl.connectionError.value++;
            host.tlsSession = undefined;
            onFail(
              new UpstreamError('UF', `upstream ${host.key}: ${(err as Error).message}`, { cause: err }),
            );
            return;
          }
        }
        verified = true;
        s.ssl.handshake.value++;
        if (t.isSessionReused()) s.ssl.sessionReused.value++;
        established();
      });
    });
  }

  /** The keep-alive HTTP/1.1 pool of `host` (connections from {@link connect}). */
  h1Pool(host: Host): H1Pool {
    if (host.h1 && !host.h1.destroyed) return host.h1;
    host.h1 = new H1Pool({
      connect: () => this.connect(host, ['http/1.1']),
      maxConnections: this.config.circuitBreakers.maxConnections,
      pending: this.#pending,
      idleTimeoutMs: Math.min(this.config.idleTimeoutMs, 60_000),
    });
    return host.h1;
  }

  /** The HTTP/2 session of `host` (h2 over TLS with ALPN, or h2c), connected lazily and replaced
   * when it closes. */
  async h2Session(host: Host): Promise<http2.ClientHttp2Session> {
    const cur = host.h2;
    if (cur && !cur.closed && !cur.destroyed) return cur;
    const sock = await this.connect(host, ['h2']);
    if (host.h2 && !host.h2.closed && !host.h2.destroyed) {
      sock.destroy();
      return host.h2;
    }
    const session = http2.connect(`${this.tls ? 'https' : 'http'}://${host.key}`, {
      createConnection: () => sock,
    });
    session.on('error', () => {});
    session.on('close', () => {
      if (host.h2 === session) host.h2 = undefined;
    });
    session.on('goaway', () => {
      if (host.h2 === session) host.h2 = undefined;
    });
    host.h2 = session;
    return session;
  }

  #startHealthChecks(host: Host): void {
    const hc = this.config.healthChecks[0];
    if (!hc || this.#closed) return;
    host.failedActiveHc = true;
    const run = async (): Promise<void> => {
      if (this.#closed || !this.hosts.includes(host)) return;
      // Envoy keeps a cluster warming until its SDS secrets arrive; checking before that would
      // fail and hold every host failed for a whole interval.
      if (this.tls && !this.tls.current()) {
        this.#timer(HC_SECRETS_RETRY_MS, () => void run());
        return;
      }
      this.stats.hcAttempt.value++;
      let ok: boolean;
      try {
        ok = await this.#checkOnce(host, hc);
      } catch {
        ok = false;
      }
      if (this.#closed || !this.hosts.includes(host)) return;
      if (ok) {
        this.stats.hcSuccess.value++;
        host.hcFailures = 0;
        host.hcSuccesses++;
        // The first success after a host is added makes it healthy at once (Envoy).
        if (host.failedActiveHc && (!host.hcEverPassed || host.hcSuccesses >= hc.healthyThreshold))
          host.failedActiveHc = false;
        host.hcEverPassed = true;
      } else {
        this.stats.hcFailure.value++;
        host.hcSuccesses = 0;
        host.hcFailures++;
        if (host.hcFailures >= hc.unhealthyThreshold) host.failedActiveHc = true;
      }
      this.#updateMembership();
      this.#timer(hc.intervalMs, () => void run());
    };
    void run();
  }

  async #checkOnce(host: Host, hc: ClusterConfig['healthChecks'][number]): Promise<boolean> {
    const timeout = new Promise<boolean>((resolve) => this.#timer(hc.timeoutMs, () => resolve(false)));
    if (hc.kind === 'tcp') {
      const attempt = this.connect(host).then((s) => {
        s.destroy();
        return true;
      });
      return Promise.race([attempt, timeout]);
    }
    let client = this.#hcClients.get(host.key);
    if (!client || client.destroyed || client.closed) {
      client = new Client(`${this.tls ? 'https' : 'http'}://${host.key}`, {
        connect: (_o, cb) => {
          this.connect(host, ['http/1.1']).then(
            (s) => cb(null, s),
            (err: Error) => cb(err, null),
          );
        },
        headersTimeout: hc.timeoutMs,
        bodyTimeout: hc.timeoutMs,
      });
      this.#hcClients.set(host.key, client);
    }
    const c = client;
    const attempt = c
      .request({
        path: hc.path,
        method: 'GET',
        headers: { host: hc.host ?? this.config.name, 'user-agent': 'Envoy/HC' },
      })
      .then(async (r) => {
        await r.body.dump();
        return hc.expectedStatuses.some(([a, b]) => r.statusCode >= a && r.statusCode < b);
      });
    const ok = await Promise.race([attempt.catch(() => false), timeout]);
    if (!ok) {
      this.#hcClients.delete(host.key);
      void c.destroy().catch(() => {});
    }
    return ok;
  }

  #resolveLoop(): void {
    const la = this.config.loadAssignment;
    if (!la || this.#closed) return;
    const resolve = async (): Promise<void> => {
      const out: EndpointConfig[] = [];
      for (const e of la.endpoints) {
        if (net.isIP(e.address)) {
          out.push(e);
          continue;
        }
        try {
          const addrs = await dns.lookup(e.address, { all: true, family: 4 });
          const list = this.config.type === 'LOGICAL_DNS' ? addrs.slice(0, 1) : addrs;
          for (const a of list) out.push({ ...e, address: a.address });
        } catch (err) {
          this.#deps.log('DNS resolution failed', {
            cluster: this.config.name,
            host: e.address,
            error: (err as Error).message,
          });
        }
      }
      if (!this.#closed) this.setEndpoints(out);
    };
    const loop = (): void => {
      void resolve().finally(() => this.#timer(5000, loop));
    };
    loop();
  }

  #timer(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  #closeHost(h: Host): void {
    h.h1?.destroy();
    h.h2?.destroy();
    const c = this.#hcClients.get(h.key);
    if (c) void c.destroy().catch(() => {});
    this.#hcClients.delete(h.key);
  }

  /** Envoy's `/clusters` text lines for this cluster. */
  adminLines(): string[] {
    const now = this.#deps.now();
    const n = this.config.name;
    const lines = [
      `${n}::default_priority::max_connections::${this.config.circuitBreakers.maxConnections}`,
      `${n}::default_priority::max_pending_requests::${this.config.circuitBreakers.maxPendingRequests}`,
      `${n}::default_priority::max_requests::${this.config.circuitBreakers.maxRequests}`,
      `${n}::default_priority::max_retries::${this.config.circuitBreakers.maxRetries}`,
      `${n}::added_via_api::${this.config.type === 'EDS' ? 'true' : 'false'}`,
    ];
    for (const h of this.hosts) {
      const p = `${n}::${h.key}`;
      const flags: string[] = [];
      if (h.failedActiveHc) flags.push('/failed_active_hc');
      if (h.ejectedUntilMs > now) flags.push('/failed_outlier_check');
      if (h.edsUnhealthy) flags.push('/failed_eds_health');
      lines.push(
        `${p}::cx_active::${h.cxActive}`,
        `${p}::cx_total::${h.cxTotal}`,
        `${p}::rq_active::${h.rqActive}`,
        `${p}::rq_error::${h.rqError}`,
        `${p}::rq_success::${h.rqSuccess}`,
        `${p}::rq_total::${h.rqTotal}`,
        `${p}::weight::${h.weight}`,
        `${p}::health_flags::${flags.length ? flags.join('') : 'healthy'}`,
      );
    }
    return lines;
  }

  /** Closes pools, health checks and timers. */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const h of this.hosts) this.#closeHost(h);
    this.tls?.close();
  }
}

/** Name → cluster; clusters are replaced whole when their config changes (CDS semantics). */
export class ClusterManager {
  readonly #clusters = new Map<string, Cluster>();
  readonly #deps: ClusterDeps;
  /** Pending EDS assignments for clusters not yet known. */
  readonly #assignments = new Map<string, LoadAssignmentConfig>();

  constructor(deps: ClusterDeps) {
    this.#deps = deps;
  }

  /** The cluster named `name`. */
  get(name: string): Cluster | undefined {
    return this.#clusters.get(name);
  }

  /** All clusters. */
  all(): Cluster[] {
    return [...this.#clusters.values()];
  }

  /** Adds or replaces a cluster; unchanged configs keep their state. */
  addOrUpdate(config: ClusterConfig): void {
    const cur = this.#clusters.get(config.name);
    if (cur && JSON.stringify(cur.config, replacer) === JSON.stringify(config, replacer)) return;
    cur?.close();
    const c = new Cluster(config, this.#deps);
    this.#clusters.set(config.name, c);
    const la = this.#assignments.get(config.edsServiceName);
    if (la && config.type === 'EDS') c.applyLoadAssignment(la);
  }

  /** Removes clusters not in `keep` (CDS state of the world). */
  retain(keep: Set<string>): void {
    for (const [n, c] of this.#clusters) {
      if (!keep.has(n)) {
        c.close();
        this.#clusters.delete(n);
      }
    }
  }

  /** Applies an EDS ClusterLoadAssignment to the cluster(s) whose service name it names. */
  applyLoadAssignment(cla: LoadAssignmentConfig): void {
    this.#assignments.set(cla.clusterName, cla);
    for (const c of this.#clusters.values())
      if (c.config.type === 'EDS' && c.config.edsServiceName === cla.clusterName) c.applyLoadAssignment(cla);
  }

  /** Closes every cluster. */
  close(): void {
    for (const c of this.#clusters.values()) c.close();
    this.#clusters.clear();
  }
}

function replacer(_k: string, v: unknown): unknown {
  return v instanceof RegExp ? v.source : v instanceof Map ? [...v] : v instanceof Set ? [...v] : v;
}
