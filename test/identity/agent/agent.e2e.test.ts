/**
 * The agent end to end, as real processes: `trustmesh server run` + `trustmesh agent run` (join
 * token, trust bundle file) + workloads. Covers node attestation, entry sync, SVID issuance from
 * agent-generated keys, the CLI (`api fetch x509 -write`, `api fetch jwt`, `api validate jwt`,
 * `healthcheck`), a Python workload under uid nobody, openssl verifying the written SVID, rotation
 * pushed to a streaming client (short TTL), and the server going away: the agent keeps serving
 * its cache and rotates again once the server is back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { WorkloadApiClient, type X509Context } from '../../../src/spiffe/index.js';
import { runTrustmesh } from '../../support/cli.js';
import { adminCall } from '../../../src/identity/server/index.js';
import { startServer, type RunningServer } from '../server/support.js';
import { pythonWorkloadClient, startAgentProcess, type RunningAgent } from './support.js';

const execFile = promisify(execFileCb);
const isRoot = process.getuid!() === 0;
const uid = process.getuid!();
const HOST = 'spiffe://example.org/host';
const WEB = 'spiffe://example.org/web';
const NOBODY = 'spiffe://example.org/nobody';
const SHORT_TTL_SECONDS = 20;

describe('agent end to end', { timeout: 240_000 }, () => {
  let dir: string;
  let server: RunningServer;
  let agent: RunningAgent | undefined;
  let socketPath: string;
  let serverPort: number;
  let py: Awaited<ReturnType<typeof pythonWorkloadClient>> | undefined;
  const client = () => new WorkloadApiClient({ address: `unix://${socketPath}` });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tm-agent-e2e-'));
    await chmod(dir, 0o755);
    await mkdir(path.join(dir, 'server'));
    // The kernel picks the port (a probed "free" port can be taken before the server binds it);
    // the restart below reuses it, as an agent expects its server back at the same address.
    server = await startServer(path.join(dir, 'server'));
    serverPort = server.port;
    const bundlePath = path.join(dir, 'bootstrap.pem');
    // The admin API in-process (as the CLI calls it): each CLI spawn costs seconds of tsx start-up.
    await writeFile(bundlePath, (await adminCall<{ pem: string }>(server.socketPath, 'bundle.show')).pem);
    const { token } = await adminCall<{ token: string }>(server.socketPath, 'token.generate', {
      spiffe_id: HOST,
      ttl: 600,
    });
    const entries = [
      {
        spiffe_id: WEB,
        parent_id: HOST,
        selectors: [{ type: 'unix', value: `uid:${uid}` }],
        x509_svid_ttl: SHORT_TTL_SECONDS,
      },
      { spiffe_id: NOBODY, parent_id: HOST, selectors: [{ type: 'unix', value: 'uid:65534' }] },
    ];
    const created = await adminCall<{ results: Array<{ status: { code: number; message: string } }> }>(
      server.socketPath,
      'entry.create',
      { entries },
    );
    for (const r of created.results) assert.equal(r.status.code, 0, r.status.message);
    socketPath = path.join(dir, 'agent', 'public', 'api.sock');
    const configPath = path.join(dir, 'agent.conf');
    await writeFile(
      configPath,
      `agent {
  trust_domain = "example.org"
  server_address = "127.0.0.1"
  server_port = "${serverPort}"
  socket_path = "${socketPath}"
  trust_bundle_path = "${bundlePath}"
  data_dir = "${path.join(dir, 'agent', 'data')}"
  join_token = "${token}"
  log_level = "DEBUG"
  experimental { sync_interval = "1s" }
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data { discover_workload_path = false } }
}
`,
    );
    agent = await startAgentProcess(configPath);

    await chmod(path.dirname(socketPath), 0o755);
    await chmod(path.dirname(path.dirname(socketPath)), 0o755);
    py = await pythonWorkloadClient();
  });

  after(async () => {
    await agent?.stop();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    await py?.close();
  });

  test('api fetch x509 -write: svid.0.pem, svid.0.key, bundle.0.pem that openssl verifies', async () => {
    const out = path.join(dir, 'fetched');
    const r = await runTrustmesh(['agent', 'api', 'fetch', 'x509', '-socketPath', socketPath, '-write', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Received 1 svid after/);
    assert.match(r.stdout, new RegExp(`SPIFFE ID:\\s+${WEB}`));
    for (const f of ['svid.0.pem', 'svid.0.key', 'bundle.0.pem']) assert.ok(existsSync(path.join(out, f)), f);
    const { stdout } = await execFile('openssl', [
      'verify',
      '-CAfile',
      path.join(out, 'bundle.0.pem'),
      path.join(out, 'svid.0.pem'),
    ]);
    assert.match(stdout, /svid\.0\.pem: OK/);
    const health = await runTrustmesh(['agent', 'healthcheck', '-socketPath', socketPath]);
    assert.equal(health.code, 0, health.stderr);
    assert.match(health.stdout, /Agent is healthy\./);
  });

  test(
    'a Python workload under uid nobody gets its own identity only',
    { skip: isRoot ? false : 'needs root' },
    async () => {
      const res = await py!.run<{ ok: boolean; svids: Array<{ spiffe_id: string }> }>(socketPath, 'x509', {
        asNobody: true,
      });
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.deepEqual(
        res.svids.map((s) => s.spiffe_id),
        [NOBODY],
      );
    },
  );

  test('api fetch jwt then api validate jwt', async () => {
    const fetched = await runTrustmesh([
      'agent',
      'api',
      'fetch',
      'jwt',
      '-audience',
      'payments',
      '-socketPath',
      socketPath,
    ]);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stdout, new RegExp(`token\\(${WEB}\\):`));
    const token = /^\t(\S+)$/m.exec(fetched.stdout)![1]!;
    const ok = await runTrustmesh([
      'agent',
      'api',
      'validate',
      'jwt',
      '-audience',
      'payments',
      '-svid',
      token,
      '-socketPath',
      socketPath,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`SVID is valid\\.\\nSPIFFE ID : ${WEB}`));
    const bad = await runTrustmesh([
      'agent',
      'api',
      'validate',
      'jwt',
      '-audience',
      'other',
      '-svid',
      token,
      '-socketPath',
      socketPath,
    ]);
    assert.notEqual(bad.code, 0);
  });

  test('rotation is pushed to a streaming client; with the server gone the cache is still served and rotation resumes when it is back', async (t) => {
    const c = client();
    const updates: X509Context[] = [];
    let notify: (() => void) | undefined;
    const watcher = c.watchX509Context(
      (ctx) => {
        updates.push(ctx);
        notify?.();
      },
      () => {},
    );
    const waitFor = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no X509 context update #${n} within 60 s`)), 60_000);
        notify = () => {
          if (updates.length < n) return;
          clearTimeout(timer);
          resolve();
        };
        notify();
      });
    const serial = (ctx: X509Context) => ctx.svids[0]!.certificates[0]!.serialNumber;
    try {
      await waitFor(1);
      t.diagnostic('first update');
      const first = updates[0]!;
      const lifetime =
        Date.parse(first.svids[0]!.certificates[0]!.validTo) -
        Date.parse(first.svids[0]!.certificates[0]!.validFrom);
      assert.ok(lifetime <= (SHORT_TTL_SECONDS + 10) * 1000, 'the entry TTL applies');
      await waitFor(2);
      t.diagnostic('rotation seen');
      assert.notEqual(serial(updates[1]!), serial(first), 'a new SVID was pushed without any client action');

      await server.kill();
      t.diagnostic('server killed');
      const cached = client();
      try {
        const ctx = await cached.fetchX509Context();
        assert.equal(
          ctx.svids[0]!.spiffeId.toString(),
          WEB,
          'served from the cache while the server is down',
        );
      } finally {
        cached.close();
      }
      const before = updates.length;
      server = await startServer(server.dir, { extraArgs: ['-serverPort', String(serverPort)] });
      t.diagnostic('server restarted');
      await waitFor(before + 1);
      assert.notEqual(
        serial(updates.at(-1)!),
        serial(updates[before - 1]!),
        'rotated again after the server came back',
      );
    } finally {
      watcher.close();
      c.close();
    }
  });
});
