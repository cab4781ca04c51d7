/**
 * The HTTP/1.1 upstream connection pool of one host: keep-alive connections (plain or TLS, opened
 * by the cluster so cx/ssl stats, SAN checks and session resumption stay in one place), one request
 * at a time per connection, requests queued FIFO past `maxConnections` (Envoy's HTTP/1.1 pool and
 * its `max_connections` circuit breaker). Responses are parsed by the lean codec and streamed to an
 * {@link UpstreamSink}; per request the pool allocates one attempt object and the head string.
 */
import type { Readable } from 'node:stream';
import {
  ChunkedDecoder,
  H1ParseError,
  SegmentJoiner,
  headEnd,
  parseResponseHead,
  type H1Head,
} from './h1codec.js';
import { UpstreamError } from './errors.js';
import type { UpstreamSocket } from './cluster.js';

/** Callbacks from an upstream attempt. `headers` returns false to discard the response (retry). */
export interface UpstreamSink {
  /** The response head; `endStream` when no body follows. */
  headers(status: number, headers: Record<string, string | string[]>, endStream: boolean): boolean;
  /** A body chunk; under downstream backpressure the sink pauses `flow` until the drain. */
  data(chunk: Buffer, flow: { pause(): unknown; resume(): unknown }): void;
  /** The response ended; `trailers` from a chunked body's trailer section, when any. */
  end(trailers: Record<string, string | string[]> | undefined): void;
  /** The attempt failed: the error of {@link H1PoolOptions.connect}, or an {@link UpstreamError}
   * (`UF` pool closed, `UR` reset or malformed response). `beforeHeaders`: no head was passed on
   * yet, so a retry is still possible. */
  error(err: Error, beforeHeaders: boolean): void;
}

/** One request for {@link H1Pool.request}. `headers` is a flat name/value list without framing
 * headers; `body` is none (`null`), a buffered body, or a stream of known (`contentLength`) or
 * unknown length (sent chunked). */
export interface H1Request {
  method: string;
  path: string;
  headers: string[];
  body: Buffer | null | Readable;
  contentLength: number;
}

/** Largest response head accepted from an upstream, bytes (Envoy's default header limit). */
const MAX_RESPONSE_HEAD = 60 * 1024;
/** Methods for which an absent body is still sent as `content-length: 0` (RFC 9110 §8.6). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Requests waiting for a connection, across the pools of one cluster (Envoy's
 * `max_pending_requests` circuit breaker is per cluster, not per host).
 */
export interface PendingRequests {
  /** requests queued now */
  active: number;
  /** Envoy's cluster `max_pending_requests` */
  readonly max: number;
  /** counts a request refused because `active` reached `max` (`upstream_rq_pending_overflow`) */
  overflowed(): void;
}

/** Options of one host's pool. */
export interface H1PoolOptions {
  /** Opens a connection to the host (for TLS, handshake and SAN check done); rejects on failure. */
  connect: () => Promise<UpstreamSocket>;
  /** Envoy's cluster `max_connections`: requests past it wait in the FIFO queue. */
  maxConnections: number;
  /** The cluster's queue bound: a request finding it full fails at once with `UO` (overflow). */
  pending: PendingRequests;
  /** A keep-alive connection unused this long (ms) is closed. */
  idleTimeoutMs: number;
}

/** The HTTP/1.1 keep-alive pool of one upstream host (see the module docstring). Failures reach
 * the request's {@link UpstreamSink.error}; nothing is thrown. */
export class H1Pool {
  readonly #opts: H1PoolOptions;
  readonly #idle: H1Connection[] = [];
  readonly #queue: Attempt[] = [];
  #open = 0;
  #destroyed = false;

  constructor(opts: H1PoolOptions) {
    this.#opts = opts;
  }

  /** {@link destroy} was called: new requests fail at once with `UF`. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Sends `req`; returns a function that abandons it (the connection is then closed). */
  request(req: H1Request, sink: UpstreamSink): () => void {
    const a = new Attempt(req, sink);
    if (this.#destroyed) {
      sink.error(new UpstreamError('UF', 'connection pool closed'), true);
      return a.cancel;
    }
    const idle = this.#idle.pop();
    if (idle) idle.run(a);
    else if (this.#open < this.#opts.maxConnections) this.#connect(a);
    else {
      const pending = this.#opts.pending;
      if (pending.active >= pending.max) {
        pending.overflowed();
        sink.error(new UpstreamError('UO', 'upstream overflow (circuit breaker max_pending_requests)'), true);
        return a.cancel;
      }
      pending.active++;
      a.pending = pending;
      this.#queue.push(a);
    }
    return a.cancel;
  }

  /** The oldest queued request, off the queue and out of the pending count. */
  #dequeue(): Attempt | undefined {
    const a = this.#queue.shift();
    a?.leaveQueue();
    return a;
  }

  #connect(a: Attempt | undefined): void {
    this.#open++;
    this.#opts.connect().then(
      (sock) => {
        const conn = new H1Connection(sock, this);
        if (this.#destroyed) conn.destroy();
        else if (a && !a.cancelled) conn.run(a);
        else this.release(conn);
      },
      (err: Error) => {
        this.#open--;
        if (a && !a.cancelled) a.sink.error(err, true);
        else this.#next();
      },
    );
  }

  /** A connection finished its request and may serve the next one (closed once the pool is
   * destroyed: requests in flight at that time finish, as Envoy drains a removed host). */
  release(conn: H1Connection): void {
    if (this.#destroyed) {
      conn.destroy();
      return;
    }
    for (let a = this.#dequeue(); a; a = this.#dequeue()) {
      if (!a.cancelled) {
        conn.run(a);
        return;
      }
    }
    this.#idle.push(conn);
    conn.idle(this.#opts.idleTimeoutMs);
  }

  /** A connection closed: forget it; a queued request may now open a new one. */
  closed(conn: H1Connection): void {
    this.#open--;
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    this.#next();
  }

  #next(): void {
    while (this.#queue.length && this.#queue[0]!.cancelled) this.#dequeue();
    if (this.#queue.length && !this.#destroyed && this.#open < this.#opts.maxConnections)
      this.#connect(this.#dequeue());
  }

  /** Closes every connection; queued requests fail with a connect failure. */
  destroy(): void {
    this.#destroyed = true;
    for (const c of this.#idle.splice(0)) c.destroy();
    for (const a of this.#queue.splice(0)) {
      a.leaveQueue();
      if (!a.cancelled) a.sink.error(new UpstreamError('UF', 'connection pool closed'), true);
    }
  }
}

/** One request in flight (or queued). */
class Attempt {
  readonly req: H1Request;
  readonly sink: UpstreamSink;
  cancelled = false;
  conn: H1Connection | undefined;
  /** Set while the request waits in a pool's queue (it counts as pending there). */
  pending: PendingRequests | undefined;

  constructor(req: H1Request, sink: UpstreamSink) {
    this.req = req;
    this.sink = sink;
  }

  /** No longer waiting: out of the cluster's pending count (once). */
  leaveQueue(): void {
    if (this.pending) this.pending.active--;
    this.pending = undefined;
  }

  readonly cancel = (): void => {
    if (this.cancelled) return;
    this.cancelled = true;
    // A cancelled request stays in the queue until reached, but frees its pending slot now.
    this.leaveQueue();
    this.conn?.abandon(this);
  };
}

/** One keep-alive connection; runs one {@link Attempt} at a time. */
class H1Connection {
  readonly #sock: UpstreamSocket;
  readonly #pool: H1Pool;
  #a: Attempt | undefined;
  #buf: Buffer | undefined;
  /** Bytes of #buf already searched for the end of the response head. */
  #scanned = 0;
  readonly #joiner = new SegmentJoiner();
  #head: H1Head | undefined;
  /** Body bytes still expected (Content-Length), -1 for chunked, -2 for read-until-close. */
  #left = 0;
  #chunked: ChunkedDecoder | undefined;
  #requestDone = false;
  #responseDone = false;
  #reusable = true;
  #closed = false;
  /** Keep-alive hint of the last response (ms), 0 when none. */
  #hintMs = 0;
  /** The socket timeout currently armed (ms), 0 when none. */
  #timeoutMs = 0;

  constructor(sock: UpstreamSocket, pool: H1Pool) {
    this.#sock = sock;
    this.#pool = pool;
    sock.on('data', (d: Buffer) => this.#onData(d));
    sock.on('close', () => this.#onClose());
    sock.on('end', () => sock.destroy());
    sock.on('timeout', () => {
      if (!this.#a) this.destroy();
    });
  }

  /** Waits for the next request. The socket's timeout stays armed (activity re-arms it, which is
   * cheaper than arming it per request) and only closes the connection while idle; it is shortened
   * to a second before the server's `Keep-Alive: timeout` hint so a request never races that close. */
  idle(ms: number): void {
    const want = this.#hintMs > 0 ? Math.min(ms, Math.max(this.#hintMs - 1000, 1)) : ms;
    if (want !== this.#timeoutMs) {
      this.#timeoutMs = want;
      this.#sock.setTimeout(want);
    }
  }

  run(a: Attempt): void {
    this.#a = a;
    a.conn = this;
    this.#head = undefined;
    this.#requestDone = false;
    this.#responseDone = false;
    this.#writeRequest(a.req);
  }

  #writeRequest(req: H1Request): void {
    let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
    const h = req.headers;
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
    const body = req.body;
    const sock = this.#sock;
    if (body === null) {
      if (BODY_METHODS.has(req.method)) head += 'content-length: 0\r\n';
      sock.write(`${head}\r\n`, 'latin1');
      this.#requestDone = true;
      return;
    }
    if (Buffer.isBuffer(body)) {
      sock.cork();
      sock.write(`${head}content-length: ${body.length}\r\n\r\n`, 'latin1');
      if (body.length) sock.write(body);
      sock.uncork();
      this.#requestDone = true;
      return;
    }
    const chunked = req.contentLength < 0;
    sock.write(
      `${head}${chunked ? 'transfer-encoding: chunked' : `content-length: ${req.contentLength}`}\r\n\r\n`,
      'latin1',
    );
    const a = this.#a!;
    const onData = (c: Buffer): void => {
      if (this.#a !== a || !c.length) return;
      const ok = chunked ? writeChunk(sock, c) : sock.write(c);
      if (!ok) {
        body.pause();
        sock.once('drain', () => body.resume());
      }
    };
    const onEnd = (): void => {
      cleanup();
      if (this.#a !== a) return;
      if (chunked) sock.write('0\r\n\r\n');
      this.#requestDone = true;
      this.#maybeRelease();
    };
    const onAbort = (): void => {
      cleanup();
      // The downstream went away mid-body: the upstream request cannot be completed.
      if (this.#a === a) this.#fail(new UpstreamError('UR', 'downstream aborted the request body'));
    };
    const cleanup = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onAbort);
      body.off('close', onClose);
    };
    const onClose = (): void => {
      if (!body.readableEnded) onAbort();
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onAbort);
    body.once('close', onClose);
    body.resume();
  }

  #onData(d: Buffer): void {
    const a = this.#a;
    if (!a || this.#responseDone) {
      // Bytes nobody asked for: the connection's framing is lost.
      this.destroy();
      return;
    }
    let buf = d;
    if (this.#buf) {
      buf = this.#joiner.append(this.#buf, d);
      this.#buf = undefined;
    }
    try {
      this.#consume(a, buf);
    } catch (err) {
      this.#fail(
        err instanceof H1ParseError ? new UpstreamError('UR', err.message, { cause: err }) : (err as Error),
      );
    }
  }

  #consume(a: Attempt, buf: Buffer): void {
    let pos = 0;
    while (!this.#head) {
      const end = headEnd(buf, pos, MAX_RESPONSE_HEAD, pos === 0 ? this.#scanned : 0);
      if (end < 0) {
        // The next segment is appended in place and the search resumes where this one stopped.
        this.#buf = pos === 0 ? buf : buf.subarray(pos);
        this.#scanned = buf.length - pos;
        return;
      }
      this.#scanned = 0;
      const head = parseResponseHead(buf, pos, end);
      pos = end;
      // Interim responses (100 Continue, 103 Early Hints) are not forwarded; 101 never comes: we do
      // not forward upgrades.
      if (head.status >= 100 && head.status < 200) continue;
      this.#startBody(a, head);
      if (this.#a !== a) return;
    }
    if (this.#left === 0) return this.#complete(a, pos, buf);
    if (this.#left === -1) {
      const end = this.#chunked!.feed(buf, pos, (c) => this.#deliver(a, c));
      if (end >= 0 && this.#a === a) this.#complete(a, end, buf);
      return;
    }
    if (pos >= buf.length) return;
    if (this.#left === -2) {
      this.#deliver(a, pos === 0 ? buf : buf.subarray(pos));
      return;
    }
    const take = Math.min(this.#left, buf.length - pos);
    this.#left -= take;
    this.#deliver(a, pos === 0 && take === buf.length ? buf : buf.subarray(pos, pos + take));
    if (this.#left === 0 && this.#a === a) this.#complete(a, pos + take, buf);
  }

  #startBody(a: Attempt, head: H1Head): void {
    this.#head = head;
    this.#hintMs = head.keepAliveMs;
    if (head.close || head.minor === 0) this.#reusable = false;
    const noBody = a.req.method === 'HEAD' || head.status === 204 || head.status === 304;
    if (noBody) this.#left = 0;
    else if (head.chunked) {
      this.#left = -1;
      this.#chunked = new ChunkedDecoder();
    } else if (head.contentLength >= 0) this.#left = head.contentLength;
    else {
      this.#left = -2;
      this.#reusable = false;
    }
    if (!a.sink.headers(head.status, toObject(head.headers), false)) this.abandon(a);
  }

  #deliver(a: Attempt, chunk: Buffer): void {
    if (this.#a === a && chunk.length) a.sink.data(chunk, this.#sock);
  }

  #complete(a: Attempt, end: number, buf: Buffer): void {
    // Extra bytes after a complete response: the server pipelines garbage; do not reuse.
    if (end < buf.length) this.#reusable = false;
    this.#responseDone = true;
    const trailers = this.#chunked?.trailers.length ? toObject(this.#chunked.trailers) : undefined;
    this.#chunked = undefined;
    a.sink.end(trailers);
    this.#maybeRelease();
  }

  #maybeRelease(): void {
    if (!this.#responseDone || !this.#requestDone || !this.#a) return;
    this.#a.conn = undefined;
    this.#a = undefined;
    this.#sock.resume();
    if (this.#reusable && !this.#closed) this.#pool.release(this);
    else this.destroy();
  }

  /** The request was cancelled mid-flight: the connection cannot be reused. */
  abandon(a: Attempt): void {
    if (this.#a !== a) return;
    this.#a = undefined;
    this.destroy();
  }

  #fail(err: Error): void {
    const a = this.#a;
    this.#a = undefined;
    this.destroy();
    if (a && !a.cancelled) a.sink.error(err, !this.#head);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.closed(this);
    const a = this.#a;
    if (!a) return;
    this.#a = undefined;
    if (this.#left === -2 && this.#head) {
      // A close-delimited body ends with the connection.
      this.#responseDone = true;
      a.sink.end(undefined);
      return;
    }
    if (!a.cancelled)
      a.sink.error(
        new UpstreamError('UR', 'upstream connection closed before the response ended'),
        !this.#head,
      );
  }

  destroy(): void {
    this.#sock.destroy();
    this.#onClose();
  }
}

function writeChunk(sock: UpstreamSocket, c: Buffer): boolean {
  sock.cork();
  sock.write(`${c.length.toString(16)}\r\n`, 'latin1');
  sock.write(c);
  const ok = sock.write('\r\n', 'latin1');
  sock.uncork();
  return ok;
}

/** A flat header list as the object node:http/http2 writers take (repeated names → arrays). */
export function toObject(flat: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!;
    const prev = out[k];
    if (prev === undefined) out[k] = flat[i + 1]!;
    else if (Array.isArray(prev)) prev.push(flat[i + 1]!);
    else out[k] = [prev, flat[i + 1]!];
  }
  return out;
}
