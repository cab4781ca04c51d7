/**
 * Minting X509-SVIDs (fast DER template) and CA certificates (@peculiar/x509), with the certificate profile
 * SPIRE's credtemplate uses (reference §b.3) and X509-SVID §4 requires.
 */
import {
  hash,
  createPublicKey,
  randomFillSync,
  sign,
  X509Certificate,
  type KeyObject,
  type webcrypto,
} from 'node:crypto';
import { certFields, subjectPublicKeyBits, keyUsage, type CertFields } from './certfields.js';
import * as der from './der.js';
import { SpiffeError, X509SvidError } from './errors.js';
import { assertGeneratableSpiffeId, type SpiffeId, type TrustDomain } from './id.js';
import { signatureAlgorithmFor, spkiDer, type SignatureAlgorithm } from './keys.js';
import { toCryptoPrivateKey, toCryptoPublicKey, x509 } from './peculiar.js';

/** How far notBefore is moved into the past to absorb clock skew (SPIRE's NotBeforeCushion), in ms. */
export const notBeforeCushionMs = 10_000;

const serialPool = Buffer.alloc(16 * 256);
let serialOffset = serialPool.length;

/** 16 random bytes, positive and non-zero as a DER INTEGER (RFC 5280 §4.1.2.2: ≤ 20 octets). */
function randomSerial(): Buffer {
  for (;;) {
    if (serialOffset === serialPool.length) {
      randomFillSync(serialPool);
      serialOffset = 0;
    }
    const s = serialPool.subarray(serialOffset, (serialOffset += 16));
    if (s.some((b) => b !== 0)) return s;
  }
}

function keyId(spkiDer: Buffer): Buffer {
  // RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits, as Go and SPIRE compute it.
  return hash('sha1', subjectPublicKeyBits(spkiDer), 'buffer');
}

function fail(rule: string, message: string, cause?: unknown): never {
  throw new X509SvidError(rule, message, cause === undefined ? {} : { cause });
}

interface Signer {
  alg: SignatureAlgorithm;
  /** The TBSCertificate's signature AlgorithmIdentifier followed by the issuer Name, pre-encoded. */
  algorithmAndIssuer: Buffer;
}

interface Issuer {
  fields: CertFields;
  keyId: Buffer;
  /** The authorityKeyIdentifier extension every certificate it signs carries, pre-encoded. */
  authorityKeyIdExtension: Buffer;
  /** Signing keys already checked against this CA certificate. */
  keys: WeakMap<KeyObject, Signer>;
}

const issuers = new WeakMap<X509Certificate, Issuer>();

/**
 * Checks once per (CA certificate, key) pair that the certificate is a CA allowed to sign certificates and
 * that the key is its private key.
 */
function issuerFor(caCert: X509Certificate, caKey: KeyObject): { issuer: Issuer; signer: Signer } {
  let issuer = issuers.get(caCert);
  if (!issuer) {
    const fields = certFields(caCert);
    if (!fields.basicConstraints?.ca)
      fail('issuer-not-ca', 'the signing certificate is not a CA (basicConstraints)');
    if (fields.keyUsage !== undefined && !(fields.keyUsage & keyUsage.keyCertSign)) {
      fail('issuer-not-ca', 'the signing certificate lacks keyCertSign');
    }
    const id = fields.subjectKeyId ?? keyId(fields.spkiDer);
    issuer = {
      fields,
      keyId: id,
      authorityKeyIdExtension: der.sequence(
        oids.authorityKeyIdentifier,
        der.octetString(der.sequence(der.tlv(0x80, id))),
      ),
      keys: new WeakMap(),
    };
    issuers.set(caCert, issuer);
  }
  let signer = issuer.keys.get(caKey);
  if (!signer) {
    if (caKey.type !== 'private') fail('issuer-key-mismatch', 'the signing key is not a private key');
    if (!spkiDer(caKey).equals(issuer.fields.spkiDer)) {
      fail('issuer-key-mismatch', 'the signing key does not belong to the signing certificate');
    }
    const alg = signatureAlgorithmFor(caKey);
    signer = { alg, algorithmAndIssuer: Buffer.concat([alg.algorithmIdentifier, issuer.fields.subjectDer]) };
    issuer.keys.set(caKey, signer);
  }
  return { issuer, signer };
}

const oids = {
  countryName: der.oid('2.5.4.6'),
  organizationName: der.oid('2.5.4.10'),
  commonName: der.oid('2.5.4.3'),
  subjectKeyIdentifier: der.oid('2.5.29.14'),
  keyUsage: der.oid('2.5.29.15'),
  subjectAltName: der.oid('2.5.29.17'),
  basicConstraints: der.oid('2.5.29.19'),
  authorityKeyIdentifier: der.oid('2.5.29.35'),
  extKeyUsage: der.oid('2.5.29.37'),
};

function rdn(type: Buffer, value: Buffer): Buffer {
  return der.tlv(der.tag.set, der.sequence(type, value));
}

/** `C=US, O=SPIRE`: SPIRE's default X509-SVID subject. */
const svidSubjectRdns = [
  rdn(oids.countryName, der.tlv(der.tag.printableString, Buffer.from('US'))),
  rdn(oids.organizationName, der.tlv(der.tag.printableString, Buffer.from('SPIRE'))),
];

const defaultSvidSubject = der.sequence(...svidSubjectRdns);

/** Extensions identical in every X509-SVID, pre-encoded. */
const fixedSvidExtensions = Buffer.concat([
  // keyUsage, critical: digitalSignature | keyEncipherment | keyAgreement (bits 0, 2, 4 → 0xa8, 3 unused).
  der.sequence(oids.keyUsage, der.booleanTrue, der.octetString(der.bitString(Buffer.from([0xa8]), 3))),
  // extKeyUsage: serverAuth, clientAuth.
  der.sequence(
    oids.extKeyUsage,
    der.octetString(der.sequence(der.oid('1.3.6.1.5.5.7.3.1'), der.oid('1.3.6.1.5.5.7.3.2'))),
  ),
  // basicConstraints, critical: cA FALSE (the DEFAULT, so the SEQUENCE is empty).
  der.sequence(oids.basicConstraints, der.booleanTrue, der.octetString(der.sequence())),
]);

const uriNames = new WeakMap<SpiffeId, Buffer>();

/** The GeneralName `[6] uniformResourceIdentifier` of a SPIFFE ID, cached per ID object. */
function uriName(id: SpiffeId): Buffer {
  let name = uriNames.get(id);
  if (!name) {
    name = der.tlv(0x86, Buffer.from(id.toString(), 'latin1'));
    uriNames.set(id, name);
  }
  return name;
}

const timeCache = new Map<number, Buffer>();

/** der.time, memoised: every SVID minted within the same second shares its notBefore/notAfter encodings. */
function encodeTime(d: Date): Buffer {
  const ms = d.getTime();
  let enc = timeCache.get(ms);
  if (!enc) {
    if (timeCache.size >= 64) timeCache.clear();
    enc = der.time(d);
    timeCache.set(ms, enc);
  }
  return enc;
}

const version3 = der.explicit(0, der.smallInteger(2));

/** Checks that bytes are exactly one SubjectPublicKeyInfo SEQUENCE { AlgorithmIdentifier, BIT STRING }. */
function checkedSpki(bytes: Uint8Array): Buffer {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    const outer = der.expectTlv(buf, 0, der.tag.sequence);
    const parts = der.children(buf, outer);
    if (
      outer.end !== buf.length ||
      parts.length !== 2 ||
      parts[0]!.tag !== der.tag.sequence ||
      parts[1]!.tag !== der.tag.bitString
    ) {
      throw new der.DerError('not a SubjectPublicKeyInfo');
    }
  } catch (err) {
    fail('invalid-key', `publicKey bytes are not a DER SubjectPublicKeyInfo: ${(err as Error).message}`, err);
  }
  return buf;
}

const dnsLabel = '[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?';
const dnsNamePattern = new RegExp(`^(?:\\*\\.)?${dnsLabel}(?:\\.${dnsLabel})*$`);

/** Options of {@link mintX509Svid}. */
export interface MintX509SvidOptions {
  /** The SVID's SPIFFE ID; must have a non-empty path (X509-SVID §2). */
  spiffeId: SpiffeId;
  /**
   * The workload's public key: a KeyObject (a private one is accepted; its public half is used), or its DER
   * SubjectPublicKeyInfo as taken from a verified CSR (parseCsr's `publicKeyDer`), which skips OpenSSL's
   * costly key re-encoding.
   */
  publicKey: KeyObject | Uint8Array;
  /** The signing CA certificate: `CA:TRUE`, keyCertSign. */
  caCert: X509Certificate;
  /** The CA's private key. */
  caKey: KeyObject;
  /** Requested lifetime in seconds; notAfter is capped at the CA's notAfter. */
  ttlSeconds: number;
  /** Extra DNS SANs (LDH names, optional leading `*.`); the first also becomes the subject CN. */
  dnsNames?: readonly string[];
  /** Issuance time (default: now). notBefore = now − 10 s. */
  now?: Date;
  /** Serial number as unsigned big-endian bytes (default: 16 random bytes). */
  serialNumber?: Uint8Array;
}

/**
 * Mints an X509-SVID and returns its DER: the same certificate as {@link mintX509Svid}, without building an
 * X509Certificate. This is the hot path: node's X509Certificate constructor alone costs several ECDSA signatures
 * (OpenSSL 3 key decoding), so issuers that only send DER (agent API, Workload API) should use this.
 * @throws X509SvidError: `leaf-root-id`, `invalid-ttl`, `invalid-dns-name`, `issuer-not-ca`,
 *   `issuer-key-mismatch`, `issuer-expired`, `invalid-key` (SPKI bytes malformed); CertificateError for
 *   unsupported or unexportable keys; SpiffeIdError `too-long` for an ID past 2048 bytes.
 */
export function mintX509SvidDer(o: MintX509SvidOptions): Buffer {
  const now = o.now ?? new Date();
  assertGeneratableSpiffeId(o.spiffeId);
  if (o.spiffeId.isTrustDomainId()) {
    fail(
      'leaf-root-id',
      `${o.spiffeId.toString()} has no path; an X509-SVID needs a workload ID (X509-SVID §2)`,
    );
  }
  if (!Number.isFinite(o.ttlSeconds) || o.ttlSeconds <= 0)
    fail('invalid-ttl', `ttlSeconds must be > 0, got ${o.ttlSeconds}`);
  const dnsNames = o.dnsNames ?? [];
  for (const name of dnsNames) {
    if (typeof name !== 'string' || name.length > 253 || !dnsNamePattern.test(name)) {
      fail('invalid-dns-name', `DNS SAN ${JSON.stringify(name)} is not a valid DNS name`);
    }
  }
  const { issuer, signer } = issuerFor(o.caCert, o.caKey);

  const nowMs = Math.floor(now.getTime() / 1000) * 1000;
  const notBefore = new Date(nowMs - notBeforeCushionMs);
  const caNotAfter = issuer.fields.notAfter.getTime();
  const notAfter = new Date(Math.min(nowMs + o.ttlSeconds * 1000, caNotAfter));
  if (caNotAfter <= nowMs)
    fail('issuer-expired', `the signing CA expired at ${issuer.fields.notAfter.toISOString()}`);

  const spki = o.publicKey instanceof Uint8Array ? checkedSpki(o.publicKey) : spkiDer(o.publicKey);

  const subject =
    dnsNames.length > 0 && dnsNames[0]!.length <= 64
      ? der.sequence(
          ...svidSubjectRdns,
          rdn(oids.commonName, der.tlv(der.tag.utf8String, Buffer.from(dnsNames[0]!))),
        )
      : defaultSvidSubject;
  const sanNames = [uriName(o.spiffeId)];
  for (const name of dnsNames) sanNames.push(der.tlv(0x82, Buffer.from(name, 'latin1')));

  const tbs = der.sequence(
    version3,
    der.unsignedInteger(o.serialNumber ?? randomSerial()),
    signer.algorithmAndIssuer,
    der.sequence(encodeTime(notBefore), encodeTime(notAfter)),
    subject,
    spki,
    der.explicit(
      3,
      der.sequence(
        fixedSvidExtensions,
        der.sequence(oids.subjectKeyIdentifier, der.octetString(der.octetString(keyId(spki)))),
        issuer.authorityKeyIdExtension,
        der.sequence(oids.subjectAltName, der.octetString(der.sequence(...sanNames))),
      ),
    ),
  );
  const signature = sign(signer.alg.hash, tbs, o.caKey);
  return der.sequence(tbs, signer.alg.algorithmIdentifier, der.bitString(signature));
}

/**
 * Mints an X509-SVID (X509-SVID §4, SPIRE credtemplate profile, reference §b.3) synchronously from a DER
 * template: version 3, random positive 128-bit serial, subject `C=US, O=SPIRE` (+ `CN=<first DNS name>`),
 * notBefore = now − 10 s, notAfter = min(now + ttlSeconds, CA notAfter), critical basicConstraints CA:FALSE,
 * critical keyUsage digitalSignature|keyEncipherment|keyAgreement, extKeyUsage serverAuth+clientAuth,
 * SKI/AKI, and a SAN with exactly one URI (the SPIFFE ID) plus the DNS names. Signed by `caKey` with the
 * algorithm of its type (ECDSA-SHA256 for P-256).
 * @throws X509SvidError: see {@link mintX509SvidDer}.
 */
export function mintX509Svid(o: MintX509SvidOptions): X509Certificate {
  return new X509Certificate(mintX509SvidDer(o));
}

/** Options of {@link mintCaCertificate}. */
export interface MintCaCertificateOptions {
  /** Trust domain the CA issues for; its ID `spiffe://<td>` is the CA's URI SAN. */
  trustDomain: TrustDomain;
  /** The CA's public key (a private KeyObject is accepted only when self-signing). */
  publicKey: KeyObject;
  /** Lifetime in seconds; notAfter is capped at the signer's notAfter. */
  ttlSeconds: number;
  /** The parent CA; absent = self-signed root, which then needs {@link privateKey}. */
  signer?: { cert: X509Certificate; key: KeyObject };
  /** The CA's own private key, required for a self-signed root. */
  privateKey?: KeyObject;
  /** Subject DN string (e.g. `C=US, O=SPIFFE`); default `C=US, O=SPIFFE, serialNumber=<decimal serial>`. */
  subject?: string;
  /** Issuance time (default: now). notBefore = now − 10 s. */
  now?: Date;
  /** Optional basicConstraints pathLenConstraint. */
  pathLength?: number;
}

/**
 * Mints a CA certificate for a trust domain (X509-SVID §4.1, SPIRE's CA profile): critical basicConstraints
 * `CA:TRUE`, critical keyUsage keyCertSign|cRLSign, SKI (+AKI for intermediates), URI SAN `spiffe://<td>`,
 * notBefore = now − 10 s, notAfter = min(now + ttlSeconds, signer notAfter). Self-signed when `signer` is
 * absent (then `privateKey` must be given), otherwise an intermediate signed by `signer`.
 * @throws X509SvidError: `invalid-ttl`, `issuer-not-ca`, `issuer-key-mismatch`, `issuer-expired`,
 *   `missing-private-key`.
 */
export async function mintCaCertificate(o: MintCaCertificateOptions): Promise<X509Certificate> {
  const now = o.now ?? new Date();
  if (!Number.isFinite(o.ttlSeconds) || o.ttlSeconds <= 0)
    fail('invalid-ttl', `ttlSeconds must be > 0, got ${o.ttlSeconds}`);
  const nowMs = Math.floor(now.getTime() / 1000) * 1000;
  let notAfterMs = nowMs + o.ttlSeconds * 1000;

  let signingKey: KeyObject;
  let authorityKeyId: Buffer | undefined;
  let issuerName: x509.Name | undefined;
  const publicKey = o.publicKey.type === 'private' ? createPublicKey(o.publicKey) : o.publicKey;
  if (o.signer) {
    const { issuer } = issuerFor(o.signer.cert, o.signer.key);
    if (issuer.fields.notAfter.getTime() <= nowMs) {
      fail('issuer-expired', `the signing CA expired at ${issuer.fields.notAfter.toISOString()}`);
    }
    notAfterMs = Math.min(notAfterMs, issuer.fields.notAfter.getTime());
    signingKey = o.signer.key;
    authorityKeyId = issuer.keyId;
    issuerName = new x509.Name(issuer.fields.subjectDer);
  } else {
    const own = o.privateKey ?? (o.publicKey.type === 'private' ? o.publicKey : undefined);
    if (!own) fail('missing-private-key', 'a self-signed CA needs its private key (privateKey)');
    if (!spkiDer(own).equals(spkiDer(publicKey))) {
      fail('issuer-key-mismatch', 'privateKey does not match publicKey');
    }
    signingKey = own;
  }

  const serial = Buffer.from(randomSerial());
  serial[0]! &= 0x7f;
  serial[0]! |= 0x01;
  const spki = spkiDer(publicKey);
  const subject = o.subject ?? `C=US, O=SPIFFE, 2.5.4.5=${BigInt(`0x${serial.toString('hex')}`)}`;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, o.pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    new x509.SubjectKeyIdentifierExtension(keyId(spki).toString('hex')),
    new x509.SubjectAlternativeNameExtension([{ type: 'url', value: o.trustDomain.idString() }]),
  ];
  if (authorityKeyId)
    extensions.push(new x509.AuthorityKeyIdentifierExtension(authorityKeyId.toString('hex')));

  const alg = signatureAlgorithmFor(signingKey);
  const common = {
    serialNumber: serial.toString('hex'),
    notBefore: new Date(nowMs - notBeforeCushionMs),
    notAfter: new Date(notAfterMs),
    extensions,
    signingAlgorithm: alg.webcrypto.sign as webcrypto.Algorithm,
  };
  let cert: x509.X509Certificate;
  try {
    cert = await x509.X509CertificateGenerator.create({
      ...common,
      subject,
      issuer: issuerName ?? subject,
      publicKey: await toCryptoPublicKey(publicKey),
      signingKey: await toCryptoPrivateKey(signingKey),
    });
  } catch (err) {
    if (err instanceof SpiffeError) throw err;
    fail('mint-failed', `cannot mint CA certificate: ${(err as Error).message}`, err);
  }
  const out = new X509Certificate(Buffer.from(cert.rawData));
  if (o.signer && !out.checkIssued(o.signer.cert))
    fail('mint-failed', 'minted CA does not chain to its signer');
  return out;
}
