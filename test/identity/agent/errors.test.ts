/**
 * Agent errors are told apart by class: a closed cache is not a failed workload attestation (the
 * Workload API answers the first with Unavailable "agent is shutting down", the second with
 * Unavailable "workload attestation failed"), and every agent error is still an AgentError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AgentClosedError,
  AgentConfigError,
  AgentError,
  PodInfoError,
  WorkloadAttestationError,
} from '../../../src/identity/agent/index.js';
import { TrustmeshError } from '../../../src/spiffe/index.js';

test('each agent error matches its own rule class and the bases, never a sibling rule', () => {
  const rows: Array<[string, AgentError, new (...a: never[]) => AgentError]> = [
    ['closed', new AgentClosedError('the SVID cache'), AgentClosedError],
    ['config', new AgentConfigError('agent.server_port', 'not a port'), AgentConfigError],
    ['pod info', new PodInfoError(42, 'not JSON'), PodInfoError],
    ['attestation', new WorkloadAttestationError(42, 'attestor failed'), WorkloadAttestationError],
  ];
  for (const [name, err, own] of rows) {
    assert.ok(err instanceof own, name);
    assert.ok(err instanceof AgentError && err instanceof TrustmeshError, name);
    for (const [, , other] of rows)
      if (other !== own) assert.ok(!(err instanceof other), `${name} vs ${other.name}`);
  }
});
