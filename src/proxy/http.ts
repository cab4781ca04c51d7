/**
 * The http_connection_manager network filter and its router: HTTP/1.1 (the lean codec of
 * h1server.ts for bodiless keep-alive requests, node:http's strict llhttp parser for the rest:
 * smuggling shapes → 400, headers over the limit → 431, slow headers → 408), HTTP/2 and h2c
 * (node:http2), gRPC (trailers pass through; local errors become `grpc-status`). Upstream HTTP/1.1
 * goes through the cluster's keep-alive pool (h1upstream.ts), HTTP/2 through node:http2.
 *
 * Router semantics follow Envoy: 404 with no body when no route matches (`NR`), 503 "no healthy
 * upstream" (`UH`), 503 on overflow (`UO`) or connect failure/reset (`UF`/`UR`), 504 "upstream
 * request timeout" (`UT`, route timeout, default 15 s), retries per the route's RetryPolicy.
 */
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { Duplex, type Readable } from 'node:stream';
import type { HttpConnectionManagerConfig, RetryPolicyConfig, RouteConfigEntry } from './config.js';
import type { Cluster, ClusterManager, Host } from './cluster.js';
import { UpstreamError } from './errors.js';
import { H1ParseError, requestTarget } from './h1codec.js';
import type { UpstreamSink } from './h1upstream.js';
import {
  H1ServerConnection,
  type H1ServerHost,
  type H1ServerOptions,
  type LocalErrorKind,
} from './h1server.js';
import { HOP_BY_HOP, NodeExchange, localReply, type Exchange } from './exchange.js';
import { RouteTable, pickWeighted } from './router.js';
import type { Counter, Gauge, Stats } from './stats.js';

/** What the listener learned about a downstream connection before handing it over. */
export interface DownstreamInfo {
  /** Downstream used TLS (sets x-forwarded-proto). */
  tls: boolean;
  /** SO_ORIGINAL_DST of a redirected connection (ORIGINAL_DST clusters route to it). */
  originalDst: { address: string; port: number } | undefined;
  /** Verified URI SANs of the downstream peer, when mTLS. */
  peerUris: string[];
}

/** Resolves an RDS name to the current route table (undefined while not yet received). */
export type RouteProvider = (name: string) => RouteTable | undefined;

type DownReq = http.IncomingMessage | http2.Http2ServerRequest;
type DownRes = http.ServerResponse | http2.Http2ServerResponse;

const NO_INFO: DownstreamInfo = { tls: false, originalDst: undefined, peerUris: [] };
const RETRY_BACKOFF_BASE_MS = 25;
/** Largest request body buffered so that a retry can resend it (Envoy buffers up to a limit too). */
const MAX_RETRY_BUFFER = 64 * 1024;

/** Per-connection-manager stats (`http.<stat_prefix>.*`). */
interface HcmStats {
  rqTotal: Counter;
  rq: Counter[];
  cxTotal: Counter;
  cxActive: Gauge;
  protocolError: Counter;
  noRoute: Counter;
  noCluster: Counter;
  rqTimeout: Counter;
  headersTimeout: Counter;
  fastPath: Counter;
}

/**
 * One http_connection_manager instance (one per filter chain). Connections are handed over with
 * {@link handle}; it serves them with an internal, never-listening node:http / node:http2 server.
 */
export class HttpConnectionManager {
  readonly config: HttpConnectionManagerConfig;
  readonly #clusters: ClusterManager;
  readonly #routes: RouteProvider;
  readonly #inline: RouteTable | undefined;
  readonly #stats: HcmStats;
  readonly #h1: http.Server;
  readonly #h2: http2.Http2Server;
  readonly #info = new WeakMap<object, DownstreamInfo>();
  #pendingInfo: DownstreamInfo | undefined;
  readonly #sockets = new Set<net.Socket>();
  /** Access log (App Mesh `logging.accessLog.file`), off unless the HCM configures one. */
  readonly #log: fs.WriteStream | undefined;
  readonly #codec: H1ServerOptions;
  readonly #h1Host: H1ServerHost;

  constructor(
    config: HttpConnectionManagerConfig,
    deps: { clusters: ClusterManager; routes: RouteProvider; stats: Stats },
  ) {
    this.config = config;
    this.#clusters = deps.clusters;
    this.#routes = deps.routes;
    this.#inline = config.routeConfig ? new RouteTable(config.routeConfig) : undefined;
    if (config.accessLogPath) {
      this.#log = fs.createWriteStream(config.accessLogPath, { flags: 'a' });
      this.#log.on('error', () => {});
    }
    const s = deps.stats.scope(`http.${config.statPrefix}.`);
    this.#stats = {
      rqTotal: s.counter('downstream_rq_total'),
      rq: [1, 2, 3, 4, 5].map((c) => s.counter(`downstream_rq_${c}xx`)),
      cxTotal: s.counter('downstream_cx_total'),
      cxActive: s.gauge('downstream_cx_active'),
      protocolError: s.counter('downstream_cx_protocol_error'),
      noRoute: s.counter('no_route'),
      noCluster: s.counter('no_cluster'),
      rqTimeout: s.counter('downstream_rq_timeout'),
      headersTimeout: s.counter('downstream_rq_header_timeout'),
      fastPath: s.counter('downstream_cx_l4_fast_path'),
    };
    const onRequest = (req: DownReq, res: DownRes): void => this.#onRequest(req, res);
    this.#h1 = http.createServer(
      {
        maxHeaderSize: config.maxRequestHeadersKb * 1024,
        headersTimeout: config.requestHeadersTimeoutMs,
        requestTimeout: 0,
        keepAliveTimeout: Math.min(config.idleTimeoutMs, 2 ** 31 - 1),
        connectionsCheckingInterval: Math.max(250, Math.min(config.requestHeadersTimeoutMs / 4, 30_000)),
        joinDuplicateHeaders: false,
      },
      onRequest,
    );
    // node:http only arms its header-timeout sweep once the server "listens"; this server never
    // listens (connections are handed in), so start the sweep explicitly.
    this.#h1.emit('listening');
    this.#h1.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) =>
      this.#onClientError(err, socket),
    );
    // Envoy answers an upgrade with no upgrade_configs with 403 (`upgrade_failed`), and a CONNECT
    // with 404: only a connect_matcher route matches it (see h1server.ts).
    this.#h1.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      this.#localError('upgrade');
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
    this.#h1.on('connect', (_req: http.IncomingMessage, socket: net.Socket) => {
      this.#localError('connect');
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
    // node:http drops fields past its maxHeadersCount silently: keep one more than the limit so a
    // head over it is seen (and refused) rather than cut.
    this.#h1.maxHeadersCount = config.maxHeadersCount + 1;
    this.#codec = {
      maxHeaderBytes: config.maxRequestHeadersKb * 1024,
      maxHeadersCount: config.maxHeadersCount,
      headersTimeoutMs: config.requestHeadersTimeoutMs,
      streamIdleTimeoutMs: Math.min(config.streamIdleTimeoutMs, 2 ** 31 - 1),
      idleTimeoutMs: Math.min(config.idleTimeoutMs, 2 ** 31 - 1),
    };
    this.#h1Host = {
      dispatch: (ex) => this.dispatch(ex),
      fallback: (sock, info, rest) => {
        this.#info.set(sock, info);
        if (rest) sock.unshift(rest);
        this.#h1.emit('connection', sock);
        sock.resume();
      },
      localError: (kind) => this.#localError(kind),
    };
    this.#h2 = http2.createServer(
      { settings: { maxConcurrentStreams: 1024, maxHeaderListSize: config.maxRequestHeadersKb * 1024 } },
      onRequest,
    );
    this.#h2.on('session', (session: http2.ServerHttp2Session) => {
      if (this.#pendingInfo) this.#info.set(session, this.#pendingInfo);
      session.on('error', () => {});
    });
  }

  /**
   * Serves a downstream connection (plaintext or already-terminated TLS). `h2` picks the codec:
   * ALPN `h2`, or the HTTP/2 connection preface seen by the listener on a plaintext connection.
   */
  handle(socket: net.Socket, info: DownstreamInfo, h2: boolean): void {
    this.#stats.cxTotal.value++;
    this.#stats.cxActive.value++;
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#stats.cxActive.value--;
      this.#sockets.delete(socket);
    });
    const useH2 = this.config.codec === 'HTTP2' || (this.config.codec === 'AUTO' && h2);
    if (useH2) {
      this.#pendingInfo = info;
      this.#h2.emit('connection', jsDuplex(socket));
      this.#pendingInfo = undefined;
    } else {
      new H1ServerConnection(socket, info, this.#h1Host, this.#codec);
    }
    socket.resume();
  }

  /** Counts a request refused before routing: `downstream_cx_protocol_error`, `_rq_header_timeout`,
   * `no_route` (CONNECT), and `downstream_rq_4xx` (Envoy counts its local 4xx replies there too). */
  #localError(kind: LocalErrorKind): void {
    if (kind === 'connect') this.#stats.noRoute.value++;
    else if (kind !== 'upgrade') this.#stats.protocolError.value++;
    if (kind === 'timeout') this.#stats.headersTimeout.value++;
    this.#stats.rq[3]!.value++;
  }

  #onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    if (!socket.writable || socket.destroyed) {
      this.#stats.protocolError.value++;
      socket.destroy();
      return;
    }
    let status = 400;
    let text = 'Bad Request';
    let kind: LocalErrorKind = 'protocol';
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      text = 'Request Header Fields Too Large';
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      text = 'Request Timeout';
      kind = 'timeout';
    }
    this.#localError(kind);
    socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    socket.destroySoon();
  }

  /**
   * The cluster to proxy this connection to at L4 when the route table allows it
   * ({@link RouteTable.fastPathCluster}) and the cluster speaks HTTP/1.1 like the downstream.
   * Such connections skip per-request work: no request stats, no route timeout, no header rewriting;
   * the listener offers it to plaintext downstreams only.
   */
  fastPathCluster(): Cluster | undefined {
    const name = this.#table()?.fastPathCluster;
    const c = name ? this.#clusters.get(name) : undefined;
    if (!c || c.config.http2) return undefined;
    this.#stats.fastPath.value++;
    return c;
  }

  #table(): RouteTable | undefined {
    return this.#inline ?? (this.config.rdsName ? this.#routes(this.config.rdsName) : undefined);
  }

  #onRequest(req: DownReq, res: DownRes): void {
    if (req.httpVersionMajor === 2) {
      const info = this.#info.get((req as http2.Http2ServerRequest).stream.session!) ?? NO_INFO;
      this.dispatch(new NodeExchange(req, res, info));
      return;
    }
    // The lean codec's head rules, for the requests it hands to node:http (see h1server.ts).
    let target: { path: string; authority: string };
    try {
      // Two Host headers make the authority ambiguous (RFC 9112 §3.2).
      if (hostCount(req.rawHeaders) > 1) throw new H1ParseError(400, 'more than one Host header');
      if (req.rawHeaders.length > 2 * this.#codec.maxHeadersCount)
        throw new H1ParseError(431, 'more header fields than max_headers_count');
      target = requestTarget(req.method ?? 'GET', req.url ?? '', req.headers.host ?? '');
    } catch (err) {
      this.#localError('protocol');
      const status = (err as H1ParseError).status;
      (res as http.ServerResponse).writeHead(status, { 'content-length': 0, connection: 'close' }).end();
      req.resume();
      return;
    }
    this.dispatch(new NodeExchange(req, res, this.#info.get(req.socket) ?? NO_INFO, target));
  }

  /** Routes one request and forwards it (or answers locally), counting Envoy's stats. */
  dispatch(ex: Exchange): void {
    this.#stats.rqTotal.value++;
    const grpc = ex.grpc;
    const startMs = this.#log ? Date.now() : 0;
    ex.onFinish(() => {
      const c = this.#stats.rq[Math.floor(ex.status / 100) - 1];
      if (c) c.value++;
      if (this.#log) this.#log.write(accessLogLine(ex, startMs));
    });
    const table = this.#table();
    const hit = table?.route(ex);
    if (!hit) {
      this.#stats.noRoute.value++;
      localReply(ex, 404, '', grpc);
      ex.discard();
      return;
    }
    const action = hit.route.action;
    if (action.kind === 'direct_response') {
      localReply(ex, action.status, action.body, false);
      ex.discard();
      return;
    }
    if (action.kind === 'redirect') {
      const path = action.location.path ?? ex.path;
      const loc = `${action.location.scheme ?? ex.scheme}://${action.location.host ?? ex.authority}${path}`;
      ex.reply(action.status, { location: loc }, '');
      ex.discard();
      return;
    }
    const target = pickWeighted(action.clusters, action.totalWeight);
    const cluster = this.#clusters.get(target.name);
    if (!cluster) {
      this.#stats.noCluster.value++;
      localReply(ex, 503, '', grpc);
      ex.discard();
      return;
    }
    new Forward(ex, hit.route, action, hit.vh.retry, cluster, grpc, this.#stats.rqTimeout).start();
  }

  /** Stops serving: closes open downstream connections. */
  close(): void {
    for (const s of this.#sockets) s.destroy();
    this.#h1.close();
    this.#h2.close();
    this.#log?.end();
  }
}

/**
 * One access-log line in the spirit of Envoy's default format:
 * `[START_TIME] "METHOD PATH PROTOCOL" RESPONSE_CODE - BYTES_RECEIVED BYTES_SENT DURATION - "X-FORWARDED-FOR" "USER-AGENT" "X-REQUEST-ID" "AUTHORITY" "-"`.
 */
function accessLogLine(ex: Exchange, startMs: number): string {
  const h = ex.headers;
  const q = (v: unknown): string => (typeof v === 'string' ? v : '-');
  const received = Math.max(ex.contentLength, 0);
  return `[${new Date(startMs).toISOString()}] "${ex.method} ${ex.path} HTTP/${ex.httpVersion}" ${ex.status} - ${received} ${ex.bytesSent} ${Date.now() - startMs} - "${q(h['x-forwarded-for'])}" "${q(h['user-agent'])}" "${q(h['x-request-id'])}" "${ex.authority}" "-"\n`;
}

type RouteAction = Extract<RouteConfigEntry['action'], { kind: 'route' }>;

/** One proxied request: upstream attempts, retries, timeouts, response streaming. */
class Forward {
  readonly #ex: Exchange;
  readonly #action: RouteAction;
  readonly #retry: RetryPolicyConfig | undefined;
  readonly #cluster: Cluster;
  readonly #grpc: boolean;
  readonly #downTimeout: Counter;
  #attempt = 0;
  #done = false;
  #responded = false;
  /** null: no body; a Buffer: buffered for retries; undefined: streamed from the downstream. */
  #body: Buffer | null | undefined;
  #globalTimer: NodeJS.Timeout | undefined;
  #cancel: (() => void) | undefined;
  readonly #upHeaders: string[];
  readonly #path: string;

  constructor(
    ex: Exchange,
    route: RouteConfigEntry,
    action: RouteAction,
    vhRetry: RetryPolicyConfig | undefined,
    cluster: Cluster,
    grpc: boolean,
    downTimeout: Counter,
  ) {
    this.#ex = ex;
    this.#action = action;
    this.#retry = action.retry ?? vhRetry;
    this.#cluster = cluster;
    this.#grpc = grpc;
    this.#downTimeout = downTimeout;
    let path = ex.path;
    if (action.prefixRewrite !== undefined && route.match.path.kind === 'prefix')
      path = action.prefixRewrite + path.slice(route.match.path.value.length);
    else if (action.regexRewrite) {
      const q = path.indexOf('?');
      const bare = q < 0 ? path : path.slice(0, q);
      path =
        bare.replace(action.regexRewrite.pattern, action.regexRewrite.substitution) +
        (q < 0 ? '' : path.slice(q));
    }
    this.#path = path.startsWith('/') ? path : `/${path}`;
    this.#upHeaders = upstreamHeaders(ex.rawHeaders, action.hostRewrite ?? ex.authority, ex.info);
  }

  start(): void {
    if (this.#action.timeoutMs > 0) {
      this.#globalTimer = setTimeout(() => this.#onGlobalTimeout(), this.#action.timeoutMs);
    }
    this.#ex.onClose(() => {
      if (!this.#done) this.#finish();
    });
    const body = this.#ex.body;
    if (!body || Buffer.isBuffer(body)) {
      this.#body = body;
      this.#try();
    } else if (this.#retry && this.#retry.numRetries > 0) {
      // Buffer (bounded) so a retry can resend the body; past the bound, retries are off.
      const chunks: Buffer[] = [];
      let size = 0;
      body.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_RETRY_BUFFER) chunks.push(c);
      });
      body.once('end', () => {
        this.#body = size <= MAX_RETRY_BUFFER ? Buffer.concat(chunks) : undefined;
        if (this.#body === undefined) {
          this.#localReply(413, 'request body too large to buffer for retries');
          return;
        }
        this.#try();
      });
    } else {
      this.#body = undefined;
      this.#try();
    }
  }

  #try(): void {
    if (this.#done) return;
    const attempt = ++this.#attempt;
    let host: Host;
    try {
      host = this.#cluster.pick(this.#ex.info.originalDst);
      this.#cluster.beginRequest(host);
    } catch (err) {
      const e = err as UpstreamError;
      this.#localReply(
        503,
        e.flag === 'UH'
          ? 'no healthy upstream'
          : 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
      );
      return;
    }
    let settled = false;
    let perTry: NodeJS.Timeout | undefined;
    const end = (status: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(perTry);
      this.#cluster.endRequest(host, status);
    };
    const sink: UpstreamSink = {
      headers: (status, headers, endStream) => {
        if (this.#done || attempt !== this.#attempt) return false;
        if (this.#shouldRetryStatus(status)) {
          end(status);
          this.#cancel?.();
          this.#scheduleRetry();
          return false;
        }
        clearTimeout(perTry);
        this.#responded = true;
        if (attempt > 1) this.#cluster.stats.rqRetrySuccess.value++;
        this.#ex.head(status, headers, endStream);
        return true;
      },
      data: (chunk, flow) => {
        if (!this.#done) this.#ex.data(chunk, flow);
      },
      end: (trailers) => {
        end(this.#ex.status);
        if (this.#done) return;
        this.#ex.end(trailers);
        this.#finish();
      },
      error: (err, beforeHeaders) => {
        const status = this.#responded ? this.#ex.status : 0;
        end(status);
        if (this.#done || attempt !== this.#attempt) return;
        if (!beforeHeaders || this.#responded) {
          // Reset mid-response: the downstream cannot be told otherwise (Envoy resets too).
          this.#cluster.stats.rqRxReset.value++;
          this.#reset();
          return;
        }
        const flag = err instanceof UpstreamError ? err.flag : undefined;
        const connectFailure = flag === 'UF';
        // Overflow (max_pending_requests) is a local refusal, answered at once as Envoy does.
        if (flag !== 'UO' && this.#shouldRetryReset(connectFailure)) {
          this.#scheduleRetry();
          return;
        }
        // A malformed response head is a protocol error: 502 since Envoy 1.18
        // (envoy.reloadable_features.return_502_for_upstream_protocol_errors, on by default).
        const protocolError = err instanceof UpstreamError && err.cause instanceof H1ParseError;
        const reason = connectFailure
          ? 'connection failure'
          : flag === 'UO'
            ? 'overflow'
            : protocolError
              ? 'protocol error'
              : 'connection termination';
        this.#localReply(
          protocolError ? 502 : 503,
          `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`,
        );
      },
    };
    if (this.#retry?.perTryTimeoutMs) {
      perTry = setTimeout(() => {
        if (this.#done || this.#responded) return;
        this.#cluster.stats.rqPerTryTimeout.value++;
        end(504);
        this.#cancel?.();
        if (this.#canRetry() && this.#retry!.on.has('5xx')) this.#scheduleRetry();
        else this.#timeoutReply();
      }, this.#retry.perTryTimeoutMs);
    }
    this.#cancel = this.#cluster.config.http2 ? this.#sendH2(host, sink) : this.#sendH1(host, sink);
  }

  #canRetry(): boolean {
    const r = this.#retry;
    return !!r && this.#attempt <= r.numRetries && this.#body !== undefined && !this.#responded;
  }

  #shouldRetryStatus(status: number): boolean {
    if (!this.#canRetry()) return false;
    const on = this.#retry!.on;
    if (status >= 500 && on.has('5xx')) return true;
    if ((status === 502 || status === 503 || status === 504) && on.has('gateway-error')) return true;
    return on.has('retriable-status-codes') && this.#retry!.retriableStatusCodes.has(status);
  }

  #shouldRetryReset(connectFailure: boolean): boolean {
    if (!this.#canRetry()) return false;
    const on = this.#retry!.on;
    return (
      on.has('5xx') ||
      on.has('reset') ||
      on.has('gateway-error') ||
      (connectFailure && on.has('connect-failure'))
    );
  }

  #scheduleRetry(): void {
    this.#cluster.stats.rqRetry.value++;
    // Envoy: exponential backoff with full jitter from a 25 ms base.
    const ms = Math.random() * RETRY_BACKOFF_BASE_MS * 2 ** Math.min(this.#attempt - 1, 4);
    setTimeout(() => this.#try(), ms).unref();
  }

  #sendH1(host: Host, sink: UpstreamSink): () => void {
    const ex = this.#ex;
    return this.#cluster.h1Pool(host).request(
      {
        method: ex.method,
        path: this.#path,
        headers: this.#upHeaders,
        body: this.#body === undefined ? (ex.body as Readable) : this.#body,
        contentLength: ex.contentLength,
      },
      sink,
    );
  }

  #sendH2(host: Host, sink: UpstreamSink): () => void {
    let stream: http2.ClientHttp2Stream | undefined;
    let cancelled = false;
    let gotHeaders = false;
    this.#cluster.h2Session(host).then(
      (session) => {
        if (cancelled) return;
        const h: http2.OutgoingHttpHeaders = {
          ':method': this.#ex.method,
          ':path': this.#path,
          ':scheme': this.#cluster.tls ? 'https' : 'http',
          ':authority': this.#ex.authority,
        };
        for (let i = 0; i < this.#upHeaders.length; i += 2) {
          const k = this.#upHeaders[i]!;
          if (k === 'host') h[':authority'] = this.#upHeaders[i + 1]!;
          else {
            const prev = h[k];
            h[k] =
              prev === undefined
                ? this.#upHeaders[i + 1]!
                : ([] as string[]).concat(prev as string, this.#upHeaders[i + 1]!);
          }
        }
        const s = session.request(h, {
          endStream: this.#body === null || (this.#body !== undefined && this.#body.length === 0),
        });
        stream = s;
        s.on('response', (headers, flags) => {
          gotHeaders = true;
          const status = Number(headers[':status']);
          const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
          if (!sink.headers(status, headers as Record<string, string | string[]>, endStream)) {
            s.close(http2.constants.NGHTTP2_CANCEL);
            return;
          }
          // A trailers-only gRPC response ends with the headers frame.
          if (endStream) sink.end(undefined);
        });
        let trailers: Record<string, string | string[]> | undefined;
        s.on('trailers', (t) => (trailers = t as Record<string, string | string[]>));
        s.on('data', (chunk: Buffer) => sink.data(chunk, s));
        s.on('end', () => {
          if (gotHeaders) sink.end(trailers);
        });
        s.on('error', (err) => sink.error(err, !gotHeaders));
        s.on('close', () => {
          if (!gotHeaders && !cancelled) sink.error(new Error(`stream closed with code ${s.rstCode}`), true);
        });
        if (this.#body === undefined) (this.#ex.body as Readable).pipe(s);
        else if (this.#body && this.#body.length) s.end(this.#body);
      },
      (err: Error) => {
        if (!cancelled) sink.error(err, true);
      },
    );
    return () => {
      cancelled = true;
      stream?.close(http2.constants.NGHTTP2_CANCEL);
    };
  }

  #onGlobalTimeout(): void {
    if (this.#done) return;
    this.#cluster.stats.rqTimeout.value++;
    this.#downTimeout.value++;
    this.#cancel?.();
    if (this.#responded) this.#reset();
    else this.#timeoutReply();
  }

  #timeoutReply(): void {
    this.#localReply(504, 'upstream request timeout');
  }

  #localReply(status: number, body: string): void {
    if (this.#done) return;
    localReply(this.#ex, status, body, this.#grpc);
    this.#ex.discard();
    this.#finish();
  }

  #reset(): void {
    this.#ex.reset();
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#globalTimer);
  }
}

/** Request headers never forwarded upstream: hop-by-hop ones, those the proxy sets itself, and
 * the framing (the upstream codec writes its own). `x-forwarded-client-cert` is dropped: Envoy's
 * `forward_client_cert_details` default SANITIZE, which App Mesh keeps, so a caller cannot claim an
 * identity to the app. */
const NOT_FORWARDED = new Set([
  ...HOP_BY_HOP,
  'x-forwarded-proto',
  'expect',
  'x-forwarded-client-cert',
  'content-length',
]);

/** Builds the upstream header list (flat name/value array) from the downstream's raw list:
 * pseudo-headers and {@link NOT_FORWARDED} dropped, `host` set, `x-forwarded-proto` added as Envoy
 * does. */
export function upstreamHeaders(raw: string[], host: string, info: DownstreamInfo): string[] {
  const out: string[] = ['host', host];
  let te: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (k.charCodeAt(0) === 58 /* ':' */) continue;
    if (NOT_FORWARDED.has(k)) {
      if (k === 'te') te = raw[i + 1];
      continue;
    }
    out.push(k, raw[i + 1]!);
  }
  // gRPC needs `te: trailers` end to end.
  if (te === 'trailers') out.push('te', 'trailers');
  out.push('x-forwarded-proto', info.tls ? 'https' : 'http');
  return out;
}

/**
 * A JS Duplex over `socket`. node:http2 consumes a StreamBase handle directly in C++, which loses
 * bytes the listener already read (the peeked preface) and does not read from a TLSSocket that was
 * wrapped after accept; over a JS stream, http2 reads through the stream API instead.
 */
function jsDuplex(socket: net.Socket): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.once('end', () => d.push(null));
  socket.once('close', () => d.destroy());
  return d;
}

function hostCount(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') n++;
  return n;
}
