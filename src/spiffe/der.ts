/**
 * A minimal DER (ITU-T X.690) writer and reader: just what the X509-SVID template and the certificate
 * checks need. Not exported from the package.
 */

/** Thrown by the reader on malformed DER; callers wrap it in their area's typed error. */
export class DerError extends Error {
  override name = 'DerError';
}

/** Universal tag bytes used by X.509 (X.690 §8). */
export const tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

function headerLength(length: number): number {
  return length < 0x80 ? 2 : length < 0x100 ? 3 : length < 0x10000 ? 4 : 5;
}

/** Encodes one TLV whose value is the concatenation of `parts` (one allocation: this is the minting hot path). */
export function tlv(tagByte: number, ...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const h = headerLength(length);
  const out = Buffer.allocUnsafe(h + length);
  out[0] = tagByte;
  if (h === 2) out[1] = length;
  else {
    out[1] = 0x80 | (h - 2);
    for (let i = h - 1, v = length; i >= 2; i--, v >>>= 8) out[i] = v & 0xff;
  }
  let off = h;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** SEQUENCE of the given encoded elements. */
export function sequence(...parts: Uint8Array[]): Buffer {
  return tlv(tag.sequence, ...parts);
}

/** Context-specific constructed tag `[n]` (EXPLICIT wrapper). */
export function explicit(n: number, ...parts: Uint8Array[]): Buffer {
  return tlv(0xa0 | n, ...parts);
}

/** INTEGER from unsigned big-endian bytes, minimally encoded (leading zeros stripped, 0x00 added if needed). */
export function unsignedInteger(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const body = bytes.subarray(i);
  const pad = body.length === 0 || (body[0]! & 0x80) !== 0;
  return tlv(tag.integer, ...(pad ? [Buffer.from([0]), body] : [body]));
}

/** INTEGER from a small non-negative number. */
export function smallInteger(n: number): Buffer {
  const bytes: number[] = [];
  do {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  return unsignedInteger(Buffer.from(bytes));
}

/** OBJECT IDENTIFIER from dotted form, e.g. `2.5.29.17`. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [];
  const push = (v: number): void => {
    const chunk = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(tag.oid, Buffer.from(out));
}

/** BIT STRING with `unusedBits` padding bits in the last byte. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  return tlv(tag.bitString, Buffer.from([unusedBits]), bytes);
}

/** OCTET STRING. */
export function octetString(bytes: Uint8Array): Buffer {
  return tlv(tag.octetString, bytes);
}

/** BOOLEAN TRUE (DER encodes it as 0xff). */
export const booleanTrue = Buffer.from([tag.boolean, 1, 0xff]);

/** NULL. */
export const nullValue = Buffer.from([tag.null, 0]);

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * RFC 5280 §4.1.2.5 Time at second precision: UTCTime for years 1950–2049, GeneralizedTime otherwise.
 */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const rest =
    pad2(d.getUTCMonth() + 1) +
    pad2(d.getUTCDate()) +
    pad2(d.getUTCHours()) +
    pad2(d.getUTCMinutes()) +
    pad2(d.getUTCSeconds()) +
    'Z';
  if (y >= 1950 && y < 2050) return tlv(tag.utcTime, Buffer.from(pad2(y % 100) + rest, 'latin1'));
  return tlv(tag.generalizedTime, Buffer.from(String(y).padStart(4, '0') + rest, 'latin1'));
}

/** A decoded TLV header: the value is `buf.subarray(start, end)`; the whole element is `[offset, end)`. */
export interface Tlv {
  tag: number;
  offset: number;
  start: number;
  end: number;
}

/** Reads the TLV at `offset`, bounded by `limit`. @throws DerError on malformed input. */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated element');
  const tagByte = buf[offset]!;
  if ((tagByte & 0x1f) === 0x1f) throw new DerError('high tag numbers are not supported');
  let length = buf[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 4) throw new DerError('unsupported length encoding');
    if (start + n > limit) throw new DerError('truncated length');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[start + i]!;
    if (length < 0x80 || (n > 1 && buf[start] === 0)) throw new DerError('non-minimal length');
    start += n;
  }
  const end = start + length;
  if (end > limit) throw new DerError('element runs past its container');
  return { tag: tagByte, offset, start, end };
}

/** Reads the TLV at `offset` and checks its tag. @throws DerError */
export function expectTlv(buf: Uint8Array, offset: number, tagByte: number, limit = buf.length): Tlv {
  const t = readTlv(buf, offset, limit);
  if (t.tag !== tagByte)
    throw new DerError(`expected tag 0x${tagByte.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

/** The elements directly inside a constructed TLV. @throws DerError */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = parent.start; off < parent.end;) {
    const t = readTlv(buf, off, parent.end);
    out.push(t);
    off = t.end;
  }
  return out;
}

/** The value bytes of a TLV. */
export function valueOf(buf: Uint8Array, t: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + t.start, t.end - t.start);
}

/** The whole encoded element of a TLV. */
export function elementOf(buf: Uint8Array, t: Tlv): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + t.offset, t.end - t.offset);
}

/** Decodes a UTCTime or GeneralizedTime element in the strict RFC 5280 form (`…Z`, seconds). */
export function readTime(buf: Uint8Array, t: Tlv): Date {
  const s = Buffer.from(valueOf(buf, t)).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === tag.utcTime && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (t.tag === tag.generalizedTime && (m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    year = Number(m[1]);
  } else {
    throw new DerError(`malformed time ${JSON.stringify(s)}`);
  }
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as number[];
  const d = new Date(Date.UTC(2000, month! - 1, day, hour, minute, second));
  d.setUTCFullYear(year);
  const back = [d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
  if (back.some((v, i) => v !== [month, day, hour, minute, second][i])) {
    throw new DerError(`malformed time ${JSON.stringify(s)}`);
  }
  return d;
}
