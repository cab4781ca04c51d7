/**
 * PKCS#10 certificate signing requests (RFC 2986), as SPIRE agents send them to the server: the agent
 * generates the key, the server only ever sees the public key and fills in the identity itself.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { CsrError, SpiffeError } from './errors.js';
import type { SpiffeId } from './id.js';
import { signatureAlgorithmFor, type KeyPair } from './keys.js';
import { toCryptoPrivateKey, toCryptoPublicKey, x509 } from './peculiar.js';

/**
 * Creates a DER PKCS#10 CSR signed by `key.privateKey`, with an empty subject and, when given, a SAN holding
 * the SPIFFE ID as URI and the DNS names.
 * @throws CsrError (rule `create-failed`) when the key can't sign.
 */
export async function createCsr(
  key: KeyPair,
  opts: { spiffeId?: SpiffeId; dnsNames?: readonly string[] } = {},
): Promise<Buffer> {
  try {
    const names: { type: 'url' | 'dns'; value: string }[] = [];
    if (opts.spiffeId) names.push({ type: 'url', value: opts.spiffeId.toString() });
    for (const dns of opts.dnsNames ?? []) names.push({ type: 'dns', value: dns });
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys: {
        privateKey: await toCryptoPrivateKey(key.privateKey),
        publicKey: await toCryptoPublicKey(key.publicKey),
      },
      signingAlgorithm: signatureAlgorithmFor(key.privateKey).webcrypto.sign,
      extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
    });
    return Buffer.from(csr.rawData);
  } catch (err) {
    if (err instanceof SpiffeError) throw err;
    throw new CsrError('create-failed', `cannot create CSR: ${(err as Error).message}`, { cause: err });
  }
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

/**
 * Parses a DER PKCS#10 CSR and verifies its self-signature (proof of possession of the private key).
 * @throws CsrError: `malformed` (does not parse), `unsupported-key` (not EC P-256/384/521, RSA or Ed25519),
 *   `signature` (self-signature invalid).
 */
export async function parseCsr(der: Uint8Array): Promise<ParsedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  let publicKey: KeyObject;
  let publicKeyDer: Buffer;
  try {
    csr = new x509.Pkcs10CertificateRequest(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
    publicKeyDer = Buffer.from(csr.publicKey.rawData);
    publicKey = createPublicKey({ key: publicKeyDer, format: 'der', type: 'spki' });
  } catch (err) {
    throw new CsrError('malformed', `CSR does not parse: ${(err as Error).message}`, { cause: err });
  }
  try {
    signatureAlgorithmFor(publicKey);
  } catch (err) {
    throw new CsrError('unsupported-key', (err as Error).message, { cause: err });
  }
  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch (err) {
    throw new CsrError('signature', `CSR signature does not verify: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!valid) throw new CsrError('signature', 'CSR signature does not verify');
  const uris: string[] = [];
  const dnsNames: string[] = [];
  try {
    // getExtension() does not look into the PKCS#10 extensionRequest attribute; `extensions` does.
    const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
    for (const name of san?.names.items ?? []) {
      if (name.type === 'url') uris.push(name.value);
      else if (name.type === 'dns') dnsNames.push(name.value);
    }
  } catch (err) {
    throw new CsrError('malformed', `CSR extensions do not parse: ${(err as Error).message}`, { cause: err });
  }
  return { publicKey, publicKeyDer, uris, dnsNames };
}
