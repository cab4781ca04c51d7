/**
 * Typed errors of the proxy. Every error carries a stable `code`; config errors also carry the
 * field path they concern, so an xDS NACK's `error_detail` names the problem (Envoy NACK semantics).
 */
import { TrustmeshError } from '../spiffe/index.js';

/** Base class of every proxy error; messages start with "proxy: ", `code` is `TM_ERR_PROXY_…`. */
export class ProxyError extends TrustmeshError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, `proxy: ${message}`, options);
  }
}

/** A resource (Listener, RouteConfiguration, Cluster, ClusterLoadAssignment, Secret, bootstrap)
 * the proxy cannot apply. `problems` lists every `path: rule` found; the config is rejected whole. */
export class ConfigError extends ProxyError {
  readonly problems: string[];
  constructor(what: string, problems: string[]) {
    super('TM_ERR_PROXY_CONFIG', `${what}: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** A peer certificate failed verification (chain, validity, SPIFFE rules or SAN match).
 * `reason` maps onto Envoy's stat: `no_cert` → ssl.fail_verify_no_cert, `san` → ssl.fail_verify_san,
 * `error` → ssl.fail_verify_error. */
export class PeerVerificationError extends ProxyError {
  readonly reason: 'no_cert' | 'san' | 'error';
  constructor(reason: 'no_cert' | 'san' | 'error', message: string) {
    super(`TM_ERR_PROXY_PEER_${reason.toUpperCase()}`, `peer certificate: ${message}`);
    this.reason = reason;
  }
}

/** An upstream request could not be made: no healthy host, overflow, connect failure, reset, timeout.
 * `flag` is Envoy's response flag (UH, UO, UF, UR, UT, NC). */
export class UpstreamError extends ProxyError {
  readonly flag: 'UH' | 'UO' | 'UF' | 'UR' | 'UT' | 'NC';
  constructor(flag: UpstreamError['flag'], message: string, options?: { cause?: unknown }) {
    super(`TM_ERR_PROXY_UPSTREAM_${flag}`, message, options);
    this.flag = flag;
  }
}

/** An operation on a closed proxy component. */
export class ClosedError extends ProxyError {
  constructor(what: string) {
    super('TM_ERR_PROXY_CLOSED', `${what} is closed`);
  }
}
