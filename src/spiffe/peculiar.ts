/**
 * The one place that loads @peculiar/x509 (CA certificates, CSRs): it needs reflect-metadata first and
 * node's WebCrypto as its provider. Also converts node KeyObjects to WebCrypto keys for it.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto, type KeyObject } from 'node:crypto';
import { signatureAlgorithmFor } from './keys.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** The WebCrypto key type @peculiar/x509 takes. */
export type PeculiarKey = x509.X509CertificateCreateWithKeyParams['signingKey'];

/** @peculiar/x509, configured. */
export { x509 };

/** Imports a node public key as a WebCrypto key usable for `verify`. */
export function toCryptoPublicKey(key: KeyObject): Promise<PeculiarKey> {
  const alg = signatureAlgorithmFor(key);
  return webcrypto.subtle.importKey(
    'spki',
    key.export({ type: 'spki', format: 'der' }),
    alg.webcrypto.import,
    true,
    ['verify'],
  ) as Promise<PeculiarKey>;
}

/** Imports a node private key as a WebCrypto key usable for `sign`. */
export function toCryptoPrivateKey(key: KeyObject): Promise<PeculiarKey> {
  const alg = signatureAlgorithmFor(key);
  return webcrypto.subtle.importKey(
    'pkcs8',
    key.export({ type: 'pkcs8', format: 'der' }),
    alg.webcrypto.import,
    false,
    ['sign'],
  ) as Promise<PeculiarKey>;
}
