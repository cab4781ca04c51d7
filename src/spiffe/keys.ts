/**
 * Key pairs and the signature algorithm each key type signs certificates and JWTs with.
 * P-256 is the default everywhere (ARCHITECTURE.md: P-384 and RSA are far slower here).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  type webcrypto,
} from 'node:crypto';
import { bitString, children, DerError, expectTlv, nullValue, oid, sequence, tag, valueOf } from './der.js';
import { CertificateError } from './errors.js';

/** A private key with its public half. */
export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * Generates an EC P-256 (prime256v1) key pair, the SPIRE default for CA and workload keys
 * (reference §b.3). Synchronous.
 */
export function generateKeyPair(): KeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** How a key type signs: node hash name, X.509 AlgorithmIdentifier DER, JWS `alg`, WebCrypto parameters. */
export interface SignatureAlgorithm {
  /** Digest for `crypto.sign`; `null` for Ed25519. */
  hash: 'sha256' | 'sha384' | 'sha512' | null;
  /** DER AlgorithmIdentifier placed in certificates. */
  algorithmIdentifier: Buffer;
  /** JWS `alg` (JWT-SVID §3 allow-list), absent for Ed25519 which JWT-SVID does not permit. */
  jwsAlg?: 'ES256' | 'ES384' | 'ES512' | 'RS256';
  /** WebCrypto import and sign parameters (used with @peculiar/x509). */
  webcrypto: {
    import: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams | webcrypto.Algorithm;
    sign: webcrypto.EcdsaParams | webcrypto.Algorithm;
  };
}

const ecAlgorithms: Record<string, SignatureAlgorithm> = {
  prime256v1: {
    hash: 'sha256',
    algorithmIdentifier: sequence(oid('1.2.840.10045.4.3.2')),
    jwsAlg: 'ES256',
    webcrypto: { import: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  },
  secp384r1: {
    hash: 'sha384',
    algorithmIdentifier: sequence(oid('1.2.840.10045.4.3.3')),
    jwsAlg: 'ES384',
    webcrypto: { import: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
  },
  secp521r1: {
    hash: 'sha512',
    algorithmIdentifier: sequence(oid('1.2.840.10045.4.3.4')),
    jwsAlg: 'ES512',
    webcrypto: { import: { name: 'ECDSA', namedCurve: 'P-521' }, sign: { name: 'ECDSA', hash: 'SHA-512' } },
  },
};

const rsaAlgorithm: SignatureAlgorithm = {
  hash: 'sha256',
  algorithmIdentifier: sequence(oid('1.2.840.113549.1.1.11'), nullValue),
  jwsAlg: 'RS256',
  webcrypto: {
    import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
};

const ed25519Algorithm: SignatureAlgorithm = {
  hash: null,
  algorithmIdentifier: sequence(oid('1.3.101.112')),
  webcrypto: { import: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
};

/**
 * The signature algorithm a key (private or public) signs with: ECDSA with the curve's hash for P-256,
 * P-384, P-521; SHA-256 RSASSA-PKCS1-v1_5 for RSA; Ed25519.
 * @throws CertificateError (rule `unsupported-key`) for other key types.
 */
export function signatureAlgorithmFor(key: KeyObject): SignatureAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const alg = ecAlgorithms[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (alg) return alg;
      break;
    }
    case 'rsa':
      return rsaAlgorithm;
    case 'ed25519':
      return ed25519Algorithm;
  }
  throw new CertificateError(
    'unsupported-key',
    `unsupported key type ${key.asymmetricKeyType ?? key.type}` +
      (key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : ''),
  );
}

/**
 * Parses a private key from PEM (`PRIVATE KEY`, `EC PRIVATE KEY`, `RSA PRIVATE KEY`) or PKCS#8 DER.
 * @throws CertificateError (rule `malformed-key`) when it does not parse or is encrypted.
 */
export function parsePrivateKey(pemOrDer: string | Uint8Array): KeyObject {
  try {
    if (typeof pemOrDer === 'string') return createPrivateKey({ key: pemOrDer, format: 'pem' });
    const buf = Buffer.from(pemOrDer.buffer, pemOrDer.byteOffset, pemOrDer.byteLength);
    if (buf.subarray(0, 64).toString('latin1').includes('-----BEGIN')) {
      return createPrivateKey({ key: buf.toString('latin1'), format: 'pem' });
    }
    return createPrivateKey({ key: buf, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new CertificateError('malformed-key', `cannot parse private key: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

const ecPublicKeyOid = oid('1.2.840.10045.2.1');
const curveOids: Record<string, Buffer> = {
  'P-256': oid('1.2.840.10045.3.1.7'),
  'P-384': oid('1.3.132.0.34'),
  'P-521': oid('1.3.132.0.35'),
};
const spkiCache = new WeakMap<KeyObject, Buffer>();

/**
 * The DER SubjectPublicKeyInfo of a public (or private) key. For EC keys it is assembled from the JWK
 * export, which is ~25× faster than OpenSSL 3's SPKI encoder; results are cached per KeyObject.
 * @throws CertificateError (rule `invalid-key`) when the key can't be exported.
 */
export function spkiDer(key: KeyObject): Buffer {
  let spki = spkiCache.get(key);
  if (spki) return spki;
  try {
    const jwk = key.asymmetricKeyType === 'ec' ? key.export({ format: 'jwk' }) : undefined;
    const curve = jwk?.crv === undefined ? undefined : curveOids[jwk.crv];
    if (jwk && curve && jwk.x && jwk.y) {
      const point = Buffer.concat([
        Buffer.from([4]),
        Buffer.from(jwk.x, 'base64url'),
        Buffer.from(jwk.y, 'base64url'),
      ]);
      spki = sequence(sequence(ecPublicKeyOid, curve), bitString(point));
    } else {
      spki = (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
    }
  } catch (err) {
    throw new CertificateError('invalid-key', `cannot export public key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  spkiCache.set(key, spki);
  return spki;
}

const curveByOidHex = new Map(Object.entries(curveOids).map(([crv, o]) => [o.toString('hex'), crv]));
const coordinateBytes: Record<string, number> = { 'P-256': 32, 'P-384': 48, 'P-521': 66 };

/**
 * A public KeyObject from DER SubjectPublicKeyInfo. EC keys on named curves are imported through their JWK
 * form, about twice as fast as OpenSSL 3's SPKI decoder (the point is still checked to be on the curve).
 * @throws CertificateError (rule `invalid-key`) when the bytes are not a usable public key.
 */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  const buf = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
  try {
    const jwk = ecJwkFromSpki(buf);
    return jwk
      ? createPublicKey({ key: jwk, format: 'jwk' })
      : createPublicKey({ key: buf, format: 'der', type: 'spki' });
  } catch (err) {
    throw new CertificateError('invalid-key', `public key does not import: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** The JWK of an uncompressed EC point on P-256/384/521, or undefined for any other key. */
function ecJwkFromSpki(buf: Buffer): JsonWebKey | undefined {
  const outer = expectTlv(buf, 0, tag.sequence);
  if (outer.end !== buf.length) throw new DerError('trailing data after SubjectPublicKeyInfo');
  const [alg, bits] = children(buf, outer);
  if (!alg || alg.tag !== tag.sequence || !bits || bits.tag !== tag.bitString) return undefined;
  const [algOid, curveOid] = children(buf, alg);
  if (!algOid || !curveOid || curveOid.tag !== tag.oid) return undefined;
  if (!buf.subarray(algOid.offset, algOid.end).equals(ecPublicKeyOid)) return undefined;
  const crv = curveByOidHex.get(buf.subarray(curveOid.offset, curveOid.end).toString('hex'));
  const n = crv === undefined ? undefined : coordinateBytes[crv];
  const point = valueOf(buf, bits);
  if (!crv || !n || point.length !== 2 + 2 * n || point[0] !== 0 || point[1] !== 4) return undefined;
  return {
    kty: 'EC',
    crv,
    x: point.subarray(2, 2 + n).toString('base64url'),
    y: point.subarray(2 + n).toString('base64url'),
  };
}
