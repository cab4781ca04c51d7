/**
 * Maps agent errors to gRPC statuses for the agent socket's services (Workload API and SDS share
 * SPIRE's choices, `pkg/agent/endpoints/workload/handler.go`). Unknown errors become Internal
 * without detail, so nothing internal leaks to callers.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import type { Logger } from 'pino';
import { AgentClosedError, WorkloadAttestationError } from './errors.js';

/** The status a caller sees for `err`; unexpected errors are logged here with their detail. */
export function toConnectError(err: unknown, log?: Logger): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof WorkloadAttestationError)
    return new ConnectError('workload attestation failed', Code.Unavailable);
  if (err instanceof AgentClosedError) {
    return new ConnectError('agent is shutting down', Code.Unavailable);
  }
  log?.error({ err }, 'internal error in an agent socket handler');
  return new ConnectError('internal error', Code.Internal);
}
