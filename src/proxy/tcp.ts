/**
 * The tcp_proxy network filter: one upstream connection per downstream connection, bytes piped
 * both ways, idle timeout (Envoy default 1 h), weighted clusters. Also the L4 fast path of the
 * listener (a route table with a single cluster and no per-request features).
 */
import type net from 'node:net';
import type { Cluster, ClusterManager } from './cluster.js';
import type { TcpProxyConfig } from './config.js';
import { pickWeighted } from './router.js';
import type { Counter, Stats } from './stats.js';
import type { DownstreamInfo } from './http.js';

/** One tcp_proxy instance (per filter chain). */
export class TcpProxy {
  readonly config: TcpProxyConfig;
  readonly #clusters: ClusterManager;
  readonly #noCluster: Counter;
  readonly #cxTotal: Counter;
  readonly #totalWeight: number;
  readonly #sockets = new Set<net.Socket>();

  constructor(config: TcpProxyConfig, deps: { clusters: ClusterManager; stats: Stats }) {
    this.config = config;
    this.#clusters = deps.clusters;
    this.#noCluster = deps.stats.counter(`tcp.${config.statPrefix}.downstream_cx_no_route`);
    this.#cxTotal = deps.stats.counter(`tcp.${config.statPrefix}.downstream_cx_total`);
    this.#totalWeight = config.clusters.reduce((s, c) => s + c.weight, 0);
  }

  /**
   * Proxies `down` to a host of the (weighted) cluster; resets `down` when none can be reached or
   * the cluster's max_connections circuit breaker is full (`upstream_cx_overflow`).
   */
  handle(down: net.Socket, info: DownstreamInfo): void {
    this.#cxTotal.value++;
    const cluster = this.#clusters.get(pickWeighted(this.config.clusters, this.#totalWeight).name);
    if (!cluster) {
      this.#noCluster.value++;
      down.destroy();
      return;
    }
    // Not on the HTTP L4 fast path, which stands for requests that Envoy would queue instead.
    if (!cluster.admitConnection()) {
      down.destroy();
      return;
    }
    pipeToCluster(down, cluster, info, this.config.idleTimeoutMs, this.#sockets);
  }

  /** Closes the proxied connections. */
  close(): void {
    for (const s of this.#sockets) s.destroy();
  }
}

/**
 * Connects to a host of `cluster` and pipes `down` ↔ upstream until either side closes or the
 * connection is idle for `idleTimeoutMs`. Downstream bytes that arrive while connecting are
 * buffered by the paused socket. `track` holds the downstream socket while it is open.
 */
export function pipeToCluster(
  down: net.Socket,
  cluster: Cluster,
  info: DownstreamInfo,
  idleTimeoutMs: number,
  track: Set<net.Socket>,
): void {
  track.add(down);
  down.pause();
  down.once('close', () => track.delete(down));
  down.on('error', () => {});
  let host;
  try {
    host = cluster.pick(info.originalDst);
  } catch {
    down.destroy();
    return;
  }
  const h = host;
  cluster.connect(h).then(
    (up) => {
      if (down.destroyed) {
        up.destroy();
        return;
      }
      h.rqTotal++;
      up.on('error', () => down.destroy());
      down.on('error', () => up.destroy());
      up.once('close', () => down.destroy());
      down.once('close', () => up.destroy());
      if (idleTimeoutMs > 0) {
        down.setTimeout(idleTimeoutMs, () => down.destroy());
        up.setTimeout(idleTimeoutMs, () => up.destroy());
      }
      down.pipe(up);
      up.pipe(down);
      down.resume();
    },
    () => down.destroy(),
  );
}
