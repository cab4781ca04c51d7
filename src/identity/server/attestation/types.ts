/**
 * Node attestation (SPIRE `NodeAttestor` server plugins): evidence from an agent → its SPIFFE ID and
 * node selectors. Errors: InvalidArgumentError for malformed evidence, PermissionDeniedError when the
 * evidence is valid in form but refused (unknown/used/expired token, SA not allowed, bad signature).
 */
import type { Selector } from '../datastore/types.js';

/** The outcome of a successful attestation. */
export interface AttestationResult {
  /** `spiffe://<td>/spire/agent/<type>/…` */
  agentId: string;
  selectors: Selector[];
  /** SPIRE `CanReattest`: the agent may attest again with fresh evidence for the same ID */
  canReattest: boolean;
}

/** One node attestor, named by its `attestation_type`. */
export interface NodeAttestor {
  readonly type: string;
  attest(payload: Buffer): Promise<AttestationResult>;
}
