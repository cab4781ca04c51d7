/**
 * Issue #6, "Done when": two proxies configured only by the control plane (#5) and the agent (#4)
 * carry HTTP/1.1, HTTP/2 (h2c), gRPC and TCP over SPIFFE mTLS with App Mesh's semantics.
 *
 * Real processes from source: `trustmesh server run` (join token, entries for A and B by unix uid),
 * `trustmesh agent run` (SDS), `trustmesh controlplane run` fed App Mesh v1beta2 YAML, and two
 * `trustmesh proxy run` (nodes a_mp, b_mp) plus B's upstream apps, all inside a throwaway network
 * namespace wired as App Mesh's iptables rules wire a pod:
 *
 *   test (root netns) ──veth──► VIP .2:<port>  ─REDIRECT→ A egress 15001 (original dst, Host routing)
 *                               A → b.mp.svc.cluster.local (= .3):<port> ─REDIRECT→ B ingress 15000
 *                               (mTLS STRICT, SDS) → 127.0.0.1:<port> (apps)
 *
 * Needs root (ip netns, iptables); skipped otherwise.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { repoRoot, spawnTrustmesh, trustmeshArgv } from '../support/cli.js';
import { startServer, type RunningServer } from '../identity/server/support.js';
import { adminCall } from '../../src/identity/server/index.js';
import { createCsr, generateKeyPair, SpiffeId } from '../../src/spiffe/index.js';
import { echoService } from './support/echo-service.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root for ip netns and iptables';

const TD = 'mp.test';
const ID_A = `spiffe://${TD}/a`;
const ID_B = `spiffe://${TD}/b`;
const HOST_ID = `spiffe://${TD}/host`;
const NODE_A = 'mesh/mp/virtualNode/a_mp';
const NODE_B = 'mesh/mp/virtualNode/b_mp';
const VS_B = 'b.mp.local';
const VS_RPC = 'rpc.mp.local';
const B_HOSTNAME = 'b.mp.svc.cluster.local';
const PORT = { http: 8080, http2: 8081, grpc: 8082, tcp: 8083 } as const;
/** B's HTTP listener in PERMISSIVE mode (mTLS from A, plaintext from anyone). */
const PERMISSIVE_PORT = 8084;
const APPS = fileURLToPath(new URL('./support/mesh-apps.ts', import.meta.url));

// A /29 per test process in 198.19.0.0/16 (benchmarking range, never routed; the e2e runtime uses
// 198.18.0.0/16): .1 root side of the veth, .2 the VIP A captures, .3 B's pod IP.
const SUBNET = `198.19.${process.pid % 256}.${8 * ((process.pid >> 8) % 32)}`;
const hostIp = (n: number): string => SUBNET.replace(/\d+$/, (last) => String(Number(last) + n));
const ROOT_IP = hostIp(1);
const VIP = hostIp(2);
const B_IP = hostIp(3);
const NS = `tmmp${process.pid.toString(36)}`;
const VETH = `tmv${process.pid.toString(36)}`.slice(0, 15);
const NETNS_ETC = `/etc/netns/${NS}`;

function mesh(): string {
  const tlsListener = (mode: string): string => `
      tls:
        mode: ${mode}
        certificate: { sds: { secretName: "${ID_B}" } }
        validation:
          trust: { sds: { secretName: "spiffe://${TD}" } }
          subjectAlternativeNames: { match: { exact: ["${ID_A}"] } }`;
  // App Mesh health checks run on the client side (A), over the cluster's mTLS.
  const listener = (port: number, protocol: string, mode = 'STRICT'): string => `
    - portMapping: { port: ${port}, protocol: ${protocol} }
      healthCheck:
        protocol: ${protocol}${protocol === 'http' || protocol === 'http2' ? '\n        path: /ping' : ''}
        healthyThreshold: 2
        unhealthyThreshold: 2
        timeoutMillis: 2000
        intervalMillis: 5000${tlsListener(mode)}`;
  return `apiVersion: v1
kind: Namespace
metadata: { name: mp, labels: { mesh: mp } }
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: { name: mp }
spec:
  namespaceSelector: { matchLabels: { mesh: mp } }
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: { name: a, namespace: mp }
spec:
  podSelector: { matchLabels: { app: a } }
  backends:
    - virtualService: { virtualServiceRef: { name: b } }
    - virtualService: { virtualServiceRef: { name: rpc } }
  backendDefaults:
    clientPolicy:
      tls:
        certificate: { sds: { secretName: "${ID_A}" } }
        validation:
          trust: { sds: { secretName: "spiffe://${TD}" } }
          subjectAlternativeNames: { match: { exact: ["${ID_B}"] } }
  serviceDiscovery: { dns: { hostname: a.mp.svc.cluster.local } }
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: { name: b, namespace: mp }
spec:
  podSelector: { matchLabels: { app: b } }
  listeners:${listener(PORT.http, 'http')}${listener(PORT.http2, 'http2')}${listener(PORT.grpc, 'grpc')}${listener(PORT.tcp, 'tcp')}${listener(PERMISSIVE_PORT, 'http', 'PERMISSIVE')}
  serviceDiscovery: { dns: { hostname: ${B_HOSTNAME} } }
---
# A provider that never resolves (RFC 6761 .invalid): its cluster has no healthy host.
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: { name: c, namespace: mp }
spec:
  podSelector: { matchLabels: { app: c } }
  listeners:
    - portMapping: { port: ${PORT.grpc}, protocol: grpc }
  serviceDiscovery: { dns: { hostname: c.invalid } }
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: { name: b, namespace: mp }
spec:
  awsName: ${VS_B}
  provider: { virtualNode: { virtualNodeRef: { name: b } } }
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: { name: rpc, namespace: mp }
spec:
  awsName: ${VS_RPC}
  provider: { virtualRouter: { virtualRouterRef: { name: rpc } } }
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: { name: rpc, namespace: mp }
spec:
  listeners:
    - portMapping: { port: ${PORT.grpc}, protocol: grpc }
  routes:
    - name: echo
      priority: 1
      grpcRoute:
        match: { serviceName: test.Echo }
        action: { weightedTargets: [{ virtualNodeRef: { name: b }, weight: 1 }] }
    - name: gone
      priority: 2
      grpcRoute:
        match: { serviceName: test.Gone }
        action: { weightedTargets: [{ virtualNodeRef: { name: c }, weight: 1 }] }
`;
}

const children: ChildProcess[] = [];

/** Collects a child's output; resolves with the first stdout/stderr line containing `needle`. */
function watch(c: ChildProcess, what: string): { output(): string; line(needle: string): Promise<string> } {
  let out = '';
  c.stdout?.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-100_000)));
  c.stderr?.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-100_000)));
  return {
    output: () => out,
    line: (needle) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${what}: no "${needle}" after 45 s:\n${out}`)),
          45_000,
        );
        const check = (): void => {
          const l = out.split('\n').find((x) => x.includes(needle));
          if (l === undefined) return;
          clearTimeout(timer);
          resolve(l);
        };
        c.stdout?.on('data', check);
        c.stderr?.on('data', check);
        c.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`${what} exited (${code}):\n${out}`));
        });
        check();
      }),
  };
}

/** Starts `argv` inside the test's network namespace (`ip netns exec` execs in place: same pid). */
function spawnInNs(argv: string[]): ChildProcess {
  const c = spawn('ip', ['netns', 'exec', NS, ...argv], { cwd: repoRoot, stdio: 'pipe' });
  children.push(c);
  return c;
}

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'pipe', timeout: 10_000 });
}

function redirect(chain: 'PREROUTING' | 'OUTPUT', dst: string, toPort: number): void {
  const ports = `${PORT.http}:${PERMISSIVE_PORT}`;
  sh(
    'ip',
    ['netns', 'exec', NS, 'iptables', '-t', 'nat', '-A', chain, '-p', 'tcp', '-d', dst].concat([
      '-m',
      'multiport',
      '--dports',
      ports,
      '-j',
      'REDIRECT',
      '--to-ports',
      String(toPort),
    ]),
  );
}

/** Polls `check` until it returns a truthy value (bounded), else fails with the last value. */
async function eventually<T>(what: string, check: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what}: not true after ${timeoutMs / 1000}s (last: ${String(last)})`);
}

/** One HTTP/1.1 request; resolves with status and body. */
function h1Get(
  host: string,
  port: number,
  urlPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: urlPath, headers, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Stats of a proxy's admin endpoint as `name → value`. */
async function stats(adminPort: number): Promise<Map<string, number>> {
  const r = await h1Get(VIP, adminPort, '/stats');
  assert.equal(r.status, 200);
  const m = new Map<string, number>();
  for (const line of r.body.split('\n')) {
    const i = line.lastIndexOf(': ');
    if (i > 0) m.set(line.slice(0, i), Number(line.slice(i + 2)));
  }
  return m;
}

function grpcClient(authority: string): grpc.Client {
  return new grpc.Client(`${VIP}:${PORT.grpc}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': authority,
  });
}

/** A unary call with the test's JSON codec; resolves with the reply, status and trailers. */
function unary(
  client: grpc.Client,
  method: string,
  request: unknown,
): Promise<{ reply: unknown; status: grpc.StatusObject }> {
  const def = echoService.say;
  return new Promise((resolve) => {
    let reply: unknown;
    const call = client.makeUnaryRequest(
      method,
      def.requestSerialize,
      def.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (_err, value) => (reply = value),
    );
    call.on('status', (status: grpc.StatusObject) => setImmediate(() => resolve({ reply, status })));
  });
}

describe('mesh protocols: control plane + agent configure two proxies', { skip, timeout: 120_000 }, () => {
  let dir: string;
  let server: RunningServer | undefined;
  let adminA = 0;
  let adminB = 0;

  before(async () => {
    if (skip) return;
    dir = await mkdtemp(path.join(tmpdir(), 'tm-mesh-proto-'));
    // The network namespace: veth to the root netns; .2 and .3 live inside.
    sh('ip', ['netns', 'add', NS]);
    sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    sh('ip', ['link', 'add', VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS]);
    sh('ip', ['addr', 'add', `${ROOT_IP}/29`, 'dev', VETH]);
    sh('ip', ['link', 'set', VETH, 'up']);
    sh('ip', ['-n', NS, 'addr', 'add', `${VIP}/29`, 'dev', 'eth0']);
    sh('ip', ['-n', NS, 'addr', 'add', `${B_IP}/29`, 'dev', 'eth0']);
    sh('ip', ['-n', NS, 'link', 'set', 'eth0', 'up']);
    // App Mesh's capture: the caller's traffic to a service → A's egress listener; traffic to B's
    // pod → B's ingress listener (from outside the pod, and from A inside the namespace).
    redirect('PREROUTING', VIP, 15001);
    redirect('PREROUTING', B_IP, 15000);
    redirect('OUTPUT', B_IP, 15000);
    // `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts: B's DNS name.
    await mkdir(NETNS_ETC, { recursive: true });
    await writeFile(path.join(NETNS_ETC, 'hosts'), `127.0.0.1 localhost\n${B_IP} ${B_HOSTNAME}\n`);

    const meshFile = path.join(dir, 'mesh.yaml');
    await writeFile(meshFile, mesh());
    const xdsSocket = path.join(dir, 'xds.sock');
    const cp = spawnTrustmesh(['controlplane', 'run', '-f', meshFile, '--listen', `unix://${xdsSocket}`]);
    children.push(cp);
    const cpOut = watch(cp, 'controlplane');
    const apps = watch(
      spawnInNs([
        process.execPath,
        '--import',
        'tsx',
        APPS,
        ...[...Object.values(PORT), PERMISSIVE_PORT].map(String),
      ]),
      'mesh-apps',
    );

    await mkdir(path.join(dir, 'server'));
    server = await startServer(path.join(dir, 'server'), { trustDomain: TD });
    const bundlePath = path.join(dir, 'bootstrap.pem');
    await writeFile(bundlePath, (await adminCall<{ pem: string }>(server.socketPath, 'bundle.show')).pem);
    const { token } = await adminCall<{ token: string }>(server.socketPath, 'token.generate', {
      spiffe_id: HOST_ID,
      ttl: 600,
    });
    // Both proxies run as this uid: the unix attestor entitles each to both SVIDs; the SDS secret
    // names in the compiled config pick A's or B's.
    const uid = process.getuid!();
    const created = await adminCall<{ results: Array<{ status: { code: number; message: string } }> }>(
      server.socketPath,
      'entry.create',
      {
        entries: [ID_A, ID_B].map((spiffe_id) => ({
          spiffe_id,
          parent_id: HOST_ID,
          selectors: [{ type: 'unix', value: `uid:${uid}` }],
        })),
      },
    );
    for (const r of created.results) assert.equal(r.status.code, 0, r.status.message);
    const agentSocket = path.join(dir, 'agent', 'agent.sock');
    const agentConf = path.join(dir, 'agent.conf');
    await writeFile(
      agentConf,
      `agent {
  trust_domain = "${TD}"
  server_address = "127.0.0.1"
  server_port = "${server.port}"
  socket_path = "${agentSocket}"
  trust_bundle_path = "${bundlePath}"
  data_dir = "${path.join(dir, 'agent', 'data')}"
  join_token = "${token}"
  experimental { sync_interval = "1s" }
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data { discover_workload_path = false } }
}
`,
    );
    const agent = spawnTrustmesh(['agent', 'run', '-config', agentConf]);
    children.push(agent);
    await watch(agent, 'agent').line('"msg":"agent started"');
    await cpOut.line('xds listening on');
    await apps.line('mesh-apps ready');

    const proxy = (nodeId: string): ReturnType<typeof watch> =>
      watch(
        spawnInNs([
          ...trustmeshArgv(),
          'proxy',
          'run',
          '--node-id',
          nodeId,
          '--xds',
          `unix://${xdsSocket}`,
          '--sds-socket',
          agentSocket,
          '--admin-port',
          '0',
          '--admin-address',
          '0.0.0.0',
        ]),
        nodeId,
      );
    const a = proxy(NODE_A);
    const b = proxy(NODE_B);
    const [readyA, readyB] = await Promise.all([a.line('proxy ready'), b.line('proxy ready')]);
    adminA = (JSON.parse(readyA) as { admin_port: number }).admin_port;
    adminB = (JSON.parse(readyB) as { admin_port: number }).admin_port;
    // Ready once xDS and SDS have arrived on both sides: a request makes it A → B → app.
    await eventually('HTTP/1.1 through A and B', async () => {
      const r = await h1Get(VIP, PORT.http, '/ready', { host: VS_B });
      return r.status === 200;
    });
  });

  after(async () => {
    if (skip) return;
    for (const c of children)
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await exited;
      }
    await server?.kill();
    try {
      sh('ip', ['netns', 'del', NS]);
    } catch {
      // not created
    }
    await rm(NETNS_ETC, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('HTTP/1.1 (control): A routes by Host over mTLS to B, B forwards to the app', async () => {
    const r = await h1Get(VIP, PORT.http, '/one', { host: VS_B });
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { app: string; version: string; path: string };
    assert.equal(body.app, 'http');
    assert.equal(body.version, '1.1');
    assert.equal(body.path, '/one');
  });

  test('HTTP/2 (h2c from the app): concurrent streams on one connection reach the h2c app', async () => {
    const session = http2.connect(`http://${VIP}:${PORT.http2}`);
    session.on('error', () => {});
    try {
      const one = (i: number): Promise<{ status: number; body: string }> =>
        new Promise((resolve, reject) => {
          const s = session.request({ ':path': `/s/${i}`, ':authority': VS_B });
          let body = '';
          let status = 0;
          s.on('response', (h) => (status = Number(h[':status'])));
          s.setEncoding('utf8').on('data', (d: string) => (body += d));
          s.on('end', () => resolve({ status, body }));
          s.on('error', reject);
          s.end();
        });
      const results = await Promise.all([0, 1, 2, 3, 4].map(one));
      results.forEach((r, i) => {
        assert.equal(r.status, 200, r.body);
        const body = JSON.parse(r.body) as { app: string; version: string; path: string; authority: string };
        assert.equal(body.app, 'h2c');
        assert.equal(body.version, '2.0', 'B speaks HTTP/2 to an http2 listener’s app');
        assert.equal(body.path, `/s/${i}`);
        assert.equal(body.authority, VS_B);
      });
    } finally {
      session.close();
    }
  });

  test('gRPC unary through a virtual node provider: reply, trailers, grpc-status 0', async () => {
    const client = grpcClient(VS_B);
    try {
      const { reply, status } = await unary(client, '/test.Echo/Say', { hello: 'mesh' });
      assert.equal(status.code, grpc.status.OK, status.details);
      assert.deepEqual((reply as { echo: unknown }).echo, { hello: 'mesh' });
      assert.deepEqual(status.metadata.get('x-app-trailer'), ['done'], 'the app’s trailers arrive');
    } finally {
      client.close();
    }
  });

  test('gRPC through a virtual router: route by service name; bidi stream echoes', async () => {
    const client = grpcClient(VS_RPC);
    try {
      const { reply, status } = await unary(client, '/test.Echo/Say', 'via router');
      assert.equal(status.code, grpc.status.OK, status.details);
      assert.equal((reply as { echo: unknown }).echo, 'via router');
      const def = echoService.chat;
      const call = client.makeBidiStreamRequest(
        '/test.Echo/Chat',
        def.requestSerialize,
        def.responseDeserialize,
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
      );
      const got: unknown[] = [];
      const done = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.on('data', (m: unknown) => got.push(m));
      call.on('error', () => {});
      for (const m of ['one', 'two', 'three']) call.write(m);
      call.end();
      const st = await done;
      assert.equal(st.code, grpc.status.OK, st.details);
      assert.deepEqual(got, ['one', 'two', 'three']);
    } finally {
      client.close();
    }
  });

  test('gRPC local replies: no route → UNIMPLEMENTED (404), no healthy upstream → UNAVAILABLE', async () => {
    const client = grpcClient(VS_RPC);
    try {
      const noRoute = await unary(client, '/test.Other/Say', 'x');
      assert.equal(noRoute.status.code, grpc.status.UNIMPLEMENTED, noRoute.status.details);
      const noHost = await unary(client, '/test.Gone/Say', 'x');
      assert.equal(noHost.status.code, grpc.status.UNAVAILABLE, noHost.status.details);
    } finally {
      client.close();
    }
  });

  test('TCP: bytes round-trip through tcp_proxy A → mTLS → B → echo app', async () => {
    const payload = randomBytes(256 * 1024);
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect(PORT.tcp, VIP);
      const chunks: Buffer[] = [];
      let n = 0;
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        n += d.length;
        if (n >= payload.length) {
          s.end();
          resolve(Buffer.concat(chunks));
        }
      });
      s.on('error', reject);
      s.on('close', () => resolve(Buffer.concat(chunks)));
      s.write(payload);
    });
    assert.ok(echoed.equals(payload), `echoed ${echoed.length} of ${payload.length} bytes`);
  });

  test('A health-checks each of B’s listeners over mTLS; /clusters shows them healthy', async () => {
    for (const [proto, port] of Object.entries(PORT)) {
      const c = `cds_egress_mp_b_mp_${proto}_${port}`;
      const line = new RegExp(`^${c}::${B_IP.replace(/\./g, '\\.')}:${port}::health_flags::healthy$`, 'm');
      await eventually(`${c} healthy in /clusters`, async () =>
        line.test((await h1Get(VIP, adminA, '/clusters')).body),
      );
      assert.ok(
        ((await stats(adminA)).get(`cluster.${c}.health_check.success`) ?? 0) >= 1,
        `${c}.health_check.success`,
      );
    }
  });

  test('stats: B terminated mTLS (ssl.handshake); A originated it per cluster', async () => {
    const b = await stats(adminB);
    assert.ok((b.get('listener.0.0.0.0_15000.ssl.handshake') ?? 0) >= 4, 'B listener ssl.handshake');
    const a = await stats(adminA);
    for (const [proto, port] of Object.entries(PORT)) {
      const c = `cluster.cds_egress_mp_b_mp_${proto}_${port}`;
      assert.ok((a.get(`${c}.ssl.handshake`) ?? 0) >= 1, `${c}.ssl.handshake`);
      assert.equal(a.get(`${c}.ssl.fail_verify_san`) ?? 0, 0, `${c}.ssl.fail_verify_san`);
    }
  });

  test('PERMISSIVE: B accepts mTLS from A and plaintext straight to its pod on the same port', async () => {
    const before = await stats(adminB);
    const viaA = await h1Get(VIP, PERMISSIVE_PORT, '/via-a', { host: `${VS_B}:${PERMISSIVE_PORT}` });
    assert.equal(viaA.status, 200, viaA.body);
    assert.equal((JSON.parse(viaA.body) as { app: string }).app, 'http-permissive');
    const plain = await h1Get(B_IP, PERMISSIVE_PORT, '/plain', { host: VS_B });
    assert.equal(plain.status, 200, plain.body);
    assert.equal((JSON.parse(plain.body) as { path: string }).path, '/plain');
    const after = await stats(adminB);
    const d = (k: string): number =>
      (after.get(`listener.0.0.0.0_15000.${k}`) ?? 0) - (before.get(`listener.0.0.0.0_15000.${k}`) ?? 0);
    assert.ok(d('downstream_cx_total') >= 1, 'the plaintext connection reached B');
    const a = await stats(adminA);
    const c = `cluster.cds_egress_mp_b_mp_http_${PERMISSIVE_PORT}`;
    assert.ok((a.get(`${c}.ssl.handshake`) ?? 0) >= 1, `A still originates mTLS: ${c}.ssl.handshake`);
  });

  test('B refuses callers that are not A: plaintext, TLS without an SVID, an SVID with another SPIFFE ID', async () => {
    const before = await stats(adminB);
    // No HTTP response comes back to a plaintext request straight to B's pod.
    await assert.rejects(h1Get(B_IP, PORT.http, '/', { host: VS_B }));
    const handshake = (opts: tls.ConnectionOptions, port: number): Promise<string> =>
      new Promise((resolve) => {
        const s = tls.connect({
          host: B_IP,
          port,
          rejectUnauthorized: false,
          ALPNProtocols: ['http/1.1'],
          ...opts,
        });
        let data = '';
        s.on('secureConnect', () => s.write(`GET / HTTP/1.1\r\nhost: ${VS_B}\r\n\r\n`));
        s.on('data', (d: Buffer) => (data += d.toString()));
        s.on('error', () => {});
        s.on('close', () => resolve(data));
      });
    assert.equal(await handshake({}, PORT.http), '', 'no response without a client certificate');
    // A valid SVID of the trust domain, but not the SPIFFE ID B's listener accepts.
    const key = generateKeyPair();
    const intruder = `spiffe://${TD}/intruder`;
    const csr = await createCsr(key, { spiffeId: SpiffeId.parse(intruder) });
    const minted = await adminCall<{ svid_pem: string }>(server!.socketPath, 'x509.mint', {
      spiffe_id: intruder,
      csr: csr.toString('base64'),
    });
    const keyPem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    assert.equal(await handshake({ cert: minted.svid_pem, key: keyPem }, PORT.http), '');
    assert.equal(await handshake({ cert: minted.svid_pem, key: keyPem }, PORT.tcp), '');
    const afterStats = await stats(adminB);
    const d = (k: string): number =>
      (afterStats.get(`listener.0.0.0.0_15000.${k}`) ?? 0) - (before.get(`listener.0.0.0.0_15000.${k}`) ?? 0);
    assert.ok(d('ssl.fail_verify_san') >= 2, 'the intruder’s SVID failed the SAN match');
    assert.ok(d('ssl.connection_error') >= 4, 'every refused connection counted');
  });

  test('a spoofed x-forwarded-client-cert never reaches the app (Envoy default SANITIZE)', async () => {
    const spoof = `By=${ID_B};URI=spiffe://${TD}/admin`;
    const r = await h1Get(VIP, PORT.http, '/', { host: VS_B, 'x-forwarded-client-cert': spoof });
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as { xfcc: unknown }).xfcc, null, 'HTTP/1.1');
    const client = grpcClient(VS_B);
    try {
      const md = new grpc.Metadata();
      md.set('x-forwarded-client-cert', spoof);
      const def = echoService.say;
      const reply = await new Promise<unknown>((resolve, reject) =>
        client.makeUnaryRequest(
          '/test.Echo/Say',
          def.requestSerialize,
          def.responseDeserialize,
          'x',
          md,
          (err, v) => (err ? reject(err) : resolve(v)),
        ),
      );
      assert.equal((reply as { xfcc: unknown }).xfcc, null, 'gRPC metadata');
    } finally {
      client.close();
    }
  });
});
