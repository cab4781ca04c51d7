/**
 * Eviction and banning as real processes: `trustmesh server run` (k8s_sat node attestor trusting a
 * service-account key generated here) and `trustmesh agent run` (k8s_sat, a token signed here),
 * with a workload fetching through the Workload API. The workload's entry is parented to a node
 * alias entry (selector `k8s_sat:cluster:…`), since every k8s_sat attestation yields a new agent ID.
 *
 * Evicted (spiffe.md §g.4 `agent evict`): the agent's next call is refused, it attests again on its
 * own with the token file, and the re-attested agent gets entries and SVIDs. Banned (`agent ban`):
 * its calls are refused, it does not come back under another ID, it stays up and the Workload API
 * keeps serving the cached SVIDs; evicting the banned record lifts the ban (as in SPIRE).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { WorkloadApiClient, type X509Context } from '../../../src/spiffe/index.js';
import { adminCall, type AgentInfo } from '../../../src/identity/server/index.js';
import { startServer, type RunningServer } from '../server/support.js';
import { startAgentProcess, type RunningAgent } from './support.js';

const TD = 'example.org';
const CLUSTER = 'test-cluster';
const NODE = `spiffe://${TD}/node/${CLUSTER}`;
const WEB = `spiffe://${TD}/web`;
const WEB_AFTER_EVICTION = `spiffe://${TD}/web-after-eviction`;
const uid = process.getuid!();
const REFUSED_LOG = '"msg":"the server no longer recognizes this agent; attesting again"';
const ATTESTED_LOG = '"msg":"node attested"';
const BANNED_LOG = '"msg":"the server banned this agent; it does not attest again"';
const SYNC_FAILED_LOG = '"msg":"sync with the server failed; serving cached SVIDs"';

/** Occurrences of `needle` in `haystack`. */
function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/**
 * Polls `probe` every 200 ms until it returns a value other than undefined; fails with `what` after
 * 45 s (a bound for a stuck agent, not a timing assertion).
 */
async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 45_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('agent eviction and banning (k8s_sat)', { timeout: 150_000 }, () => {
  let dir: string;
  let server: RunningServer;
  let agent: RunningAgent | undefined;
  let socketPath: string;

  const agents = async (): Promise<AgentInfo[]> =>
    (await adminCall<{ agents: AgentInfo[] }>(server.socketPath, 'agent.list')).agents;
  const fetchX509 = async (): Promise<X509Context> => {
    const c = new WorkloadApiClient({ address: `unix://${socketPath}` });
    try {
      return await c.fetchX509Context();
    } finally {
      c.close();
    }
  };
  /** Waits until the agent logged `line` at least `times` times in all. */
  const logged = (line: string, times: number) =>
    eventually(`${times} × ${line} in the agent log`, () =>
      count(agent!.logs(), line) >= times ? true : undefined,
    );
  const ids = (ctx: X509Context) => ctx.svids.map((s) => s.spiffeId.toString()).sort();
  const createEntries = async (entries: object[]) => {
    const r = await adminCall<{ results: Array<{ status: { code: number; message: string } }> }>(
      server.socketPath,
      'entry.create',
      { entries },
    );
    for (const x of r.results) assert.equal(x.status.code, 0, x.status.message);
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tm-reattest-'));
    await mkdir(path.join(dir, 'server'));
    // The cluster's service-account signer, as kube-apiserver holds it: the server trusts the
    // public key, the agent presents a legacy service-account token signed with the private key.
    const signer = await generateKeyPair('ES256');
    const keyFile = path.join(dir, 'sa.pub.pem');
    await writeFile(keyFile, await exportSPKI(signer.publicKey));
    const tokenFile = path.join(dir, 'sa.token');
    await writeFile(
      tokenFile,
      await new SignJWT({
        'kubernetes.io/serviceaccount/namespace': 'spire',
        'kubernetes.io/serviceaccount/service-account.name': 'spire-agent',
      })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
        .setIssuer('kubernetes/serviceaccount')
        .setSubject('system:serviceaccount:spire:spire-agent')
        .sign(signer.privateKey),
    );
    server = await startServer(path.join(dir, 'server'), {
      plugins: `NodeAttestor "k8s_sat" {
    plugin_data {
      clusters = {
        "${CLUSTER}" = {
          service_account_allow_list = ["spire:spire-agent"]
          service_account_key_file = "${keyFile}"
        }
      }
    }
  }`,
    });
    const bundlePath = path.join(dir, 'bootstrap.pem');
    await writeFile(bundlePath, (await adminCall<{ pem: string }>(server.socketPath, 'bundle.show')).pem);
    await createEntries([
      {
        spiffe_id: NODE,
        parent_id: `spiffe://${TD}/spire/server`,
        selectors: [{ type: 'k8s_sat', value: `cluster:${CLUSTER}` }],
      },
      { spiffe_id: WEB, parent_id: NODE, selectors: [{ type: 'unix', value: `uid:${uid}` }] },
    ]);
    socketPath = path.join(dir, 'agent', 'api.sock');
    const configPath = path.join(dir, 'agent.conf');
    await writeFile(
      configPath,
      `agent {
  trust_domain = "${TD}"
  server_address = "127.0.0.1"
  server_port = "${server.port}"
  socket_path = "${socketPath}"
  trust_bundle_path = "${bundlePath}"
  data_dir = "${path.join(dir, 'agent', 'data')}"
  log_level = "INFO"
  experimental { sync_interval = "1s" }
}
plugins {
  NodeAttestor "k8s_sat" { plugin_data { cluster = "${CLUSTER}" token_path = "${tokenFile}" } }
  WorkloadAttestor "unix" { plugin_data { discover_workload_path = false } }
}
`,
    );
    agent = await startAgentProcess(configPath);
  });

  after(async () => {
    await agent?.stop();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let firstAgentId: string;
  let cachedSerial: string;

  test('the agent attests with its service-account token and the workload fetches its X509-SVID', async () => {
    const [a, ...rest] = await agents();
    assert.equal(rest.length, 0);
    assert.match(a!.spiffe_id, new RegExp(`^spiffe://${TD}/spire/agent/k8s_sat/${CLUSTER}/[0-9a-f-]{36}$`));
    assert.equal(a!.banned, false);
    firstAgentId = a!.spiffe_id;
    const ctx = await fetchX509(); // the agent resolves "started" only after its first sync
    assert.deepEqual(ids(ctx), [WEB]);
  });

  test('evicted: the agent is refused, attests again on its own and keeps serving the workload', async () => {
    const before = agent!.logs();
    await adminCall(server.socketPath, 'agent.evict', { spiffe_id: firstAgentId });

    const reattested = await eventually('the evicted agent to attest again', async () => {
      const list = await agents();
      return list.length === 1 && list[0]!.spiffe_id !== firstAgentId ? list[0] : undefined;
    });
    assert.equal(reattested.banned, false);
    // The log lines may reach us after the server listed the agent: wait for them too.
    await logged(REFUSED_LOG, count(before, REFUSED_LOG) + 1);
    await logged(ATTESTED_LOG, count(before, ATTESTED_LOG) + 1);

    // The cache kept serving, and the re-attested agent is authorized through the node alias:
    // an entry created now is synced and its SVID minted under the new agent identity.
    assert.deepEqual(ids(await fetchX509()), [WEB]);
    await createEntries([
      { spiffe_id: WEB_AFTER_EVICTION, parent_id: NODE, selectors: [{ type: 'unix', value: `uid:${uid}` }] },
    ]);
    const ctx = await eventually('an SVID for the entry created after the eviction', async () => {
      const c = await fetchX509();
      return c.svids.length === 2 ? c : undefined;
    });
    assert.deepEqual(ids(ctx), [WEB, WEB_AFTER_EVICTION].sort());
    cachedSerial = ctx.svids.find((s) => s.spiffeId.toString() === WEB)!.certificates[0]!.serialNumber;
  });

  test('banned: the agent is refused, does not attest again, stays up and serves the cached SVIDs', async () => {
    const [current] = await agents();
    await adminCall(server.socketPath, 'agent.ban', { spiffe_id: current!.spiffe_id });
    const before = agent!.logs();

    // Until it was refused three times (the round that noticed the ban and two more), or until an
    // agent shows up under another ID: what it would do if it attested again.
    const failedBefore = count(before, SYNC_FAILED_LOG);
    await eventually('three refused rounds or another agent', async () =>
      count(agent!.logs(), SYNC_FAILED_LOG) >= failedBefore + 3 || (await agents()).length > 1
        ? true
        : undefined,
    );
    const list = await agents();
    assert.deepEqual(
      list.map((a) => [a.spiffe_id, a.banned]),
      [[current!.spiffe_id, true]],
      'no agent attested under another ID',
    );
    assert.equal(count(agent!.logs(), ATTESTED_LOG), count(before, ATTESTED_LOG));
    assert.equal(count(agent!.logs(), BANNED_LOG), 1, 'the ban is logged once');

    assert.equal(agent!.proc.exitCode, null, 'the agent is still running');
    const ctx = await fetchX509();
    assert.deepEqual(ids(ctx), [WEB, WEB_AFTER_EVICTION].sort());
    assert.equal(
      ctx.svids.find((s) => s.spiffeId.toString() === WEB)!.certificates[0]!.serialNumber,
      cachedSerial,
      'the cached SVID is served',
    );
  });

  test('evicting the banned agent lifts the ban: the agent is refused as unknown and attests again', async () => {
    const [banned] = await agents();
    const before = agent!.logs();
    await adminCall(server.socketPath, 'agent.evict', { spiffe_id: banned!.spiffe_id });
    const back = await eventually('the agent to attest again', async () => {
      const list = await agents();
      return list.length === 1 ? list[0] : undefined;
    });
    assert.equal(back.banned, false);
    assert.notEqual(back.spiffe_id, banned!.spiffe_id);
    await logged(REFUSED_LOG, count(before, REFUSED_LOG) + 1);
  });
});
