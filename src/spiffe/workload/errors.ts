/**
 * Typed errors of the Workload API client (reference spiffe.md §e). All extend {@link SpiffeError}.
 */
import { SpiffeError, quoteInput } from '../errors.js';

/** Rules of SPIFFE Workload Endpoint §4 / go-spiffe `workloadapi` address parsing (reference §e.4). */
export type WorkloadEndpointRule =
  | 'not-configured'
  | 'not-a-uri'
  | 'unsupported-scheme'
  | 'userinfo'
  | 'query'
  | 'fragment'
  | 'unix-authority'
  | 'unix-path-not-absolute'
  | 'unix-path-invalid'
  | 'tcp-host-not-ip'
  | 'tcp-port-missing'
  | 'tcp-port-invalid'
  | 'tcp-path';

/**
 * A Workload API endpoint address (an explicit `address` or `SPIFFE_ENDPOINT_SOCKET`) that breaks a rule
 * of SPIFFE Workload Endpoint §4. Code `TM_ERR_WORKLOADENDPOINT_<RULE>`.
 */
export class WorkloadEndpointError extends SpiffeError {
  declare readonly rule: WorkloadEndpointRule;
  constructor(rule: WorkloadEndpointRule, input: string, reason: string) {
    super('WORKLOADENDPOINT', rule, `workloadapi: endpoint ${quoteInput(input)}: ${reason}`, { input });
  }
}

/**
 * Rules of a failed Workload API exchange:
 * - `bad-request`: the caller's arguments break the API's rules (e.g. an empty JWT audience);
 * - `rpc-failed`: the server answered with a gRPC error (`grpcCode` holds the status code, e.g. 3 =
 *   InvalidArgument, 7 = PermissionDenied, 14 = Unavailable);
 * - `invalid-response`: a message broke SPIFFE Workload API rules (empty SVID list, bad DER, key not
 *   matching, …) and was discarded, as go-spiffe does;
 * - `closed`: the client was closed;
 * - `timeout`: no answer within the caller's `timeoutMs`.
 */
export type WorkloadApiRule = 'bad-request' | 'rpc-failed' | 'invalid-response' | 'closed' | 'timeout';

/** A failed Workload API call or a rejected response. Code `TM_ERR_WORKLOADAPI_<RULE>`. */
export class WorkloadApiError extends SpiffeError {
  declare readonly rule: WorkloadApiRule;
  /** gRPC status code for `rpc-failed` (`@grpc/grpc-js` `status` enum values). */
  readonly grpcCode?: number;
  constructor(
    rule: WorkloadApiRule,
    message: string,
    options: { grpcCode?: number; cause?: unknown; input?: unknown } = {},
  ) {
    super('WORKLOADAPI', rule, `workloadapi: ${message}`, options);
    if (options.grpcCode !== undefined) this.grpcCode = options.grpcCode;
  }
}
