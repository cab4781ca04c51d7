/**
 * The downstream half of one HTTP request as the router sees it, whatever codec carries it:
 * node:http / node:http2 ({@link NodeExchange}) or the lean HTTP/1.1 codec (h1server.ts). Also the
 * Envoy local reply (`sendLocalReply`: plain text, or a trailers-only gRPC response).
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { Readable } from 'node:stream';
import type { DownstreamInfo } from './http.js';
import { isGrpc } from './router.js';

/** See the module docstring. Header names are lowercase; `headers` repeats as arrays. */
/** Largest request body (bytes) the lean HTTP/1.1 codec holds whole instead of streaming it. */
export const MAX_INLINE_BODY = 64 * 1024;

export interface Exchange {
  /** Request method (`:method`). */
  readonly method: string;
  /** Request target as sent (`:path`). */
  readonly path: string;
  /** Host / :authority ('' when absent). */
  readonly authority: string;
  /** '1.1' or '2' (access log). */
  readonly httpVersion: string;
  /** 'https' over TLS, else 'http' (`:scheme`). */
  readonly scheme: string;
  /** The downstream speaks HTTP/2. */
  readonly h2: boolean;
  /** Content-Type is `application/grpc…` (local replies become trailers-only gRPC responses). */
  readonly grpc: boolean;
  /** Request headers as a flat name/value list, in order. */
  readonly rawHeaders: string[];
  /** Request headers by lowercase name. */
  readonly headers: Record<string, string | string[] | undefined>;
  /** The downstream connection: TLS, original destination, verified peer URI SANs. */
  readonly info: DownstreamInfo;
  /**
   * The request body: a stream, the whole body when it arrived with the head (the lean HTTP/1.1
   * codec, Content-Length bodies up to {@link MAX_INLINE_BODY}), or null when there is none.
   */
  readonly body: Readable | Buffer | null;
  /** Request Content-Length, -1 when absent. */
  readonly contentLength: number;
  /** Status of the response head, 0 before it is sent. */
  readonly status: number;
  /** Response body bytes as the response's Content-Length says (access log). */
  readonly bytesSent: number;
  /** Sends the response head; with `endStream` (headers-only, e.g. gRPC trailers-only) the head
   * is staged so that {@link end} sends it with END_STREAM. */
  head(status: number, headers: Record<string, string | string[] | undefined>, endStream: boolean): void;
  /** A response body chunk; under backpressure `flow` is paused until the downstream drains. */
  data(chunk: Buffer, flow: { pause(): unknown; resume(): unknown }): void;
  /** Ends the response (trailers reach HTTP/2 downstreams only). */
  end(trailers?: Record<string, string | string[]>): void;
  /** A complete local response with a fixed body. */
  reply(status: number, headers: Record<string, string>, body: string): void;
  /** Resets the stream (HTTP/1.1: closes the connection), as Envoy does mid-response. */
  reset(): void;
  /** Discards what is left of the request body. */
  discard(): void;
  /** `fn` runs once when the response has been handed to the connection (not on a reset). */
  onFinish(fn: () => void): void;
  /** `fn` runs once when the exchange is over: finished, reset, or the downstream went away. */
  onClose(fn: () => void): void;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those the codecs own. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'http2-settings',
  'host',
]);

/** Copies headers without pseudo-headers and hop-by-hop ones. */
export function cleanHeaders(
  h: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined || k.charCodeAt(0) === 58 || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** Envoy's HTTP → gRPC status mapping for local replies (grpc/common.cc httpToGrpcStatus). */
function grpcStatusOf(status: number): number {
  switch (status) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

/** Sends an Envoy-style local reply; for gRPC requests a trailers-only 200 with grpc-status. */
export function localReply(ex: Exchange, status: number, body: string, grpc: boolean): void {
  if (ex.status) {
    ex.end();
    return;
  }
  if (grpc) {
    ex.head(
      200,
      {
        'content-type': 'application/grpc',
        'grpc-status': String(grpcStatusOf(status)),
        'grpc-message': encodeURIComponent(body || http.STATUS_CODES[status] || ''),
      },
      true,
    );
    ex.end();
    return;
  }
  ex.reply(status, body ? { 'content-type': 'text/plain' } : {}, body);
}

type DownReq = http.IncomingMessage | http2.Http2ServerRequest;
type DownRes = http.ServerResponse | http2.Http2ServerResponse;

/** An {@link Exchange} over node:http's or node:http2's compatibility request/response. */
export class NodeExchange implements Exchange {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly httpVersion: string;
  readonly scheme: string;
  readonly h2: boolean;
  readonly grpc: boolean;
  readonly info: DownstreamInfo;
  readonly body: Readable | null;
  readonly contentLength: number;
  readonly #req: DownReq;
  readonly #res: DownRes;

  /** `target` overrides `:path`/`:authority` (an HTTP/1.1 absolute-form target, see requestTarget). */
  constructor(
    req: DownReq,
    res: DownRes,
    info: DownstreamInfo,
    target?: { path: string; authority: string },
  ) {
    this.#req = req;
    this.#res = res;
    this.info = info;
    this.scheme = info.tls ? 'https' : 'http';
    this.h2 = req.httpVersionMajor === 2;
    this.httpVersion = req.httpVersion;
    this.method = req.method ?? 'GET';
    const h = req.headers;
    this.path = target?.path ?? req.url ?? '/';
    this.authority =
      target?.authority ?? (((this.h2 ? h[':authority'] : undefined) ?? h.host ?? '') as string);
    this.grpc = isGrpc(h['content-type']);
    const cl = h['content-length'];
    this.contentLength = cl === undefined ? -1 : Number(cl);
    const hasBody = this.h2
      ? !(req as http2.Http2ServerRequest).stream.endAfterHeaders
      : (cl !== undefined && cl !== '0') || h['transfer-encoding'] !== undefined;
    this.body = hasBody ? (req as Readable) : null;
  }

  get rawHeaders(): string[] {
    return this.#req.rawHeaders;
  }

  get headers(): Record<string, string | string[] | undefined> {
    return this.#req.headers as Record<string, string | string[] | undefined>;
  }

  get bytesSent(): number {
    return Number(this.#res.getHeader('content-length') ?? 0);
  }

  get status(): number {
    return this.#res.headersSent ? this.#res.statusCode : 0;
  }

  head(status: number, headers: Record<string, string | string[] | undefined>, endStream: boolean): void {
    const res = this.#res;
    const h = cleanHeaders(headers);
    if (!endStream) {
      // Small responses arrive whole in one parser turn: corking until the next tick sends head,
      // body and end in one write (one TLS record, one syscall) instead of three.
      if (res instanceof http.ServerResponse) {
        res.cork();
        process.nextTick(uncork, res);
      }
      (res as http.ServerResponse).writeHead(status, h);
      return;
    }
    res.statusCode = status;
    for (const k in h) res.setHeader(k, h[k]!);
  }

  data(chunk: Buffer, flow: { pause(): unknown; resume(): unknown }): void {
    const res = this.#res as http.ServerResponse;
    if (!res.write(chunk)) {
      flow.pause();
      res.once('drain', () => flow.resume());
    }
  }

  end(trailers?: Record<string, string | string[]>): void {
    if (trailers && this.h2 && Object.keys(trailers).length) this.#res.addTrailers(cleanHeaders(trailers));
    this.#res.end();
  }

  reply(status: number, headers: Record<string, string>, body: string): void {
    const res = this.#res as http.ServerResponse;
    res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  reset(): void {
    if (this.h2)
      (this.#res as http2.Http2ServerResponse).stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    else (this.#res as http.ServerResponse).socket?.destroy();
  }

  discard(): void {
    if (!this.#req.readableEnded) this.#req.resume();
  }

  onFinish(fn: () => void): void {
    this.#res.once('finish', fn);
  }

  onClose(fn: () => void): void {
    this.#res.once('close', fn);
  }
}

function uncork(r: http.ServerResponse): void {
  r.uncork();
}
