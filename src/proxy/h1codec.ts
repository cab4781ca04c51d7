/**
 * A lean HTTP/1.1 message codec (RFC 9112) for the proxy's hot path: message heads parsed from a
 * Buffer in one pass into a flat name/value list, and a chunked-body decoder that hands out
 * subarrays (no copies). The rules are strict like Envoy's codec and llhttp's non-lenient mode:
 * header names are tokens, values carry no control characters, obs-fold, duplicate
 * Content-Length, Content-Length with Transfer-Encoding and bad chunk sizes are errors.
 */
import { ProxyError } from './errors.js';

/** A message that breaks RFC 9112 framing or syntax. `status` is the local reply Envoy sends for
 * it on a request (400, or 431 for a head over the limit, or 501 for an unknown transfer coding). */
export class H1ParseError extends ProxyError {
  readonly status: number;
  constructor(status: number, message: string) {
    super('TM_ERR_PROXY_HTTP1_PARSE', `HTTP/1.1: ${message}`);
    this.status = status;
  }
}

/** A parsed message head. `headers` is flat: lowercase name, value, name, value… (values trimmed). */
export interface H1Head {
  /** Request method (requests only). */
  method: string;
  /** Request target as sent (requests only). */
  target: string;
  /** Response status (responses only). */
  status: number;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: number;
  headers: string[];
  /** Bytes of the head, CRLFCRLF included. */
  size: number;
  /** Content-Length, or -1 when absent. */
  contentLength: number;
  /** Transfer-Encoding ends in `chunked`. */
  chunked: boolean;
  /** `Connection: close` (or HTTP/1.0 without keep-alive): the connection ends with this message. */
  close: boolean;
  /** Upgrade, or Connection naming `upgrade`. */
  upgrade: boolean;
  /** Number of Host headers (requests only; two or more is a 400). */
  hosts: number;
  /** `Expect: 100-continue`. */
  expectContinue: boolean;
  /** The server's `Keep-Alive: timeout=N` hint in ms (responses only), or 0. */
  keepAliveMs: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A control character other than HTAB (field values and reason phrases: RFC 9110 §5.5), or with
 * `noSpace` also SP and HTAB (request targets). */
function hasCtl(s: string, noSpace: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x7f || (c < 0x20 && c !== 9) || (noSpace && (c === 32 || c === 9))) return true;
  }
  return false;
}
const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');

/**
 * Finds the end of a message head in `buf` from `start`. Returns the index just past CRLFCRLF, or
 * -1 when the head is incomplete. `scanned`: bytes from `start` an earlier call already searched
 * (so a head arriving in many segments is scanned once, not once per segment). Throws
 * H1ParseError 431 when the head exceeds `limit` bytes.
 */
export function headEnd(buf: Buffer, start: number, limit: number, scanned = 0): number {
  const from = start + Math.max(0, scanned - 3);
  const i = buf.indexOf(CRLFCRLF, from);
  if (i < 0) {
    // A head ended by bare LFs never completes; refuse it now rather than at the header timeout.
    if (buf.indexOf(LFLF, from) >= 0) throw new H1ParseError(400, 'bare LF in header section');
    if (buf.length - start > limit) throw new H1ParseError(431, 'header section exceeds the limit');
    return -1;
  }
  if (i + 4 - start > limit) throw new H1ParseError(431, 'header section exceeds the limit');
  return i + 4;
}

/**
 * Joins the segments of a message head that arrives in pieces: each call returns `pending` + `d`,
 * copied into a store grown geometrically, so a head sent in many small segments costs linear
 * copying, not a concat of everything so far per segment.
 */
export class SegmentJoiner {
  #store: Buffer | undefined;

  /** `pending` (the bytes kept so far, or a view returned by an earlier call) followed by `d`. */
  append(pending: Buffer, d: Buffer): Buffer {
    const n = pending.length + d.length;
    let store = this.#store;
    if (
      !store ||
      pending.buffer !== store.buffer ||
      pending.byteOffset !== store.byteOffset ||
      n > store.length
    ) {
      store = Buffer.allocUnsafe(Math.max(2 * n, 4096));
      pending.copy(store, 0);
      this.#store = store;
    }
    d.copy(store, pending.length);
    return store.subarray(0, n);
  }
}

/** Parses a request head (`start`..`end` from {@link headEnd}). Throws H1ParseError. */
export function parseRequestHead(buf: Buffer, start: number, end: number): H1Head {
  const text = buf.toString('latin1', start, end - 4);
  const eol = lineEnd(text, 0);
  const line = text.slice(0, eol);
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0)
    throw new H1ParseError(400, 'malformed request line');
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (!TOKEN.test(method) || !target || hasCtl(target, true))
    throw new H1ParseError(400, 'malformed request line');
  const head = newHead(version, end - start);
  head.method = method;
  head.target = target;
  parseFields(text, eol, head, true);
  return head;
}

/** Parses a response head (`start`..`end` from {@link headEnd}). Throws H1ParseError. */
export function parseResponseHead(buf: Buffer, start: number, end: number): H1Head {
  const text = buf.toString('latin1', start, end - 4);
  const eol = lineEnd(text, 0);
  // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ]
  const line = text.slice(0, eol);
  const m = /^(HTTP\/1\.[01]) (\d{3})(?: |$)/.exec(line);
  if (!m || hasCtl(line, false)) throw new H1ParseError(502, 'malformed status line');
  const head = newHead(m[1]!, end - start);
  head.status = Number(m[2]);
  parseFields(text, eol, head, false);
  return head;
}

function newHead(version: string, size: number): H1Head {
  let minor: number;
  if (version === 'HTTP/1.1') minor = 1;
  else if (version === 'HTTP/1.0') minor = 0;
  else throw new H1ParseError(400, `unsupported version ${JSON.stringify(version.slice(0, 16))}`);
  return {
    method: '',
    target: '',
    status: 0,
    minor,
    headers: [],
    size,
    contentLength: -1,
    chunked: false,
    close: minor === 0,
    upgrade: false,
    hosts: 0,
    expectContinue: false,
    keepAliveMs: 0,
  };
}

/** Index of the CRLF ending the line at `from` (or the text's end); a bare LF is an error. */
function lineEnd(text: string, from: number): number {
  const lf = text.indexOf('\n', from);
  if (lf < 0) return text.length;
  if (text.charCodeAt(lf - 1) !== 13) throw new H1ParseError(400, 'bare LF in header section');
  return lf - 1;
}

function parseFields(text: string, eol: number, head: H1Head, request: boolean): void {
  let pos = eol + 2;
  const h = head.headers;
  while (pos < text.length) {
    const end = lineEnd(text, pos);
    const c = text.charCodeAt(pos);
    // obs-fold (RFC 9112 §5.2): a line starting with SP/HTAB is rejected, as Envoy does.
    if (c === 32 || c === 9) throw new H1ParseError(400, 'obsolete line folding');
    const colon = text.indexOf(':', pos);
    if (colon < 0 || colon >= end) throw new H1ParseError(400, 'header line without a colon');
    const name = text.slice(pos, colon);
    if (!TOKEN.test(name)) throw new H1ParseError(400, 'invalid header name');
    const value = text.slice(colon + 1, end).trim();
    if (hasCtl(value, false)) throw new H1ParseError(400, 'invalid header value');
    const lower = name.toLowerCase();
    h.push(lower, value);
    classify(lower, value, head, request);
    pos = end + 2;
  }
  if (head.chunked && head.contentLength >= 0)
    throw new H1ParseError(400, 'both Content-Length and Transfer-Encoding');
}

/** Records what framing and connection handling need from one field. */
function classify(name: string, value: string, head: H1Head, request: boolean): void {
  switch (name) {
    case 'content-length':
      if (head.contentLength >= 0) throw new H1ParseError(400, 'duplicate Content-Length');
      if (!/^\d{1,15}$/.test(value)) throw new H1ParseError(400, 'invalid Content-Length');
      head.contentLength = Number(value);
      return;
    case 'transfer-encoding': {
      if (head.chunked) throw new H1ParseError(400, 'duplicate Transfer-Encoding');
      const codings = value.toLowerCase().split(',');
      // Only `chunked` is understood; on a request anything else cannot be framed (RFC 9112 §6.1).
      if (codings[codings.length - 1]!.trim() !== 'chunked' || (request && codings.length > 1))
        throw new H1ParseError(request ? 501 : 502, 'unsupported Transfer-Encoding');
      head.chunked = true;
      return;
    }
    case 'connection':
      for (const t of value.toLowerCase().split(',')) {
        const o = t.trim();
        if (o === 'close') head.close = true;
        else if (o === 'keep-alive' && head.minor === 0) head.close = false;
        else if (o === 'upgrade') head.upgrade = true;
      }
      return;
    case 'upgrade':
      head.upgrade = true;
      return;
    case 'host':
      head.hosts++;
      return;
    case 'expect':
      if (value.toLowerCase() === '100-continue') head.expectContinue = true;
      return;
    case 'keep-alive': {
      const m = /timeout=(\d+)/i.exec(value);
      if (m && !request) head.keepAliveMs = Number(m[1]) * 1000;
      return;
    }
  }
}

/** An absolute-form target: scheme, authority (no userinfo), then path and query. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#@]+)([^#]*)$/i;

/**
 * The `:path` and `:authority` of an HTTP/1.1 request (RFC 9112 §3.2): origin-form and OPTIONS `*`
 * keep the Host header; absolute-form replaces it with the target's authority, as a proxy must
 * (RFC 9112 §3.2.2; Envoy's `allow_absolute_url`, on by default). Not for CONNECT (authority-form).
 * Throws H1ParseError 400 for any other target.
 */
export function requestTarget(
  method: string,
  target: string,
  host: string,
): { path: string; authority: string } {
  const c = target.charCodeAt(0);
  if (c === 47 || (c === 42 && target.length === 1 && method === 'OPTIONS'))
    return { path: target, authority: host };
  const m = ABSOLUTE_FORM.exec(target);
  if (!m) throw new H1ParseError(400, 'invalid request target');
  const rest = m[2]!;
  return { path: rest.charCodeAt(0) === 47 ? rest : `/${rest}`, authority: m[1]! };
}

/**
 * Decodes a chunked body (RFC 9112 §7.1) incrementally. {@link feed} hands data slices to `onData`
 * and returns where the body (trailers included) ended, or -1 when it needs more bytes. Partial
 * chunk-size lines are kept across calls; chunk data is never copied.
 */
export class ChunkedDecoder {
  /** Bytes of chunk data still expected in the current chunk. */
  #remaining = 0;
  /** 0 size line, 1 data, 2 CRLF after data, 3 trailer section. */
  #state = 0;
  #line = '';
  /** Trailer fields (flat list), once the body has ended. */
  trailers: string[] = [];

  /** Consumes `buf[start..]`; throws H1ParseError on a malformed chunk. */
  feed(buf: Buffer, start: number, onData: (chunk: Buffer) => void): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      if (this.#state === 1) {
        const take = Math.min(this.#remaining, n - i);
        onData(buf.subarray(i, i + take));
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = 2;
        continue;
      }
      const lf = buf.indexOf(10, i);
      const stop = lf < 0 ? n : lf + 1;
      this.#line += buf.toString('latin1', i, stop);
      if (this.#line.length > 4096) throw new H1ParseError(400, 'chunk line too long');
      i = stop;
      if (lf < 0) break;
      const line = this.#line;
      this.#line = '';
      if (!line.endsWith('\r\n')) throw new H1ParseError(400, 'bare LF in chunked body');
      if (this.#state === 2) {
        if (line !== '\r\n') throw new H1ParseError(400, 'chunk data longer than its size');
        this.#state = 0;
      } else if (this.#state === 0) {
        // chunk-size [ chunk-ext ] CRLF; the size is 1*HEXDIG with nothing else before `;`.
        const semi = line.indexOf(';');
        const size = line.slice(0, semi < 0 ? line.length - 2 : semi);
        if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new H1ParseError(400, 'invalid chunk size');
        this.#remaining = parseInt(size, 16);
        this.#state = this.#remaining === 0 ? 3 : 1;
      } else {
        if (line === '\r\n') return i;
        const colon = line.indexOf(':');
        const name = colon > 0 ? line.slice(0, colon) : '';
        if (!TOKEN.test(name)) throw new H1ParseError(400, 'invalid trailer field');
        this.trailers.push(name.toLowerCase(), line.slice(colon + 1, -2).trim());
      }
    }
    return -1;
  }
}
