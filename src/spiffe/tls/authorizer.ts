import type { X509Certificate } from 'node:crypto';
import type { SpiffeId, TrustDomain } from '../id.js';
import { TlsPeerError } from './errors.js';

/**
 * Decides whether a TLS peer whose X509-SVID chain already verified may talk to us (go-spiffe
 * `tlsconfig.Authorizer`). Gets the peer's SPIFFE ID and its verified chain (leaf first, ending at a
 * root of the bundle); returns to accept, throws (preferably {@link TlsPeerError} `unauthorized`) to
 * refuse.
 */
export type Authorizer = (id: SpiffeId, verifiedChain: X509Certificate[]) => void;

/** Accepts any peer whose SVID verified against the bundle. */
export function authorizeAny(): Authorizer {
  return () => {};
}

/** Accepts exactly the peer with SPIFFE ID `expected`. @throws {TlsPeerError} `unauthorized` otherwise. */
export function authorizeId(expected: SpiffeId): Authorizer {
  return authorizeOneOf(expected);
}

/** Accepts a peer whose SPIFFE ID is one of `allowed`. @throws {TlsPeerError} `unauthorized` otherwise. */
export function authorizeOneOf(...allowed: SpiffeId[]): Authorizer {
  const ids = new Set(allowed.map((id) => id.toString()));
  return (id) => {
    if (!ids.has(id.toString())) {
      throw new TlsPeerError(
        'unauthorized',
        `peer ID ${id.toString()} is not one of [${[...ids].join(', ')}]`,
        {
          input: id.toString(),
        },
      );
    }
  };
}

/** Accepts a peer of trust domain `td`. @throws {TlsPeerError} `unauthorized` otherwise. */
export function authorizeMemberOf(td: TrustDomain): Authorizer {
  return (id) => {
    if (!id.memberOf(td)) {
      throw new TlsPeerError(
        'unauthorized',
        `peer ID ${id.toString()} is not a member of trust domain ${td.name}`,
        {
          input: id.toString(),
        },
      );
    }
  };
}
