/**
 * Listeners with Envoy's semantics: accept, SO_ORIGINAL_DST (`use_original_dst`: hand the connection
 * to the listener bound to the original destination port if there is one), the tls_inspector (the
 * first byte 0x16 = TLS ClientHello, else raw_buffer), filter chain selection by FilterChainMatch
 * (destination_port, prefix_ranges, server_names (SNI), transport_protocol, application_protocols
 * (ALPN); most specific wins), TLS termination with the chain's current SecureContext and in-code
 * peer verification, then the terminal network filter.
 *
 * Stats are Envoy's, under `listener.<address>_<port>.`: downstream_cx_total/active,
 * no_filter_chain_match, ssl.handshake, ssl.no_certificate, ssl.fail_verify_no_cert,
 * ssl.fail_verify_san, ssl.fail_verify_error, ssl.connection_error, ssl.session_reused.
 */
import net from 'node:net';
import tls from 'node:tls';
import { getOriginalDestination, socketFd } from '../native/index.js';
import {
  clientHelloBytesMissing,
  parseClientHello,
  serverNameScore,
  type ClientHelloInfo,
} from './client-hello.js';
import type { ClusterManager } from './cluster.js';
import type { FilterChainConfig, ListenerConfig } from './config.js';
import { PeerVerificationError } from './errors.js';
import { HttpConnectionManager, type DownstreamInfo, type RouteProvider } from './http.js';
import { TlsContextProvider, type SecretStore } from './secrets.js';
import { sslStats, type Counter, type Gauge, type SslStats, type Stats } from './stats.js';
import { TcpProxy, pipeToCluster } from './tcp.js';
import { peerChain } from './verify.js';

const HANDSHAKE_TIMEOUT_MS = 10_000;
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');

/** A filter chain ready to serve: its TLS context provider and terminal filter instance. */
interface ActiveFilterChain {
  config: FilterChainConfig;
  tls: TlsContextProvider | undefined;
  filter: HttpConnectionManager | TcpProxy;
}

/** Shared dependencies of listeners. */
export interface ListenerDeps {
  stats: Stats;
  secrets: SecretStore;
  clusters: ClusterManager;
  routes: RouteProvider;
  now: () => number;
  /** Proxy HTTP/1.1 at L4 when a route table allows it (see RouteTable.fastPathCluster). */
  l4FastPath: boolean;
  /** Finds another listener bound to the original destination (use_original_dst hand-off). */
  findByPort: (port: number, address: string) => ActiveListener | undefined;
}

interface ListenerStats {
  cxTotal: Counter;
  cxActive: Gauge;
  noFilterChainMatch: Counter;
  ssl: SslStats;
}

/** One bound listener. Filter chains can be swapped in place (LDS update of the same address). */
export class ActiveListener {
  config: ListenerConfig;
  readonly server: net.Server;
  readonly #deps: ListenerDeps;
  #stats: ListenerStats;
  #chains: ActiveFilterChain[] = [];
  #default: ActiveFilterChain | undefined;
  #needsPeek = true;
  /** Some chain matches on SNI or ALPN: read the whole first TLS record before selecting. */
  #needsHello = false;
  readonly #sockets = new Set<net.Socket>();
  readonly #fastPath: boolean;

  constructor(config: ListenerConfig, deps: ListenerDeps) {
    this.#fastPath = deps.l4FastPath;
    this.config = config;
    this.#deps = deps;
    this.#stats = this.#makeStats(config.statName);
    this.server = net.createServer({ pauseOnConnect: true, noDelay: true }, (sock) =>
      this.#onConnection(sock, undefined),
    );
    this.server.on('error', () => {});
    this.update(config);
  }

  #makeStats(statName: string): ListenerStats {
    const s = this.#deps.stats.scope(`listener.${statName}.`);
    return {
      cxTotal: s.counter('downstream_cx_total'),
      cxActive: s.gauge('downstream_cx_active'),
      noFilterChainMatch: s.counter('no_filter_chain_match'),
      ssl: sslStats(s),
    };
  }

  /** Binds the listener; resolves with the bound port. With port 0 the stat prefix uses the bound
   * port (`listener.127.0.0.1_<port>.`), as Envoy names a listener by its bound address. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.config.address, port: this.config.port }, () => {
        this.server.removeListener('error', onError);
        const port = (this.server.address() as net.AddressInfo).port;
        if (this.config.port === 0) this.#stats = this.#makeStats(`${this.config.address}_${port}`);
        resolve(port);
      });
    });
  }

  /** The bound port (0 before listen). */
  get port(): number {
    const a = this.server.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  /** Replaces the filter chains (existing connections keep the chains they started with). */
  update(config: ListenerConfig): void {
    const old = [...this.#chains, ...(this.#default ? [this.#default] : [])];
    this.config = config;
    const make = (c: FilterChainConfig): ActiveFilterChain => ({
      config: c,
      tls: c.tls ? new TlsContextProvider(this.#deps.secrets, c.tls, true) : undefined,
      filter:
        c.filter.kind === 'http'
          ? new HttpConnectionManager(c.filter, this.#deps)
          : new TcpProxy(c.filter, this.#deps),
    });
    this.#chains = config.filterChains.map(make);
    this.#default = config.defaultFilterChain ? make(config.defaultFilterChain) : undefined;
    // Without a tls_inspector and with one chain, no peek is needed unless the chain's HTTP codec
    // must tell h2c from HTTP/1.1 on plaintext.
    const all = [...this.#chains, ...(this.#default ? [this.#default] : [])];
    this.#needsHello = all.some(
      (c) => c.config.match.serverNames.length > 0 || c.config.match.applicationProtocols.length > 0,
    );
    // SNI / ALPN matching implies the tls_inspector, as if the config had listed it.
    this.#needsPeek =
      config.tlsInspector ||
      this.#needsHello ||
      all.length > 1 ||
      all.some(
        (c) => !c.tls && c.filter instanceof HttpConnectionManager && c.filter.config.codec !== 'HTTP1',
      );
    for (const c of old) c.tls?.close();
  }

  /** Accepts a connection handed over from another listener (`use_original_dst`). */
  accept(sock: net.Socket, originalDst: { address: string; port: number }): void {
    this.#onConnection(sock, originalDst);
  }

  #onConnection(sock: net.Socket, handedDst: { address: string; port: number } | undefined): void {
    sock.on('error', () => {});
    let originalDst = handedDst;
    if (!originalDst && (this.config.useOriginalDst || this.config.originalDstFilter)) {
      const fd = socketFd(sock);
      try {
        if (fd !== undefined) {
          const d = getOriginalDestination(fd);
          originalDst = { address: d.address, port: d.port };
        }
      } catch {
        // Not redirected: the connection was addressed to this listener itself.
      }
      // Only use_original_dst hands connections to another listener; the original_dst listener
      // filter alone just makes chains match on the original destination (App Mesh inbound).
      if (originalDst && this.config.useOriginalDst && originalDst.port !== this.port) {
        const target = this.#deps.findByPort(originalDst.port, originalDst.address);
        if (target && target !== this) {
          target.accept(sock, originalDst);
          return;
        }
      }
    }
    this.#stats.cxTotal.value++;
    this.#stats.cxActive.value++;
    this.#sockets.add(sock);
    sock.once('close', () => {
      this.#stats.cxActive.value--;
      this.#sockets.delete(sock);
    });
    const dst = originalDst ?? { address: sock.localAddress ?? '', port: sock.localPort ?? 0 };
    if (!this.#needsPeek) {
      this.#dispatch(sock, undefined, dst, originalDst);
      return;
    }
    let first: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      first = first ? Buffer.concat([first, chunk]) : chunk;
      // A ClientHello may span TCP segments (large key shares): wait for its whole record.
      if (this.#needsHello && clientHelloBytesMissing(first) > 0) return;
      sock.removeListener('data', onData);
      sock.pause();
      this.#dispatch(sock, first, dst, originalDst);
    };
    sock.on('data', onData);
    sock.setTimeout(HANDSHAKE_TIMEOUT_MS, () => sock.destroy());
    sock.resume();
  }

  #dispatch(
    sock: net.Socket,
    first: Buffer | undefined,
    dst: { address: string; port: number },
    originalDst: { address: string; port: number } | undefined,
  ): void {
    sock.setTimeout(0);
    const isTls = first ? first[0] === 0x16 : undefined;
    const hello = isTls && this.#needsHello ? parseClientHello(first!) : undefined;
    const chain = this.#select(dst, isTls, hello);
    if (!chain) {
      this.#stats.noFilterChainMatch.value++;
      sock.destroy();
      return;
    }
    const info: DownstreamInfo = { tls: false, originalDst, peerUris: [] };
    if (!chain.tls) {
      if (first) sock.unshift(first);
      this.#serve(chain, sock, info, first ? first.subarray(0, H2_PREFACE.length).equals(H2_PREFACE) : false);
      return;
    }
    const ssl = this.#stats.ssl;
    if (isTls === false) {
      // Plaintext to a TLS-only chain (STRICT): reset, as Envoy's TLS transport socket does.
      ssl.connectionError.value++;
      sock.destroy();
      return;
    }
    const active = chain.tls.current();
    if (!active) {
      // Secrets not yet received over SDS: the port is open but connections are reset (Envoy).
      ssl.connectionError.value++;
      sock.destroy();
      return;
    }
    const tlsCfg = chain.config.tls!;
    const alpn = tlsCfg.alpn.length
      ? tlsCfg.alpn
      : chain.filter instanceof HttpConnectionManager
        ? chain.filter.config.codec === 'HTTP1'
          ? ['http/1.1']
          : ['h2', 'http/1.1']
        : undefined;
    const t = new tls.TLSSocket(sock, {
      isServer: true,
      secureContext: active.context,
      requestCert: tlsCfg.requireClientCertificate || active.validator !== undefined,
      // With requestCert, `rejectUnauthorized: true` makes OpenSSL fail a handshake that carries no
      // client certificate with the alert Envoy sends (TLS 1.3 certificate_required, else
      // handshake_failure); without it a TLS 1.3 client believes the handshake succeeded and only
      // sees the connection drop after sending its request.
      rejectUnauthorized: tlsCfg.requireClientCertificate,
      ALPNProtocols: alpn,
    });
    // Chain and SAN checks are the validator's (SPIFFE rules, per trust domain), not Node's CA store.
    (t as unknown as { _rejectUnauthorized: boolean })._rejectUnauthorized = false;
    let secured = false;
    t.on('error', (err: NodeJS.ErrnoException) => {
      if (!secured) {
        if (err.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') ssl.failVerifyNoCert.value++;
        ssl.connectionError.value++;
      }
      t.destroy();
    });
    t.setNoDelay(true);
    t.setTimeout(HANDSHAKE_TIMEOUT_MS, () => t.destroy());
    t.once('secure', () => {
      secured = true;
      t.setTimeout(0);
      const chainCerts = peerChain(t);
      if (!chainCerts.length) {
        if (tlsCfg.requireClientCertificate) {
          ssl.failVerifyNoCert.value++;
          ssl.connectionError.value++;
          t.destroy();
          return;
        }
        ssl.noCertificate.value++;
      } else if (active.validator) {
        try {
          info.peerUris = active.validator.verify(chainCerts, this.#deps.now());
        } catch (err) {
          const reason = err instanceof PeerVerificationError ? err.reason : 'error';
          if (reason === 'san') ssl.failVerifySan.value++;
          else if (reason === 'no_cert') ssl.failVerifyNoCert.value++;
          else ssl.failVerifyError.value++;
          ssl.connectionError.value++;
          t.destroy();
          return;
        }
      }
      ssl.handshake.value++;
      if (t.isSessionReused()) ssl.sessionReused.value++;
      info.tls = true;
      this.#serve(chain, t, info, t.alpnProtocol === 'h2');
    });
    if (first) (t as unknown as { _handle: { receive(b: Buffer): void } })._handle.receive(first);
    t.read(0);
  }

  #serve(chain: ActiveFilterChain, sock: net.Socket, info: DownstreamInfo, h2: boolean): void {
    if (chain.filter instanceof HttpConnectionManager) {
      // Only plaintext downstreams take the L4 fast path: on a TLS-terminating chain the peer is another
      // workload, and its request headers must pass the HTTP codec, which drops a forged
      // x-forwarded-client-cert (Envoy's SANITIZE) before the local app can trust it.
      const fast = this.#fastPath && !h2 && !info.tls ? chain.filter.fastPathCluster() : undefined;
      if (fast) pipeToCluster(sock, fast, info, chain.filter.config.idleTimeoutMs, this.#sockets);
      else chain.filter.handle(sock, info, h2);
    } else chain.filter.handle(sock, info);
  }

  /** Envoy's filter chain match: each criterion in order narrows to the most specific candidates. */
  #select(
    dst: { address: string; port: number },
    isTls: boolean | undefined,
    hello: ClientHelloInfo | undefined,
  ): ActiveFilterChain | undefined {
    let cands = this.#chains;
    const narrow = (has: (c: ActiveFilterChain) => boolean, ok: (c: ActiveFilterChain) => boolean): void => {
      const specific = cands.filter((c) => has(c) && ok(c));
      cands = specific.length ? specific : cands.filter((c) => !has(c));
    };
    narrow(
      (c) => c.config.match.destinationPort !== undefined,
      (c) => c.config.match.destinationPort === dst.port,
    );
    narrow(
      (c) => c.config.match.prefixRanges.length > 0,
      (c) => c.config.match.prefixRanges.some((r) => inPrefix(dst.address, r.address, r.prefixLen)),
    );
    // server_names: an exact name beats a wildcard, a longer wildcard a shorter one.
    const sni = hello?.serverName ?? '';
    const score = (c: ActiveFilterChain): number => serverNameScore(c.config.match.serverNames, sni);
    const best = this.#needsHello ? Math.max(-1, ...cands.map(score)) : -1;
    narrow(
      (c) => c.config.match.serverNames.length > 0,
      (c) => best >= 0 && score(c) === best,
    );
    const proto = isTls === undefined ? undefined : isTls ? 'tls' : 'raw_buffer';
    narrow(
      (c) => c.config.match.transportProtocol !== undefined,
      (c) => c.config.match.transportProtocol === proto,
    );
    const alpn = hello?.alpn ?? [];
    narrow(
      (c) => c.config.match.applicationProtocols.length > 0,
      (c) => c.config.match.applicationProtocols.some((p) => alpn.includes(p)),
    );
    return cands[0] ?? this.#default;
  }

  /** Stops accepting and closes open connections. */
  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    for (const c of [...this.#chains, ...(this.#default ? [this.#default] : [])]) {
      c.tls?.close();
      c.filter.close();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Envoy's `/listeners` line: `name::address:port`. */
  adminLine(): string {
    return `${this.config.name}::${this.config.address}:${this.port}`;
  }
}

/** Whether IPv4 `addr` lies in `prefix/len`. IPv6 prefixes match only exact addresses. */
function inPrefix(addr: string, prefix: string, len: number): boolean {
  const a = ipv4(addr.replace(/^::ffff:/, ''));
  const p = ipv4(prefix);
  if (a === undefined || p === undefined) return addr === prefix;
  if (len <= 0) return true;
  const mask = len >= 32 ? 0xffffffff : (~0 << (32 - len)) >>> 0;
  return (a & mask) >>> 0 === (p & mask) >>> 0;
}

function ipv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const x of parts) {
    const v = Number(x);
    if (!Number.isInteger(v) || v < 0 || v > 255) return undefined;
    n = n * 256 + v;
  }
  return n >>> 0;
}

/** Name → bound listener. LDS state of the world: listeners not in an update are closed. */
export class ListenerManager {
  readonly #listeners = new Map<string, ActiveListener>();
  readonly #deps: Omit<ListenerDeps, 'findByPort'>;

  constructor(deps: Omit<ListenerDeps, 'findByPort'>) {
    this.#deps = deps;
  }

  /** All listeners. */
  all(): ActiveListener[] {
    return [...this.#listeners.values()];
  }

  /** The listener named `name`. */
  get(name: string): ActiveListener | undefined {
    return this.#listeners.get(name);
  }

  /** Adds (binds) or updates listeners, then closes those not in `configs`. Rejects when a bind fails. */
  async apply(configs: ListenerConfig[]): Promise<void> {
    const keep = new Set(configs.map((c) => c.name));
    for (const [name, l] of this.#listeners) {
      if (!keep.has(name)) {
        this.#listeners.delete(name);
        await l.close();
      }
    }
    for (const c of configs) {
      const cur = this.#listeners.get(c.name);
      if (cur && cur.config.address === c.address && cur.config.port === c.port) {
        cur.update(c);
        continue;
      }
      if (cur) {
        this.#listeners.delete(c.name);
        await cur.close();
      }
      const l = new ActiveListener(c, {
        ...this.#deps,
        findByPort: (port, address) => this.#findByPort(port, address),
      });
      await l.listen();
      this.#listeners.set(c.name, l);
    }
  }

  #findByPort(port: number, address: string): ActiveListener | undefined {
    let wildcard: ActiveListener | undefined;
    for (const l of this.#listeners.values()) {
      if (l.port !== port) continue;
      if (l.config.address === address) return l;
      if (l.config.address === '0.0.0.0' || l.config.address === '::') wildcard = l;
    }
    return wildcard;
  }

  /** Closes every listener. */
  async close(): Promise<void> {
    await Promise.all([...this.#listeners.values()].map((l) => l.close()));
    this.#listeners.clear();
  }
}
