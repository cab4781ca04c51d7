/**
 * PKCS#10 certificate signing requests (RFC 2986), as SPIRE agents send them to the server: the agent
 * generates the key, the server only ever sees the public key and fills in the identity itself.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import {
  extensionOid,
  parseExtensionList,
  readSubjectAltNames,
  decodeOid,
  type Extension,
} from './certfields.js';
import {
  bitString,
  children,
  DerError,
  elementOf,
  expectTlv,
  explicit,
  octetString,
  oid,
  sequence,
  smallInteger,
  tag,
  tlv,
  valueOf,
} from './der.js';
import { CsrError } from './errors.js';
import type { SpiffeId } from './id.js';
import { publicKeyFromSpki, signatureAlgorithmFor, spkiDer, type KeyPair } from './keys.js';

const extensionRequestOid = '1.2.840.113549.1.9.14';

/** `version INTEGER 0` then `subject Name ::= SEQUENCE {}`: SPIRE's CSRs carry no subject. */
const versionAndEmptySubject = Buffer.concat([smallInteger(0), sequence()]);
const subjectAltNameOid = oid(extensionOid.subjectAltName);
const extensionRequestAttributeType = oid(extensionRequestOid);

/**
 * Creates a DER PKCS#10 CSR (RFC 2986 §4) signed by `key.privateKey`, with an empty subject and, when given,
 * an extensionRequest attribute (PKCS#9) holding a SAN with the SPIFFE ID as URI and the DNS names. Built from
 * a DER template and signed with node:crypto: every SVID the agent mints or rotates needs one, and
 * @peculiar/x509's generic builder (WebCrypto key import, ASN.1 schema serialisation) cost ~10 ms each.
 * Async for API stability.
 * @throws CsrError (rule `create-failed`) when the key can't sign; CertificateError (`unsupported-key`,
 *   `invalid-key`) for key types no SVID can carry or keys that don't export.
 */
export async function createCsr(
  key: KeyPair,
  opts: { spiffeId?: SpiffeId; dnsNames?: readonly string[] } = {},
): Promise<Buffer> {
  const alg = signatureAlgorithmFor(key.privateKey);
  const names: Buffer[] = [];
  if (opts.spiffeId) names.push(tlv(0x86, Buffer.from(opts.spiffeId.toString(), 'latin1')));
  for (const dns of opts.dnsNames ?? []) names.push(tlv(0x82, Buffer.from(dns, 'latin1')));
  const attributes =
    names.length > 0
      ? explicit(
          0,
          sequence(
            extensionRequestAttributeType,
            tlv(tag.set, sequence(sequence(subjectAltNameOid, octetString(sequence(...names))))),
          ),
        )
      : explicit(0);
  const info = sequence(versionAndEmptySubject, spkiDer(key.publicKey), attributes);
  let signature: Buffer;
  try {
    signature = sign(alg.hash, info, key.privateKey);
  } catch (err) {
    throw new CsrError('create-failed', `cannot sign the CSR: ${(err as Error).message}`, { cause: err });
  }
  return sequence(info, alg.algorithmIdentifier, bitString(signature));
}

/** What the server reads from a CSR. */
export interface ParsedCsr {
  /** The requester's public key (the only thing a server should take from a CSR besides proof of possession). */
  publicKey: KeyObject;
  /** The same key as DER SubjectPublicKeyInfo, straight from the CSR (pass it to mintX509Svid's `publicKey`). */
  publicKeyDer: Buffer;
  /** URI SANs requested (informational: the server decides the SPIFFE ID). */
  uris: string[];
  /** DNS SANs requested. */
  dnsNames: string[];
}

/** Signature algorithms accepted on a CSR: digest for crypto.verify and the key type that must sign. */
const csrSignatureAlgorithms: Record<string, { hash: string | null; keyType: string }> = {
  '1.2.840.10045.4.3.2': { hash: 'sha256', keyType: 'ec' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', keyType: 'ec' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', keyType: 'ec' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', keyType: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', keyType: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', keyType: 'rsa' },
  '1.3.101.112': { hash: null, keyType: 'ed25519' },
};

/** The parts of a CertificationRequest (RFC 2986 §4) a server needs, read with the DER reader. */
function readCsr(buf: Buffer): {
  info: Buffer;
  algorithm: string;
  signature: Buffer;
  spki: Buffer;
  extensions: Extension[];
} {
  const outer = expectTlv(buf, 0, tag.sequence);
  if (outer.end !== buf.length) throw new DerError('trailing data after the CSR');
  const [info, alg, sig, extra] = children(buf, outer);
  if (
    !info ||
    info.tag !== tag.sequence ||
    !alg ||
    alg.tag !== tag.sequence ||
    !sig ||
    sig.tag !== tag.bitString ||
    extra
  ) {
    throw new DerError('not a CertificationRequest');
  }
  const [version, subject, spki, attributes, more] = children(buf, info);
  if (
    !version ||
    version.tag !== tag.integer ||
    version.end - version.start !== 1 ||
    buf[version.start] !== 0
  ) {
    throw new DerError('CSR version must be 0 (v1)');
  }
  if (!subject || subject.tag !== tag.sequence || !spki || spki.tag !== tag.sequence || more) {
    throw new DerError('malformed CertificationRequestInfo');
  }
  const algId = children(buf, alg)[0];
  if (!algId || algId.tag !== tag.oid) throw new DerError('signature algorithm without OID');
  if (sig.end - sig.start < 2 || buf[sig.start] !== 0) throw new DerError('malformed signature BIT STRING');
  const extensions: Extension[] = [];
  if (attributes) {
    if (attributes.tag !== 0xa0) throw new DerError('malformed CSR attributes');
    for (const attr of children(buf, attributes)) {
      const [type, values] = attr.tag === tag.sequence ? children(buf, attr) : [];
      if (!type || type.tag !== tag.oid || !values || values.tag !== tag.set)
        throw new DerError('malformed CSR attribute');
      if (decodeOid(valueOf(buf, type)) !== extensionRequestOid) continue;
      const list = children(buf, values)[0];
      if (!list || list.tag !== tag.sequence) throw new DerError('malformed extensionRequest');
      extensions.push(...parseExtensionList(buf, list));
    }
  }
  return {
    info: elementOf(buf, info),
    algorithm: decodeOid(valueOf(buf, algId)),
    signature: buf.subarray(sig.start + 1, sig.end),
    spki: elementOf(buf, spki),
    extensions,
  };
}

/**
 * Parses a DER PKCS#10 CSR (RFC 2986) and verifies its self-signature (proof of possession of the private key).
 * This runs on the identity server for every SVID it issues, so it reads the DER directly and verifies with
 * node:crypto (~25× faster than going through @peculiar/x509 and WebCrypto). Async for API stability.
 * @throws CsrError: `malformed` (does not parse), `unsupported-key` (not EC P-256/384/521, RSA or Ed25519),
 *   `unsupported-algorithm` (signature algorithm not ECDSA/RSA PKCS#1 v1.5 with SHA-2, or Ed25519),
 *   `signature` (self-signature invalid or made with an algorithm that does not fit the key).
 */
export async function parseCsr(der: Uint8Array): Promise<ParsedCsr> {
  return parseCsrSync(der);
}

/** {@link parseCsr}, synchronously. */
export function parseCsrSync(der: Uint8Array): ParsedCsr {
  if (!(der instanceof Uint8Array)) throw new CsrError('malformed', 'CSR must be DER bytes');
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  let csr: ReturnType<typeof readCsr>;
  let publicKey: KeyObject;
  try {
    csr = readCsr(buf);
    publicKey = publicKeyFromSpki(csr.spki);
  } catch (err) {
    throw new CsrError('malformed', `CSR does not parse: ${(err as Error).message}`, { cause: err });
  }
  try {
    signatureAlgorithmFor(publicKey);
  } catch (err) {
    throw new CsrError('unsupported-key', (err as Error).message, { cause: err });
  }
  const alg = csrSignatureAlgorithms[csr.algorithm];
  if (!alg)
    throw new CsrError('unsupported-algorithm', `CSR signature algorithm ${csr.algorithm} is not supported`);
  if (alg.keyType !== publicKey.asymmetricKeyType) {
    throw new CsrError(
      'signature',
      `CSR signature algorithm ${csr.algorithm} does not fit its ${publicKey.asymmetricKeyType} key`,
    );
  }
  let valid: boolean;
  try {
    valid = verify(alg.hash, csr.info, publicKey, csr.signature);
  } catch (err) {
    throw new CsrError('signature', `CSR signature does not verify: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!valid) throw new CsrError('signature', 'CSR signature does not verify');
  const names = { uris: [] as string[], dnsNames: [] as string[] };
  const san = csr.extensions.find((e) => e.oid === extensionOid.subjectAltName);
  try {
    if (san) readSubjectAltNames(san.value, names);
  } catch (err) {
    throw new CsrError('malformed', `CSR subjectAltName does not parse: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { publicKey, publicKeyDer: Buffer.from(csr.spki), uris: names.uris, dnsNames: names.dnsNames };
}
