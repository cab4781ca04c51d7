/**
 * Reads the RFC 5280 fields and extensions the SPIFFE checks need straight from a certificate's DER
 * (node's X509Certificate does not expose raw names, key usage bits or the SAN list unambiguously).
 * Results are cached per certificate object. Not exported from the package.
 */
import type { X509Certificate } from 'node:crypto';
import { children, DerError, elementOf, expectTlv, readTime, tag, valueOf, type Tlv } from './der.js';
import { CertificateError } from './errors.js';

/** RFC 5280 §4.2.1.3 KeyUsage bits, as bit masks (bit i of the BIT STRING → `1 << i`). */
export const keyUsage = {
  digitalSignature: 1 << 0,
  contentCommitment: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
} as const;

/** Dotted OIDs of the RFC 5280 §4.2 extensions the SPIFFE checks read. */
export const extensionOid = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
} as const;

/** One certificate extension: dotted OID, criticality and the DER inside extnValue. */
export interface Extension {
  oid: string;
  critical: boolean;
  value: Buffer;
}

/** The fields of a certificate the SPIFFE code reads. DER values are views of the certificate bytes. */
export interface CertFields {
  /** The serial number, as node:crypto's `X509Certificate.serialNumber` prints it (upper-case hex). */
  serialNumber: string;
  /** Full DER of the subject Name. */
  subjectDer: Buffer;
  /** Full DER of the issuer Name. */
  issuerDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** Full DER of SubjectPublicKeyInfo. */
  spkiDer: Buffer;
  extensions: Extension[];
  /** Absent when there is no basicConstraints extension. */
  basicConstraints?: { ca: boolean; pathLen?: number };
  /** Bit mask of {@link keyUsage}; absent when there is no keyUsage extension. */
  keyUsage?: number;
  /** Dotted OIDs of extKeyUsage; absent when there is no such extension. */
  extKeyUsage?: string[];
  /** URI SANs in certificate order. */
  uris: string[];
  /** DNS SANs in certificate order. */
  dnsNames: string[];
  subjectKeyId?: Buffer;
  authorityKeyId?: Buffer;
}

/** Dotted form of an OBJECT IDENTIFIER's value bytes. @throws DerError on a truncated or oversized arc. */
export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER) throw new DerError('OID arc too large');
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    } else if (i === bytes.length - 1) {
      throw new DerError('truncated OID');
    }
  }
  return arcs.join('.');
}

function parseExtensions(buf: Buffer, container: Tlv): Extension[] {
  return parseExtensionList(buf, expectTlv(buf, container.start, tag.sequence, container.end));
}

/**
 * Parses `Extensions ::= SEQUENCE OF Extension` (RFC 5280 §4.1; also a PKCS#10 extensionRequest value).
 * @throws DerError on malformed input or a duplicate extension.
 */
export function parseExtensionList(buf: Buffer, list: Tlv): Extension[] {
  const out: Extension[] = [];
  const seen = new Set<string>();
  for (const ext of children(buf, list)) {
    if (ext.tag !== tag.sequence) throw new DerError('extension is not a SEQUENCE');
    const parts = children(buf, ext);
    const [id, second, third] = parts;
    if (!id || id.tag !== tag.oid) throw new DerError('extension without OID');
    let critical = false;
    let valueTlv = second;
    if (second?.tag === tag.boolean) {
      critical = buf[second.start] !== 0;
      valueTlv = third;
    }
    if (!valueTlv || valueTlv.tag !== tag.octetString) throw new DerError('extension without value');
    const oid = decodeOid(valueOf(buf, id));
    if (seen.has(oid)) throw new DerError(`duplicate extension ${oid}`);
    seen.add(oid);
    out.push({ oid, critical, value: valueOf(buf, valueTlv) });
  }
  return out;
}

function readBitMask(buf: Buffer): number {
  const bs = expectTlv(buf, 0, tag.bitString);
  if (bs.end - bs.start < 1) throw new DerError('empty BIT STRING');
  let mask = 0;
  for (let i = bs.start + 1, bit = 0; i < bs.end && bit < 24; i++) {
    for (let j = 7; j >= 0; j--, bit++) if (buf[i]! & (1 << j)) mask |= 1 << bit;
  }
  return mask;
}

/**
 * Appends the URI and DNS names of a subjectAltName extension value (GeneralNames) to `out`.
 * @throws DerError on malformed input.
 */
export function readSubjectAltNames(v: Buffer, out: { uris: string[]; dnsNames: string[] }): void {
  const seq = expectTlv(v, 0, tag.sequence);
  for (const name of children(v, seq)) {
    // GeneralName [6] uniformResourceIdentifier and [2] dNSName, IMPLICIT IA5String.
    if (name.tag === 0x86) out.uris.push(valueOf(v, name).toString('latin1'));
    else if (name.tag === 0x82) out.dnsNames.push(valueOf(v, name).toString('latin1'));
  }
}

function decodeExtensions(f: CertFields): void {
  for (const ext of f.extensions) {
    const v = ext.value;
    switch (ext.oid) {
      case extensionOid.basicConstraints: {
        const seq = expectTlv(v, 0, tag.sequence);
        const bc: { ca: boolean; pathLen?: number } = { ca: false };
        for (const el of children(v, seq)) {
          if (el.tag === tag.boolean) bc.ca = v[el.start] !== 0;
          else if (el.tag === tag.integer) {
            if (el.end - el.start > 4 || (v[el.start]! & 0x80) !== 0)
              throw new DerError('bad pathLenConstraint');
            bc.pathLen = valueOf(v, el).reduce((n, b) => n * 256 + b, 0);
          }
        }
        f.basicConstraints = bc;
        break;
      }
      case extensionOid.keyUsage:
        f.keyUsage = readBitMask(v);
        break;
      case extensionOid.extKeyUsage: {
        const seq = expectTlv(v, 0, tag.sequence);
        f.extKeyUsage = children(v, seq).map((el) => {
          if (el.tag !== tag.oid) throw new DerError('extKeyUsage member is not an OID');
          return decodeOid(valueOf(v, el));
        });
        break;
      }
      case extensionOid.subjectAltName:
        readSubjectAltNames(v, f);
        break;
      case extensionOid.subjectKeyIdentifier:
        f.subjectKeyId = valueOf(v, expectTlv(v, 0, tag.octetString));
        break;
      case extensionOid.authorityKeyIdentifier: {
        const seq = expectTlv(v, 0, tag.sequence);
        for (const el of children(v, seq)) if (el.tag === 0x80) f.authorityKeyId = valueOf(v, el);
        break;
      }
    }
  }
}

/** An INTEGER's content as OpenSSL's BN_bn2hex prints it: upper-case hex, no leading zero bytes. */
function serialHex(value: Buffer): string {
  let i = 0;
  while (i < value.length - 1 && value[i] === 0) i++;
  return value.subarray(i).toString('hex').toUpperCase();
}

/**
 * Parses a DER certificate's fields (RFC 5280 §4.1) without OpenSSL: a few microseconds, where a
 * node:crypto `X509Certificate` costs a few hundred. @throws DerError on malformed input.
 */
export function parseCertFields(der: Buffer): CertFields {
  const cert = expectTlv(der, 0, tag.sequence);
  if (cert.end !== der.length) throw new DerError('trailing data after certificate');
  const tbs = expectTlv(der, cert.start, tag.sequence, cert.end);
  const els = children(der, tbs);
  let i = 0;
  if (els[i]?.tag === 0xa0) i++; // version
  const [serial, sigAlg, issuer, validity, subject, spki] = els.slice(i, i + 6);
  if (!serial || serial.tag !== tag.integer) throw new DerError('missing serial number');
  if (!sigAlg || sigAlg.tag !== tag.sequence) throw new DerError('missing signature algorithm');
  if (!issuer || issuer.tag !== tag.sequence) throw new DerError('missing issuer');
  if (!validity || validity.tag !== tag.sequence) throw new DerError('missing validity');
  if (!subject || subject.tag !== tag.sequence) throw new DerError('missing subject');
  if (!spki || spki.tag !== tag.sequence) throw new DerError('missing subjectPublicKeyInfo');
  const [nb, na] = children(der, validity);
  if (!nb || !na) throw new DerError('incomplete validity');
  const f: CertFields = {
    serialNumber: serialHex(valueOf(der, serial)),
    subjectDer: elementOf(der, subject),
    issuerDer: elementOf(der, issuer),
    notBefore: readTime(der, nb),
    notAfter: readTime(der, na),
    spkiDer: elementOf(der, spki),
    extensions: [],
    uris: [],
    dnsNames: [],
  };
  for (const el of els.slice(i + 6)) if (el.tag === 0xa3) f.extensions = parseExtensions(der, el);
  decodeExtensions(f);
  return f;
}

const cache = new WeakMap<X509Certificate, CertFields>();

/**
 * The fields of a node:crypto certificate, parsed once and cached.
 * @throws CertificateError (rule `malformed`) when the DER can't be read.
 */
export function certFields(cert: X509Certificate): CertFields {
  let f = cache.get(cert);
  if (!f) {
    try {
      f = parseCertFields(cert.raw);
    } catch (err) {
      throw new CertificateError('malformed', `cannot read certificate fields: ${(err as Error).message}`, {
        cause: err,
      });
    }
    cache.set(cert, f);
  }
  return f;
}

/** The subjectPublicKey bits of a SubjectPublicKeyInfo (the input of the RFC 5280 §4.2.1.2 key ID). */
export function subjectPublicKeyBits(spkiDer: Buffer): Buffer {
  const spki = expectTlv(spkiDer, 0, tag.sequence);
  const [, bits] = children(spkiDer, spki);
  if (!bits || bits.tag !== tag.bitString) throw new DerError('SubjectPublicKeyInfo without key bits');
  return spkiDer.subarray(bits.start + 1, bits.end);
}
