/**
 * Typed errors of the identity agent. Every error has a stable `code` (`TM_ERR_AGENT_…`), names the
 * input and the rule, and chains lower errors through `cause`. Wire-visible outcomes (gRPC status of
 * the Workload API and SDS) are mapped from these in one place per server (`workload-api.ts`, `sds.ts`).
 */
import { TrustmeshError } from '../../spiffe/index.js';

/** Base class of all agent errors; messages start with "agent: ". */
export class AgentError extends TrustmeshError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, `agent: ${message}`, options);
  }
}

/** The agent configuration (file or flags) breaks a rule; `key` names the offending setting. */
export class AgentConfigError extends AgentError {
  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('TM_ERR_AGENT_CONFIG', `config ${key}: ${message}`, options);
  }
}

/** The caller of the agent socket could not be identified (SO_PEERCRED, /proc, pid reuse, attestor). */
export class WorkloadAttestationError extends AgentError {
  constructor(
    readonly pid: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(
      'TM_ERR_AGENT_WORKLOAD_ATTESTATION',
      `workload attestation of pid ${pid ?? '?'}: ${message}`,
      options,
    );
  }
}

/** Node attestation or agent-SVID renewal was refused or failed. */
export class NodeAttestationError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TM_ERR_AGENT_NODE_ATTESTATION', `node attestation: ${message}`, options);
  }
}

/** A call to the identity server failed (transport or status); `grpcCode` is the gRPC status code. */
export class ServerCallError extends AgentError {
  constructor(
    readonly method: string,
    readonly grpcCode: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('TM_ERR_AGENT_SERVER_CALL', `server ${method}: ${message}`, options);
  }
}

/** The pod-info source answered something that is not a pod description. */
export class PodInfoError extends AgentError {
  constructor(
    readonly pid: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('TM_ERR_AGENT_POD_INFO', `pod info for pid ${pid}: ${message}`, options);
  }
}

/** An operation was attempted after `close()`. */
export class AgentClosedError extends AgentError {
  constructor(what: string) {
    super('TM_ERR_AGENT_CLOSED', `${what} is closed`);
  }
}
