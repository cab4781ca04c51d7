/**
 * Control-plane benchmark (issue #5): a synthetic mesh of 1,000 virtual nodes and 10,000 routes
 * (`--quick`: 200 / 2,000).
 *
 * Mesh: 100 virtual services, each provided by a virtual router with 100 HTTP routes (priority,
 * header match, two weighted targets among the service's 10 version nodes); 1,000 virtual nodes with a
 * STRICT SDS listener, each calling 2 of the services with an SDS mTLS client policy (its own SVID). Measures, printed as bench/run.ts JSON lines:
 *  - `controlplane.compile`: full compile of every node (ms, with the route memo, as the control plane
 *    compiles) and encode into snapshots (ms);
 *  - `controlplane.edit-to-ack`: one route's weights edited in the store → every affected node's client
 *    has ACKed the new route configuration (p50 / p99 ms over the edits), with one grpc-js ADS
 *    client per node for the first `--clients N` nodes (default 250; `--quick`: all 200) on a unix socket,
 *    the clients in a child process (see ads-client.ts);
 *  - `controlplane.memory`: RSS and heap after the snapshots are built (MB).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { subscribe } from 'node:diagnostics_channel';
import { ResourceStore } from '../../src/mesh/sources/index.js';
import { ControlPlane, RouteMemo, compileMesh, toResourcesByType } from '../../src/mesh/compile/index.js';
import { SnapshotCache, XdsServer, TypeUrl, type XdsAckEvent } from '../../src/mesh/xds/index.js';
import { startAdsClients } from './ads-client.js';
import { percentile } from '../lib/report.js';

const quick = process.argv.includes('--quick');
const NODES = quick ? 200 : 1000;
const SERVICES = quick ? 20 : 100;
const ROUTES_PER_ROUTER = 100;
const BACKENDS_PER_NODE = 2;
const EDITS = quick ? 10 : 100;
/** ADS clients (one per node, the first N nodes): `--clients N`; all nodes by default with --quick, else 250. */
const CLIENTS = (() => {
  const i = process.argv.indexOf('--clients');
  return i >= 0 ? Number(process.argv[i + 1]) : quick ? NODES : 250;
})();
const ns = 'bench';

function emit(
  name: string,
  variant: string,
  unit: string,
  value: number,
  conditions: Record<string, unknown> = {},
): void {
  process.stdout.write(
    `${JSON.stringify({ name, variant, unit, value: Math.round(value * 100) / 100, conditions: { nodes: NODES, routes: SERVICES * ROUTES_PER_ROUTER, ...conditions } })}\n`,
  );
}

function meta(name: string) {
  return { name, namespace: ns };
}

function virtualRouter(s: number, bump = 0): object {
  return {
    apiVersion: 'appmesh.k8s.aws/v1beta2',
    kind: 'VirtualRouter',
    metadata: meta(`router-${s}`),
    spec: {
      listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
      routes: Array.from({ length: ROUTES_PER_ROUTER }, (_, r) => ({
        name: `route-${r}`,
        priority: r,
        httpRoute: {
          match: { prefix: `/api/${r}`, headers: [{ name: 'x-tenant', match: { exact: `t${r % 7}` } }] },
          action: {
            weightedTargets: [
              {
                virtualNodeRef: { name: `node-${(s * 10 + (r % 10)) % NODES}` },
                weight: 50 + (r === 0 ? bump : 0),
              },
              {
                virtualNodeRef: { name: `node-${(s * 10 + ((r + 1) % 10)) % NODES}` },
                weight: 50 - (r === 0 ? bump : 0),
              },
            ],
          },
        },
      })),
    },
  };
}

function syntheticMesh(): object[] {
  const objects: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { mesh: ns } } },
    {
      apiVersion: 'appmesh.k8s.aws/v1beta2',
      kind: 'Mesh',
      metadata: { name: ns },
      spec: { namespaceSelector: { matchLabels: { mesh: ns } } },
    },
  ];
  for (let s = 0; s < SERVICES; s++) {
    objects.push(virtualRouter(s), {
      apiVersion: 'appmesh.k8s.aws/v1beta2',
      kind: 'VirtualService',
      metadata: meta(`svc-${s}`),
      spec: {
        awsName: `svc-${s}.${ns}.svc.cluster.local`,
        provider: { virtualRouter: { virtualRouterRef: { name: `router-${s}` } } },
      },
    });
  }
  for (let n = 0; n < NODES; n++) {
    objects.push({
      apiVersion: 'appmesh.k8s.aws/v1beta2',
      kind: 'VirtualNode',
      metadata: meta(`node-${n}`),
      spec: {
        podSelector: { matchLabels: { app: `node-${n}` } },
        listeners: [
          {
            portMapping: { port: 8080, protocol: 'http' },
            tls: { mode: 'STRICT', certificate: { sds: { secretName: `spiffe://bench.example/node-${n}` } } },
          },
        ],
        serviceDiscovery: { dns: { hostname: `node-${n}.${ns}.svc.cluster.local` } },
        backends: Array.from({ length: BACKENDS_PER_NODE }, (_, b) => ({
          virtualService: { virtualServiceRef: { name: `svc-${(n + b * 37) % SERVICES}` } },
        })),
        backendDefaults: {
          clientPolicy: {
            tls: {
              certificate: { sds: { secretName: `spiffe://bench.example/node-${n}` } },
              validation: {
                trust: { sds: { secretName: 'spiffe://bench.example' } },
                subjectAlternativeNames: { match: { exact: ['spiffe://bench.example/server'] } },
              },
            },
          },
        },
      },
    });
  }
  return objects;
}

/**
 * Full compile, then compile + encode into a fresh cache (emits `controlplane.compile` and
 * `controlplane.memory`); returns the node ids. What it builds is dropped before the edit phase, so
 * the control plane's heap there is its own.
 */
function measureFullCompile(store: ResourceStore): string[] {
  let t = performance.now();
  const state = store.snapshot();
  const stateMs = performance.now() - t;
  t = performance.now();
  // As the control plane compiles: each router's routes once, shared by its callers.
  const configs = compileMesh(state, { memo: new RouteMemo() });
  const compileMs = performance.now() - t;
  const cache = new SnapshotCache();
  t = performance.now();
  for (const [id, c] of configs) cache.setSnapshot(id, toResourcesByType(c));
  const encodeMs = performance.now() - t;
  emit('controlplane.compile', 'mesh-state', 'ms', stateMs);
  emit('controlplane.compile', 'compile-all-nodes', 'ms', compileMs);
  emit('controlplane.compile', 'encode-snapshots', 'ms', encodeMs);
  const mem = process.memoryUsage();
  emit('controlplane.memory', 'rss', 'MB', mem.rss / 2 ** 20);
  emit('controlplane.memory', 'heap-used', 'MB', mem.heapUsed / 2 ** 20);

  return [...configs.keys()];
}

async function main(): Promise<void> {
  const store = new ResourceStore();
  const applied = store.apply(syntheticMesh());
  if (applied.rejected.length > 0) throw new Error(`synthetic mesh rejected: ${applied.issues[0]?.rule}`);

  const nodeIds = measureFullCompile(store);

  // Serve a control plane following the store; one ADS client per node.
  const controlPlane = new ControlPlane({ source: store });
  controlPlane.start();
  const dir = mkdtempSync(path.join(tmpdir(), 'tm-bench-cp-'));
  const server = new XdsServer({ cache: controlPlane.cache });
  const target = await server.listen(`unix://${path.join(dir, 'xds.sock')}`);
  const acked = new Map<string, string>();
  let onAck: ((e: XdsAckEvent) => void) | undefined;
  subscribe('trustmesh:xds:ack', (m) => {
    const e = m as XdsAckEvent;
    if (e.typeUrl !== TypeUrl.RouteConfiguration) return;
    acked.set(e.nodeId, e.version);
    onAck?.(e);
  });
  const clientNodes = new Set(nodeIds.slice(0, CLIENTS));
  const clients = await startAdsClients(target, [...clientNodes], ['rds_egress_http_8080']);
  const deadline = Date.now() + 300_000;
  while (acked.size < clientNodes.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (acked.size < clientNodes.size)
    throw new Error(`only ${acked.size}/${clientNodes.size} nodes ACKed the initial routes`);

  const latencies: number[] = [];
  const affectedCounts: number[] = [];
  const recompileMs: number[] = [];
  controlPlane.on('compiled', (r) => recompileMs.push(r.durationMs));
  for (let e = 0; e < EDITS; e++) {
    const s = e % SERVICES;
    const start = performance.now();
    const done = new Promise<number>((resolve) => {
      let waiting: Set<string> | undefined;
      controlPlane.once('compiled', (report) => {
        // Nodes without a client (beyond --clients) have no ACK to wait for.
        waiting = new Set(report.changedNodes.filter((id) => clientNodes.has(id)));
        affectedCounts.push(waiting.size);
        for (const id of [...waiting]) {
          const v = controlPlane.cache.getSnapshot(id)!.get(TypeUrl.RouteConfiguration)!.version;
          if (acked.get(id) === v) waiting.delete(id);
        }
        if (waiting.size === 0) resolve(performance.now() - start);
      });
      onAck = (ev) => {
        if (!waiting?.has(ev.nodeId)) return;
        const v = controlPlane.cache.getSnapshot(ev.nodeId)!.get(TypeUrl.RouteConfiguration)!.version;
        if (ev.version !== v) return;
        waiting.delete(ev.nodeId);
        if (waiting.size === 0) resolve(performance.now() - start);
      };
    });
    // Each edit moves 10% of a service's first route between its targets, and back on its next edit.
    const applied = store.apply([virtualRouter(s, Math.floor(e / SERVICES) % 2 === 0 ? 10 : 0)]);
    if (applied.changes.length !== 1) throw new Error(`edit ${e} not applied: ${applied.issues[0]?.rule}`);
    latencies.push(await done);
  }
  onAck = undefined;
  latencies.sort((a, b) => a - b);
  recompileMs.sort((a, b) => a - b);
  const cond = {
    edits: EDITS,
    clients: clientNodes.size,
    clientsIn: 'child process',
    affectedNodesPerEdit: affectedCounts[0] ?? 0,
  };
  emit('controlplane.edit-to-ack', 'p50', 'ms', percentile(latencies, 50), cond);
  emit('controlplane.edit-to-ack', 'p99', 'ms', percentile(latencies, 99), cond);
  emit('controlplane.edit-to-ack', 'recompile-p50', 'ms', percentile(recompileMs, 50), cond);

  await clients.close();
  controlPlane.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

await main();
process.exit(0);
