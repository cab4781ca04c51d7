/**
 * The lean HTTP/1.1 server codec of the http_connection_manager: keep-alive connections whose
 * requests carry no body or a Content-Length body of at most 64 KiB (the bulk of mesh traffic) are
 * parsed from the socket's bytes and answered without node:http's per-request objects. Anything else
 * (a chunked or larger body, Expect, HTTP/1.0, no Host) hands the connection, from that request on,
 * to node:http ({@link H1ServerHost.fallback}), so every feature keeps its one implementation.
 *
 * Envoy semantics kept here (source/common/http/http1/codec_impl.cc, conn_manager_impl.cc):
 * malformed or smuggling-shaped heads → 400 and close; a head over max_request_headers_kb or with
 * more than max_headers_count fields → 431; an absolute-form target routes by its own authority;
 * a head not complete within request_headers_timeout → 408, a body idle for stream_idle_timeout →
 * 408; two Host headers → 400; an upgrade without upgrade_configs → 403 (`upgrade_failed`);
 * CONNECT → 404, as no route without a connect_matcher matches it (Envoy FAQ "Why is Envoy sending
 * 404s to CONNECT requests?"), and the connection closes (the client may already be sending tunnel
 * bytes); pipelined requests answered in order.
 */
import http from 'node:http';
import type net from 'node:net';
import {
  H1ParseError,
  SegmentJoiner,
  headEnd,
  parseRequestHead,
  requestTarget,
  type H1Head,
} from './h1codec.js';
import { toObject } from './h1upstream.js';
import { HOP_BY_HOP, MAX_INLINE_BODY, type Exchange } from './exchange.js';
import type { DownstreamInfo } from './http.js';
import { isGrpc } from './router.js';

/** Why the codec answered a connection itself (for the HCM's stats). */
export type LocalErrorKind = 'protocol' | 'timeout' | 'upgrade' | 'connect';

/** What a connection needs from its http_connection_manager. */
export interface H1ServerHost {
  /** Routes and forwards one request. */
  dispatch(ex: Exchange): void;
  /** Serves the connection with node:http from now on; `rest` holds the unparsed bytes. */
  fallback(sock: net.Socket, info: DownstreamInfo, rest: Buffer | undefined): void;
  /** Counts a request the codec refused. */
  localError(kind: LocalErrorKind): void;
}

/** Limits of the codec: head size in bytes, header and idle timeouts in ms (0 = none). */
export interface H1ServerOptions {
  /** Envoy `max_request_headers_kb`, in bytes: a longer head gets 431. */
  maxHeaderBytes: number;
  /** Envoy `max_headers_count`: a head with more header fields gets 431. */
  maxHeadersCount: number;
  /** Envoy `request_headers_timeout` (ms): a head not complete by then gets 408. */
  headersTimeoutMs: number;
  /** Envoy `stream_idle_timeout` (ms): a request body with no bytes for that long gets 408. */
  streamIdleTimeoutMs: number;
  /** Envoy `idle_timeout` (ms): a connection with no bytes either way that long closes. */
  idleTimeoutMs: number;
}

/** Unparsed bytes held while a request is in flight before reading stops (pipelining bound). */
const MAX_PIPELINED_BYTES = 64 * 1024;

/** One downstream HTTP/1.1 connection served by the lean codec. */
export class H1ServerConnection {
  readonly sock: net.Socket;
  readonly #info: DownstreamInfo;
  readonly #host: H1ServerHost;
  readonly #opts: H1ServerOptions;
  /** Bytes received and not yet parsed. */
  #buf: Buffer | undefined;
  readonly #joiner = new SegmentJoiner();
  /** Bytes of #buf already searched for the end of the head. */
  #scanned = 0;
  #ex: FastExchange | undefined;
  /** A parsed head whose Content-Length body is still arriving. */
  #awaitingBody: { head: H1Head; target: { path: string; authority: string }; end: number } | undefined;
  #headTimer: NodeJS.Timeout | undefined;
  #bodyTimer: NodeJS.Timeout | undefined;
  #parsing = false;
  #closing = false;
  #detached = false;

  constructor(sock: net.Socket, info: DownstreamInfo, host: H1ServerHost, opts: H1ServerOptions) {
    this.sock = sock;
    this.#info = info;
    this.#host = host;
    this.#opts = opts;
    sock.on('data', this.#onData);
    sock.on('close', this.#onClose);
    sock.on('timeout', this.#onIdle);
    if (opts.idleTimeoutMs > 0) sock.setTimeout(opts.idleTimeoutMs);
  }

  readonly #onData = (d: Buffer): void => {
    this.#buf = this.#buf ? this.#joiner.append(this.#buf, d) : d;
    if (this.#ex) {
      if (this.#buf.length > MAX_PIPELINED_BYTES) this.sock.pause();
      return;
    }
    this.#parse();
  };

  #parse(): void {
    if (this.#parsing) return;
    this.#parsing = true;
    try {
      while (!this.#ex && this.#buf && !this.#closing && !this.#detached && this.#next(this.#buf));
    } finally {
      this.#parsing = false;
    }
  }

  /** Handles the request at the start of `buf`; false when its head or body is still incomplete. */
  #next(buf: Buffer): boolean {
    const waiting = this.#awaitingBody;
    if (waiting) return this.#dispatch(buf, waiting.head, waiting.target, waiting.end);
    let head: H1Head;
    let end: number;
    let target: { path: string; authority: string } | undefined;
    try {
      end = headEnd(buf, 0, this.#opts.maxHeaderBytes, this.#scanned);
      if (end < 0) {
        this.#scanned = buf.length;
        this.#armHeadTimer();
        return false;
      }
      head = parseRequestHead(buf, 0, end);
      if (head.hosts > 1) throw new H1ParseError(400, 'more than one Host header');
      if (head.headers.length > 2 * this.#opts.maxHeadersCount)
        throw new H1ParseError(431, 'more header fields than max_headers_count');
      if (head.method !== 'CONNECT') target = requestTarget(head.method, head.target, hostOf(head));
    } catch (err) {
      this.#refuse(err instanceof H1ParseError ? err.status : 400, 'protocol');
      return false;
    }
    clearTimeout(this.#headTimer);
    this.#headTimer = undefined;
    this.#scanned = 0;
    if (!target) {
      this.#refuse(404, 'connect');
      return false;
    }
    if (head.upgrade) {
      this.#refuse(403, 'upgrade');
      return false;
    }
    if (
      head.minor === 0 ||
      head.hosts === 0 ||
      head.expectContinue ||
      head.chunked ||
      head.contentLength > MAX_INLINE_BODY
    ) {
      this.#detach(buf);
      return false;
    }
    return this.#dispatch(buf, head, target, end);
  }

  /**
   * Dispatches the request whose head ends at `end` once its Content-Length body (if any) is in
   * `buf`; until then the parsed head is kept, so a body arriving in pieces does not re-parse it.
   */
  #dispatch(buf: Buffer, head: H1Head, target: { path: string; authority: string }, end: number): boolean {
    let body: Buffer | null = null;
    if (head.contentLength > 0) {
      if (buf.length - end < head.contentLength) {
        this.#awaitingBody = { head, target, end };
        this.#armBodyTimer();
        return false;
      }
      this.#awaitingBody = undefined;
      clearTimeout(this.#bodyTimer);
      // A copy: the bytes sit in the segment joiner's store, which the next segments overwrite.
      body = Buffer.from(buf.subarray(end, end + head.contentLength));
      end += head.contentLength;
    }
    this.#buf = end < buf.length ? buf.subarray(end) : undefined;
    const ex = new FastExchange(this, head, target, this.#info, body);
    this.#ex = ex;
    try {
      this.#host.dispatch(ex);
    } catch {
      // A fault in routing must not take the proxy down: this connection ends, others go on.
      this.sock.destroy();
      return false;
    }
    return true;
  }

  /** Envoy's stream_idle_timeout while a body arrives: no byte for that long → 408 and close. */
  #armBodyTimer(): void {
    clearTimeout(this.#bodyTimer);
    if (this.#opts.streamIdleTimeoutMs <= 0) return;
    this.#bodyTimer = setTimeout(() => {
      this.#bodyTimer = undefined;
      if (this.#awaitingBody && !this.#closing) this.#refuse(408, 'timeout');
    }, this.#opts.streamIdleTimeoutMs);
  }

  #armHeadTimer(): void {
    if (this.#headTimer || this.#opts.headersTimeoutMs <= 0) return;
    this.#headTimer = setTimeout(() => {
      this.#headTimer = undefined;
      if (!this.#ex && !this.#closing) this.#refuse(408, 'timeout');
    }, this.#opts.headersTimeoutMs);
  }

  /** Answers with a local error and closes the connection (nothing after it is trusted). */
  #refuse(status: number, kind: LocalErrorKind): void {
    this.#host.localError(kind);
    this.#closing = true;
    this.#buf = undefined;
    this.sock.off('data', this.#onData);
    this.sock.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    );
    this.sock.destroySoon();
  }

  #detach(rest: Buffer | undefined): void {
    this.#detached = true;
    clearTimeout(this.#headTimer);
    const s = this.sock;
    s.off('data', this.#onData);
    s.off('close', this.#onClose);
    s.off('timeout', this.#onIdle);
    s.setTimeout(0);
    s.pause();
    this.#buf = undefined;
    this.#host.fallback(s, this.#info, rest);
  }

  /** The exchange in flight has written its whole response. */
  done(ex: FastExchange, close: boolean): void {
    if (this.#ex !== ex) return;
    this.#ex = undefined;
    if (close) {
      this.#closing = true;
      this.sock.end();
      return;
    }
    if (this.sock.isPaused()) this.sock.resume();
    this.#parse();
  }

  readonly #onIdle = (): void => {
    // The socket timeout is the idle timeout between requests; a request in flight has its own.
    if (!this.#ex) this.sock.destroy();
  };

  readonly #onClose = (): void => {
    clearTimeout(this.#headTimer);
    clearTimeout(this.#bodyTimer);
    this.#closing = true;
    const ex = this.#ex;
    this.#ex = undefined;
    ex?.closed();
  };
}

/** The Host header's value ('' when absent). */
function hostOf(head: H1Head): string {
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i] === 'host') return h[i + 1]!;
  return '';
}

/** Statuses and methods whose responses carry no body (RFC 9110 §6.4.1). */
function bodiless(status: number, method: string): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
}

/** An {@link Exchange} of a bodiless HTTP/1.1 request on an {@link H1ServerConnection}. */
class FastExchange implements Exchange {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly httpVersion = '1.1';
  readonly scheme: string;
  readonly h2 = false;
  readonly grpc: boolean;
  readonly rawHeaders: string[];
  readonly info: DownstreamInfo;
  readonly body: Buffer | null;
  readonly contentLength: number;
  status = 0;
  bytesSent = 0;
  readonly #conn: H1ServerConnection;
  readonly #close: boolean;
  #headers: Record<string, string | string[]> | undefined;
  #chunked = false;
  #noBody = false;
  #over = false;
  #onFinish: (() => void) | undefined;
  #onClose: (() => void) | undefined;

  constructor(
    conn: H1ServerConnection,
    head: H1Head,
    target: { path: string; authority: string },
    info: DownstreamInfo,
    body: Buffer | null,
  ) {
    this.#conn = conn;
    this.body = body;
    this.contentLength = body ? body.length : -1;
    this.method = head.method;
    this.path = target.path;
    this.authority = target.authority;
    this.rawHeaders = head.headers;
    this.info = info;
    this.scheme = info.tls ? 'https' : 'http';
    this.#close = head.close;
    let grpc = false;
    const h = head.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === 'content-type') grpc = isGrpc(h[i + 1]);
    this.grpc = grpc;
  }

  get headers(): Record<string, string | string[]> {
    return (this.#headers ??= toObject(this.rawHeaders));
  }

  head(status: number, headers: Record<string, string | string[] | undefined>, endStream: boolean): void {
    if (this.#over || this.status) return;
    this.status = status;
    this.#noBody = bodiless(status, this.method);
    let s = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    let framed = false;
    for (const k in headers) {
      const v = headers[k];
      if (v === undefined || k.charCodeAt(0) === 58 || HOP_BY_HOP.has(k)) continue;
      if (k === 'content-length') {
        framed = true;
        this.bytesSent = Number(v);
      }
      if (typeof v === 'string') s += `${k}: ${v}\r\n`;
      else for (const x of v) s += `${k}: ${x}\r\n`;
    }
    if (!framed && !this.#noBody) {
      if (endStream) s += 'content-length: 0\r\n';
      else {
        this.#chunked = true;
        s += 'transfer-encoding: chunked\r\n';
      }
    }
    if (this.#close) s += 'connection: close\r\n';
    const sock = this.#conn.sock;
    // A small response arrives whole in one upstream read: corking until the next tick sends
    // head, body and end in one write (one TLS record, one syscall).
    sock.cork();
    process.nextTick(uncork, sock);
    sock.write(`${s}\r\n`, 'latin1');
  }

  data(chunk: Buffer, flow: { pause(): unknown; resume(): unknown }): void {
    if (this.#over || this.#noBody || !chunk.length) return;
    const sock = this.#conn.sock;
    let ok: boolean;
    if (this.#chunked) {
      this.bytesSent += chunk.length;
      sock.cork();
      sock.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      sock.write(chunk);
      ok = sock.write('\r\n', 'latin1');
      sock.uncork();
    } else ok = sock.write(chunk);
    if (!ok) {
      flow.pause();
      sock.once('drain', () => flow.resume());
    }
  }

  end(): void {
    if (this.#over) return;
    if (this.#chunked) this.#conn.sock.write('0\r\n\r\n', 'latin1');
    this.#over = true;
    this.#onFinish?.();
    this.#conn.done(this, this.#close);
    this.#onClose?.();
  }

  reply(status: number, headers: Record<string, string>, body: string): void {
    this.head(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) }, false);
    if (body && !this.#noBody) this.#conn.sock.write(body);
    this.end();
  }

  reset(): void {
    if (this.#over) return;
    this.#over = true;
    this.#conn.sock.destroy();
    this.#onClose?.();
  }

  discard(): void {}

  onFinish(fn: () => void): void {
    const prev = this.#onFinish;
    this.#onFinish = prev ? () => (prev(), fn()) : fn;
  }

  onClose(fn: () => void): void {
    const prev = this.#onClose;
    this.#onClose = prev ? () => (prev(), fn()) : fn;
  }

  /** The connection closed under the exchange. */
  closed(): void {
    if (this.#over) return;
    this.#over = true;
    this.#onClose?.();
  }
}

function uncork(sock: net.Socket): void {
  sock.uncork();
}
