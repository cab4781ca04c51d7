/**
 * `trustmesh/spiffe`: SPIFFE primitives for Node — SPIFFE IDs, X509-SVIDs, JWT-SVIDs, bundles.
 * Imports nothing else from trustmesh and nothing server-side.
 */
export {
  TrustmeshError,
  SpiffeError,
  SpiffeIdError,
  X509SvidError,
  CertificateError,
  BundleError,
  JwtSvidError,
  CsrError,
  type SpiffeIdRule,
} from './errors.js';
export {
  TrustDomain,
  SpiffeId,
  assertGeneratableSpiffeId,
  maxSpiffeIdLength,
  maxTrustDomainLength,
  maxTrustDomainLabelLength,
} from './id.js';
export { generateKeyPair, parsePrivateKey, spkiDer, type KeyPair } from './keys.js';
export { createCsr, parseCsr, parseCsrSync, type ParsedCsr } from './csr.js';
export { parseCertificates, certificatesToPem, certificatesToDer, type CertificateLike } from './pem.js';
export { parseCertFields, type CertFields, type Extension } from './certfields.js';
export {
  mintX509Svid,
  mintX509SvidDer,
  mintCaCertificate,
  notBeforeCushionMs,
  type MintX509SvidOptions,
  type MintCaCertificateOptions,
} from './mint.js';
export {
  X509Bundle,
  JwtBundle,
  SpiffeBundle,
  BundleSet,
  type X509BundleSource,
  type JwtBundleSource,
  type SpiffeBundleOptions,
} from './bundle.js';
export { X509Svid, verifyX509Svid, type VerifiedX509Svid } from './x509svid.js';
export {
  mintJwtSvid,
  validateJwtSvid,
  allowedJwtSvidAlgorithms,
  type MintJwtSvidOptions,
  type ValidatedJwtSvid,
} from './jwt.js';
export * from './workload/index.js';
export * from './tls/index.js';
