/**
 * PEM / DER certificate lists, as carried by the Workload API (concatenated DER), SDS and files (PEM).
 */
import { X509Certificate } from 'node:crypto';
import { readTlv, tag, type DerError } from './der.js';
import { CertificateError } from './errors.js';

const pemBlock = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function looksLikePem(buf: Buffer): boolean {
  return buf.subarray(0, 256).toString('latin1').includes('-----BEGIN');
}

function certificateFromDer(der: Buffer, index: number): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (err) {
    throw new CertificateError(
      'malformed',
      `certificate #${index} does not parse: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

function parsePem(text: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const m of text.matchAll(pemBlock)) {
    if (m[1] !== 'CERTIFICATE') {
      throw new CertificateError('unexpected-pem-block', `expected CERTIFICATE PEM blocks, found "${m[1]}"`);
    }
    const body = m[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) {
      throw new CertificateError(
        'malformed',
        `certificate #${out.length} has invalid base64 in its PEM block`,
      );
    }
    out.push(certificateFromDer(Buffer.from(body, 'base64'), out.length));
  }
  return out;
}

function splitDer(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length;) {
    let t;
    try {
      t = readTlv(buf, off);
    } catch (err) {
      throw new CertificateError('malformed', `DER element #${out.length}: ${(err as DerError).message}`, {
        cause: err,
      });
    }
    if (t.tag !== tag.sequence) {
      throw new CertificateError('malformed', `DER element #${out.length} is not a certificate SEQUENCE`);
    }
    out.push(buf.subarray(off, t.end));
    off = t.end;
  }
  return out;
}

/**
 * Parses certificates from PEM text (one or more `CERTIFICATE` blocks; text between blocks is ignored) or
 * from bytes holding either PEM or concatenated DER certificates (Workload API `x509_svid`, `bundle`).
 * Order is preserved (leaf first for an SVID chain).
 * @throws CertificateError: `empty` (no certificate), `malformed` (bad DER/base64), `unexpected-pem-block`
 *   (a PEM block other than CERTIFICATE).
 */
export function parseCertificates(pemOrDer: string | Uint8Array): X509Certificate[] {
  let certs: X509Certificate[];
  if (typeof pemOrDer === 'string') {
    certs = parsePem(pemOrDer);
  } else if (pemOrDer instanceof Uint8Array) {
    const buf = toBuffer(pemOrDer);
    certs = looksLikePem(buf) ? parsePem(buf.toString('latin1')) : splitDer(buf).map(certificateFromDer);
  } else {
    throw new CertificateError('malformed', 'expected PEM text or DER bytes');
  }
  if (certs.length === 0) throw new CertificateError('empty', 'no certificates found');
  return certs;
}

/** A certificate as node:crypto holds it, or its DER bytes. */
export type CertificateLike = X509Certificate | Uint8Array;

function derOf(c: CertificateLike): Uint8Array {
  return c instanceof X509Certificate ? c.raw : c;
}

/**
 * Encodes certificates (node:crypto objects or DER) as concatenated PEM `CERTIFICATE` blocks
 * (RFC 7468: base64 in 64-column lines), in the given order.
 */
export function certificatesToPem(certs: readonly CertificateLike[]): string {
  return certs
    .map((c) => {
      const b64 = toBuffer(derOf(c)).toString('base64');
      const lines = b64.match(/.{1,64}/g) ?? [];
      return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
    })
    .join('');
}

/** Concatenates the DER of certificates (node:crypto objects or DER), in the given order (Workload API wire form). */
export function certificatesToDer(certs: readonly CertificateLike[]): Buffer {
  return Buffer.concat(certs.map(derOf));
}
