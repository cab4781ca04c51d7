/**
 * Agent metrics over a real HTTP scrape: SVIDs cached (read at scrape time), rotations, attestation
 * latency and open streams, in the Prometheus text format.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { AgentMetrics } from '../../../src/identity/agent/index.js';

test('GET /metrics exposes the agent metric set', async () => {
  let svids = 3;
  const metrics = new AgentMetrics(() => svids);
  metrics.rotations.inc();
  metrics.streams.inc();
  metrics.attestationSeconds.observe({ result: 'ok' }, 0.002);
  const { server, port } = await metrics.listen('127.0.0.1', 0);
  try {
    svids = 5;
    const res = await request(`http://127.0.0.1:${port}/metrics`);
    const body = await res.body.text();
    assert.equal(res.statusCode, 200);
    assert.match(body, /^trustmesh_agent_svids_cached 5$/m);
    assert.match(body, /^trustmesh_agent_svid_rotations_total 1$/m);
    assert.match(body, /^trustmesh_agent_streams 1$/m);
    assert.match(body, /^trustmesh_agent_workload_attestation_seconds_count\{result="ok"\} 1$/m);
    const missing = await request(`http://127.0.0.1:${port}/other`);
    await missing.body.dump();
    assert.equal(missing.statusCode, 404);
  } finally {
    await new Promise((r) => server.close(r));
  }
});
