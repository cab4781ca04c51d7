/**
 * Typed errors of the TLS helpers (go-spiffe `spiffetls/tlsconfig`). All extend {@link SpiffeError}.
 */
import { SpiffeError } from '../errors.js';

/**
 * Why a TLS peer was refused:
 * - `no-peer-certificate`: the peer presented no certificate;
 * - `svid-verification`: its chain failed X509-SVID §5 verification against the bundle of its trust
 *   domain (untrusted, expired, not an SVID, …; `cause` is the {@link X509SvidError});
 * - `unauthorized`: the chain verified but the authorizer refused the peer's SPIFFE ID;
 * - `no-svid`: we have no SVID of our own to present (the source failed).
 */
export type TlsPeerRule = 'no-peer-certificate' | 'svid-verification' | 'unauthorized' | 'no-svid';

/** A refused TLS peer (or our own missing SVID). Code `TM_ERR_TLSPEER_<RULE>`. */
export class TlsPeerError extends SpiffeError {
  declare readonly rule: TlsPeerRule;
  constructor(rule: TlsPeerRule, message: string, options: { input?: unknown; cause?: unknown } = {}) {
    super('TLSPEER', rule, `spiffetls: ${message}`, options);
  }
}
