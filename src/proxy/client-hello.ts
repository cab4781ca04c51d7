/**
 * What Envoy's tls_inspector reads from a TLS ClientHello for filter chain matching: the SNI host
 * name (`server_names`) and the ALPN protocol list (`application_protocols`). RFC 8446 §4.1.2 (the
 * ClientHello), RFC 6066 §3 (server_name), RFC 7301 §3.1 (ALPN).
 */

/** TLS record header: content type (22 = handshake), legacy version, 16-bit length. */
const RECORD_HEADER = 5;
/** Largest TLSPlaintext fragment (RFC 8446 §5.1). */
const MAX_FRAGMENT = 16384;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

/** SNI and ALPN of a ClientHello; empty when absent. */
export interface ClientHelloInfo {
  serverName: string;
  alpn: string[];
}

/**
 * Bytes still needed before `buf` (the connection's first bytes, starting with a TLS record)
 * holds the whole first record, capped at one maximal record; 0 when complete or not a TLS record.
 */
export function clientHelloBytesMissing(buf: Buffer): number {
  if (buf.length < 1 || buf[0] !== 0x16) return 0;
  if (buf.length < RECORD_HEADER) return RECORD_HEADER - buf.length;
  const length = Math.min(buf.readUInt16BE(3), MAX_FRAGMENT);
  return Math.max(0, RECORD_HEADER + length - buf.length);
}

/**
 * Reads SNI and ALPN from the first TLS record in `buf`. A ClientHello split over several records,
 * or a malformed one, yields what could be read (possibly nothing) and never throws: the TLS
 * handshake itself then decides, as Envoy's inspector leaves matching to the remaining criteria.
 */
export function parseClientHello(buf: Buffer): ClientHelloInfo {
  const out: ClientHelloInfo = { serverName: '', alpn: [] };
  if (buf.length < RECORD_HEADER + 4 || buf[0] !== 0x16 || buf[RECORD_HEADER] !== 1) return out;
  const end = Math.min(buf.length, RECORD_HEADER + buf.readUInt16BE(3));
  // handshake type (1) + length (3) + legacy_version (2) + random (32)
  let i = RECORD_HEADER + 4 + 2 + 32;
  const skip = (lenBytes: 1 | 2): boolean => {
    if (i + lenBytes > end) return false;
    i += lenBytes + (lenBytes === 1 ? buf[i]! : buf.readUInt16BE(i));
    return i <= end;
  };
  // legacy_session_id, cipher_suites, legacy_compression_methods
  if (!skip(1) || !skip(2) || !skip(1) || i + 2 > end) return out;
  const extEnd = Math.min(end, i + 2 + buf.readUInt16BE(i));
  i += 2;
  while (i + 4 <= extEnd) {
    const type = buf.readUInt16BE(i);
    const len = buf.readUInt16BE(i + 2);
    const body = buf.subarray(i + 4, Math.min(extEnd, i + 4 + len));
    i += 4 + len;
    if (type === EXT_SERVER_NAME) out.serverName = serverName(body);
    else if (type === EXT_ALPN) out.alpn = alpnList(body);
  }
  return out;
}

/** server_name extension: a list of (type, name); the first host_name (type 0) counts. */
function serverName(b: Buffer): string {
  let i = 2;
  while (i + 3 <= b.length) {
    const type = b[i]!;
    const len = b.readUInt16BE(i + 1);
    if (type === 0 && i + 3 + len <= b.length)
      return b
        .subarray(i + 3, i + 3 + len)
        .toString('latin1')
        .toLowerCase();
    i += 3 + len;
  }
  return '';
}

/** ALPN extension: a 16-bit length, then 8-bit-length protocol names. */
function alpnList(b: Buffer): string[] {
  const out: string[] = [];
  let i = 2;
  while (i < b.length) {
    const len = b[i]!;
    if (len === 0 || i + 1 + len > b.length) break;
    out.push(b.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  return out;
}

/**
 * How well `serverName` matches a filter chain's `server_names` (Envoy FilterChainMatch): -1 no
 * match; otherwise higher is more specific — an exact name beats any wildcard, and a longer
 * wildcard suffix (`*.b.example.com`) beats a shorter one (`*.example.com`).
 */
export function serverNameScore(names: readonly string[], serverName: string): number {
  if (!serverName) return -1;
  let best = -1;
  for (const n of names) {
    const name = n.toLowerCase();
    if (name === serverName) return Number.MAX_SAFE_INTEGER;
    if (name.startsWith('*.') && serverName.endsWith(name.slice(1)) && serverName.length > name.length - 1)
      best = Math.max(best, name.length);
  }
  return best;
}
