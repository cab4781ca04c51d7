/**
 * X509-SVIDs: the SVID value (chain + private key) with go-spiffe `x509svid.ParseRaw`'s checks, and peer
 * verification against X.509 bundles per X509-SVID §5 (go-spiffe `x509svid.Verify`, reference §b.2).
 */
import { createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { certFields, extensionOid, keyUsage, type CertFields } from './certfields.js';
import type { X509BundleSource } from './bundle.js';
import { X509SvidError } from './errors.js';
import { SpiffeId } from './id.js';
import { parsePrivateKey, publicKeyFromSpki, spkiDer } from './keys.js';
import { certificatesToDer, certificatesToPem, parseCertificates } from './pem.js';

/** Longest chain (leaf + intermediates) accepted, to bound path building. */
const maxChainLength = 16;

function fail(rule: string, message: string, cause?: unknown): never {
  throw new X509SvidError(rule, message, cause === undefined ? {} : { cause });
}

function fieldsOf(cert: X509Certificate, what: string): CertFields {
  try {
    return certFields(cert);
  } catch (err) {
    fail('malformed', `${what}: ${(err as Error).message}`, err);
  }
}

/** Extensions whose semantics we enforce or that carry no constraint; any other critical one is refused. */
const handledExtensions = new Set<string>([
  extensionOid.basicConstraints,
  extensionOid.keyUsage,
  extensionOid.extKeyUsage,
  extensionOid.subjectAltName,
  extensionOid.subjectKeyIdentifier,
  extensionOid.authorityKeyIdentifier,
  extensionOid.certificatePolicies,
]);

function checkCriticalExtensions(f: CertFields, what: string): void {
  for (const ext of f.extensions) {
    if (ext.critical && !handledExtensions.has(ext.oid)) {
      fail('unhandled-critical-extension', `${what} has an unhandled critical extension ${ext.oid}`);
    }
  }
}

/**
 * The leaf rules of X509-SVID §4–5: exactly one URI SAN that parses as a SPIFFE ID with a non-empty path,
 * not a CA, keyUsage with digitalSignature and without keyCertSign / cRLSign.
 */
function checkLeaf(leaf: X509Certificate): { id: SpiffeId; fields: CertFields } {
  const f = fieldsOf(leaf, 'leaf certificate');
  if (f.uris.length === 0) fail('leaf-no-uri-san', 'leaf certificate has no URI SAN');
  if (f.uris.length > 1)
    fail('leaf-multiple-uri-sans', `leaf certificate has ${f.uris.length} URI SANs; exactly one is allowed`);
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(f.uris[0]!);
  } catch (err) {
    fail('leaf-invalid-spiffe-id', `leaf URI SAN is not a SPIFFE ID: ${(err as Error).message}`, err);
  }
  if (id.isTrustDomainId()) fail('leaf-root-id', `leaf SPIFFE ID ${id.toString()} has no path`);
  if (f.basicConstraints?.ca) fail('leaf-is-ca', 'leaf certificate is a CA (basicConstraints CA:TRUE)');
  const ku = f.keyUsage ?? 0;
  if (ku & keyUsage.keyCertSign) fail('leaf-key-cert-sign', 'leaf certificate has keyUsage keyCertSign');
  if (ku & keyUsage.cRLSign) fail('leaf-crl-sign', 'leaf certificate has keyUsage cRLSign');
  if (!(ku & keyUsage.digitalSignature))
    fail('leaf-no-digital-signature', 'leaf certificate lacks keyUsage digitalSignature');
  return { id, fields: f };
}

/** The rule a CA certificate (intermediate) breaks, if any: it must be a CA with keyCertSign (if KU present). */
function caProblem(f: CertFields): string | undefined {
  if (!f.basicConstraints?.ca) return 'is not a CA (basicConstraints)';
  if (f.keyUsage !== undefined && !(f.keyUsage & keyUsage.keyCertSign)) return 'lacks keyUsage keyCertSign';
  return undefined;
}

const publicKeys = new WeakMap<X509Certificate, KeyObject>();

function publicKeyOf(cert: X509Certificate): KeyObject {
  let key = publicKeys.get(cert);
  if (!key) {
    key = publicKeyFromSpki(certFields(cert).spkiDer);
    publicKeys.set(cert, key);
  }
  return key;
}

/** True when `parent`'s subject is `child`'s issuer, the key IDs agree, and `parent`'s key signed `child`. */
function issued(child: X509Certificate, cf: CertFields, parent: X509Certificate, pf: CertFields): boolean {
  if (!cf.issuerDer.equals(pf.subjectDer)) return false;
  if (cf.authorityKeyId && pf.subjectKeyId && !cf.authorityKeyId.equals(pf.subjectKeyId)) return false;
  try {
    return child.verify(publicKeyOf(parent));
  } catch {
    return false;
  }
}

function validityProblem(f: CertFields, nowMs: number, what: string): X509SvidError | undefined {
  if (nowMs < f.notBefore.getTime()) {
    return new X509SvidError('not-yet-valid', `${what} is not valid before ${f.notBefore.toISOString()}`);
  }
  if (nowMs > f.notAfter.getTime()) {
    return new X509SvidError('expired', `${what} expired at ${f.notAfter.toISOString()}`);
  }
  return undefined;
}

/** Result of {@link verifyX509Svid}. */
export interface VerifiedX509Svid {
  /** The SPIFFE ID of the leaf's URI SAN. */
  spiffeId: SpiffeId;
  /** Leaf first, then the intermediates used, ending with the bundle authority the path reached. */
  verifiedChain: X509Certificate[];
}

/**
 * Verifies a peer's X509-SVID chain (leaf first, then intermediates in any order; PEM, concatenated DER or
 * X509Certificate[]) per X509-SVID §5: the leaf rules (exactly one URI SAN that is a SPIFFE ID with a path,
 * not a CA, digitalSignature, no keyCertSign/cRLSign), then an RFC 5280 path to an authority of the bundle of
 * **the leaf's own trust domain** (never a pooled set): each issuer's subject matches, signatures verify,
 * intermediates are CAs with keyCertSign, pathLenConstraints hold, no unhandled critical extension, and every
 * certificate (authority included) is within its validity window at `now`. EKU is not enforced (as go-spiffe).
 * @param o.now verification time (default: now).
 * @throws X509SvidError whose `rule` is one of: `chain-empty`, `chain-too-long`, `malformed`, `leaf-no-uri-san`,
 *   `leaf-multiple-uri-sans`, `leaf-invalid-spiffe-id`, `leaf-root-id`, `leaf-is-ca`, `leaf-key-cert-sign`,
 *   `leaf-crl-sign`, `leaf-no-digital-signature`, `unhandled-critical-extension`, `no-bundle`, `expired`,
 *   `not-yet-valid`, `intermediate-not-ca`, `path-length`, `untrusted`.
 */
export function verifyX509Svid(
  chain: readonly X509Certificate[] | Uint8Array | string,
  bundles: X509BundleSource,
  o: { now?: Date } = {},
): VerifiedX509Svid {
  let certs: readonly X509Certificate[];
  if (Array.isArray(chain)) {
    certs = chain;
  } else {
    if ((chain as string | Uint8Array).length === 0) fail('chain-empty', 'no certificates presented');
    try {
      certs = parseCertificates(chain as string | Uint8Array);
    } catch (err) {
      fail('malformed', `cannot parse the presented chain: ${(err as Error).message}`, err);
    }
  }
  const leaf = certs[0];
  if (!leaf) fail('chain-empty', 'no certificates presented');
  if (certs.length > maxChainLength)
    fail('chain-too-long', `${certs.length} certificates presented (max ${maxChainLength})`);
  const nowMs = (o.now ?? new Date()).getTime();

  const { id, fields: leafFields } = checkLeaf(leaf);
  checkCriticalExtensions(leafFields, 'leaf certificate');
  const bundle = bundles.getX509BundleForTrustDomain(id.trustDomain);
  if (!bundle) fail('no-bundle', `no X.509 bundle for trust domain ${id.trustDomain.name}`);
  const leafValidity = validityProblem(leafFields, nowMs, 'leaf certificate');
  if (leafValidity) throw leafValidity;

  const authorities = bundle
    .authorities()
    .map((cert) => ({ cert, fields: fieldsOf(cert, 'bundle authority') }));
  const intermediates = certs
    .slice(1)
    .map((cert, i) => ({ cert, fields: fieldsOf(cert, `intermediate #${i + 1}`), i }));
  let firstProblem: X509SvidError | undefined;
  const note = (e: X509SvidError): void => {
    firstProblem ??= e;
  };

  // Depth-first path building: `path` is leaf … current; `depth` = number of intermediates so far.
  const extend = (
    path: X509Certificate[],
    cur: X509Certificate,
    cf: CertFields,
    used: Set<number>,
  ): X509Certificate[] | undefined => {
    const depth = path.length - 1;
    for (const a of authorities) {
      if (!issued(cur, cf, a.cert, a.fields)) continue;
      const problem =
        validityProblem(a.fields, nowMs, 'bundle authority') ??
        (a.fields.basicConstraints?.pathLen !== undefined && depth > a.fields.basicConstraints.pathLen
          ? new X509SvidError('path-length', 'bundle authority pathLenConstraint exceeded')
          : undefined);
      if (problem) {
        note(problem);
        continue;
      }
      return [...path, a.cert];
    }
    for (const im of intermediates) {
      if (used.has(im.i) || !issued(cur, cf, im.cert, im.fields)) continue;
      const what = `intermediate #${im.i + 1}`;
      const notCa = caProblem(im.fields);
      if (notCa) {
        note(new X509SvidError('intermediate-not-ca', `${what} ${notCa}`));
        continue;
      }
      const problem =
        validityProblem(im.fields, nowMs, what) ??
        (im.fields.basicConstraints?.pathLen !== undefined && depth > im.fields.basicConstraints.pathLen
          ? new X509SvidError('path-length', `${what} pathLenConstraint exceeded`)
          : undefined);
      if (problem) {
        note(problem);
        continue;
      }
      try {
        checkCriticalExtensions(im.fields, what);
      } catch (err) {
        note(err as X509SvidError);
        continue;
      }
      const found = extend([...path, im.cert], im.cert, im.fields, new Set([...used, im.i]));
      if (found) return found;
    }
    return undefined;
  };

  const verifiedChain = extend([leaf], leaf, leafFields, new Set());
  if (!verifiedChain) {
    throw (
      firstProblem ??
      new X509SvidError(
        'untrusted',
        `certificate signed by unknown authority (trust domain ${id.trustDomain.name})`,
      )
    );
  }
  return { spiffeId: id, verifiedChain };
}

/**
 * An X509-SVID with its private key, as the Workload API delivers it (X509SVID message) and SDS serves it.
 * Construction enforces go-spiffe `x509svid.ParseRaw`'s rules (reference §b.2): leaf rules as in
 * {@link verifyX509Svid}, every following certificate a CA with keyCertSign, and the key matching the leaf.
 * Keys stay in memory; nothing is written to disk.
 */
export class X509Svid {
  /** The SPIFFE ID of the leaf. */
  readonly spiffeId: SpiffeId;
  /** Leaf first, then intermediates (never the root). */
  readonly certificates: X509Certificate[];
  /** The leaf's private key. */
  readonly privateKey: KeyObject;
  /** Workload API `hint` (operator-chosen label), if any. */
  readonly hint?: string;

  /**
   * @throws X509SvidError: `chain-empty`, leaf rules (`leaf-*`), `intermediate-not-ca`, `key-mismatch`.
   */
  constructor(certificates: readonly X509Certificate[], privateKey: KeyObject, hint?: string) {
    const leaf = certificates[0];
    if (!leaf) fail('chain-empty', 'an X509-SVID needs at least the leaf certificate');
    this.spiffeId = checkLeaf(leaf).id;
    certificates.slice(1).forEach((c, i) => {
      const problem = caProblem(fieldsOf(c, `certificate #${i + 1}`));
      if (problem) fail('intermediate-not-ca', `certificate #${i + 1} of the chain ${problem}`);
    });
    if (privateKey.type !== 'private') fail('key-mismatch', 'the SVID key is not a private key');
    let matches: boolean;
    try {
      const keySpki = spkiDer(privateKey);
      matches = keySpki.equals(certFields(leaf).spkiDer) || keySpki.equals(spkiDer(leaf.publicKey));
    } catch {
      matches = false;
    }
    if (!matches) fail('key-mismatch', 'the private key does not match the leaf certificate');
    this.certificates = [...certificates];
    this.privateKey = privateKey;
    if (hint !== undefined && hint !== '') this.hint = hint;
  }

  /**
   * Parses an SVID from its chain (PEM, or concatenated DER leaf first as in the Workload API `x509_svid`) and
   * key (PEM, or unencrypted PKCS#8 DER as in `x509_svid_key`).
   * @throws X509SvidError: `malformed` (with the parse error as cause), or any rule of the constructor.
   */
  static parse(certs: string | Uint8Array, key: string | Uint8Array, hint?: string): X509Svid {
    let chain: X509Certificate[];
    let privateKey: KeyObject;
    try {
      chain = parseCertificates(certs);
      privateKey = parsePrivateKey(key);
    } catch (err) {
      fail('malformed', (err as Error).message, err);
    }
    return new X509Svid(chain, privateKey, hint);
  }

  /** The chain as PEM blocks, leaf first (SDS `certificate_chain`). */
  certChainPem(): string {
    return certificatesToPem(this.certificates);
  }

  /** The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, SDS `private_key`). */
  privateKeyPem(): string {
    return this.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  }

  /** The chain as concatenated DER, leaf first (Workload API `x509_svid`). */
  certChainDer(): Buffer {
    return certificatesToDer(this.certificates);
  }

  /** The private key as unencrypted PKCS#8 DER (Workload API `x509_svid_key`). */
  privateKeyDer(): Buffer {
    return this.privateKey.export({ type: 'pkcs8', format: 'der' });
  }

  /** The leaf's notAfter. */
  expiresAt(): Date {
    return certFields(this.certificates[0]!).notAfter;
  }

  /** The leaf's public key. */
  publicKey(): KeyObject {
    return createPublicKey(this.privateKey);
  }
}
