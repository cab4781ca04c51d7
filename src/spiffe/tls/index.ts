/**
 * SPIFFE mTLS for `node:tls` (go-spiffe `spiffetls` / `spiffetls/tlsconfig`): secure contexts from an
 * X509-SVID source, peer verification per X509-SVID §5 against the peer's trust domain bundle, and
 * authorization by SPIFFE ID.
 */
export * from './errors.js';
export * from './authorizer.js';
export * from './mtls.js';
