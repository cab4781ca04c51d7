/**
 * The whole control plane in one process: manifests → ResourceStore → ControlPlane (compiler) →
 * XdsServer, with `@grpc/grpc-js-xds` as a proxyless client of a compiled API listener. The client must
 * follow the virtual router's header match and weighted targets, pick up manifest edits live, keep
 * working when an invalid edit is rejected, and when a route names an unknown virtual node.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { ControlPlane, type CompileReport } from '../../../src/mesh/compile/index.js';
import { ResourceStore, parseManifestText } from '../../../src/mesh/sources/index.js';
import { XdsServer } from '../../../src/mesh/xds/index.js';
import { EchoClient, backendsSeen, echo, eventually, startEchoBackend } from './grpc-xds-client.js';

const ns = 'shop';
const service = `echo.${ns}.svc.cluster.local`;
const store = new ResourceStore();
const backends: grpc.Server[] = [];
const ports = new Map<string, number>();
let controlPlane: ControlPlane;
let server: XdsServer;
let client: grpc.Client;
const seen = (n: number, metadata?: Record<string, string>) => backendsSeen(client, n, metadata);

function node(name: string): string {
  return `
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: { name: ${name}, namespace: ${ns} }
spec:
  podSelector: { matchLabels: { app: echo, version: ${name} } }
  listeners: [{ portMapping: { port: 8080, protocol: grpc } }]
  serviceDiscovery: { dns: { hostname: ${name}.${ns}.svc.cluster.local } }
`;
}

function router(weights: { blue: number; green: number }, headerTarget = 'green'): string {
  return `
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: { name: echo-router, namespace: ${ns} }
spec:
  listeners: [{ portMapping: { port: 8080, protocol: grpc } }]
  routes:
    - name: weighted
      grpcRoute:
        match: { serviceName: test.Echo }
        action:
          weightedTargets:
            - { virtualNodeRef: { name: blue }, weight: ${weights.blue} }
            - { virtualNodeRef: { name: green }, weight: ${weights.green} }
    - name: by-header
      priority: 0
      grpcRoute:
        match:
          serviceName: test.Echo
          metadata: [{ name: x-color, match: { exact: pick } }]
        action:
          weightedTargets: [{ virtualNodeRef: { name: ${headerTarget} }, weight: 1 }]
`;
}

const base = `
apiVersion: v1
kind: Namespace
metadata: { name: ${ns}, labels: { mesh: ${ns} } }
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: { name: ${ns} }
spec: { namespaceSelector: { matchLabels: { mesh: ${ns} } } }
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: { name: echo, namespace: ${ns} }
spec:
  awsName: ${service}
  provider: { virtualRouter: { virtualRouterRef: { name: echo-router } } }
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: { name: client, namespace: ${ns} }
spec:
  podSelector: { matchLabels: { app: client } }
  backends: [{ virtualService: { virtualServiceRef: { name: echo } } }]
---
${node('blue')}
---
${node('green')}
`;

function apply(yaml: string) {
  return store.apply(parseManifestText(yaml, 'test.yaml').documents);
}

function nextCompile(): Promise<CompileReport> {
  return new Promise((resolve) => controlPlane.once('compiled', resolve));
}

before(async () => {
  for (const name of ['blue', 'green']) {
    const b = await startEchoBackend(name);
    backends.push(b.server);
    ports.set(name, b.port);
  }
  apply(`${base}\n---\n${router({ blue: 100, green: 0 })}`);
  controlPlane = new ControlPlane({
    source: store,
    compile: {
      apiListeners: true,
      // The "pods" of blue and green are the local echo backends.
      endpointResolver: { resolve: (vn) => [{ address: '127.0.0.1', port: ports.get(vn.metadata.name)! }] },
    },
  });
  const first = controlPlane.start();
  assert.deepEqual(first.compileIssues, []);
  server = new XdsServer({ cache: controlPlane.cache });
  const address = await server.listen('127.0.0.1:0');
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [
      { server_uri: address, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
    ],
    node: { id: `mesh/${ns}/virtualNode/client_${ns}`, locality: {} },
  });
  grpcXds.register();
  client = new EchoClient(`xds:///${service}:8080`, grpc.credentials.createInsecure());
});

after(async () => {
  controlPlane?.close();
  client?.close();
  await server?.close();
  for (const b of backends) b.forceShutdown();
});

test('a proxyless client resolves the compiled API listener and follows the router', async () => {
  assert.deepEqual([...(await seen(5))], ['blue']);
  assert.deepEqual([...(await seen(5, { 'x-color': 'pick' }))], ['green'], 'header route (priority 0) first');
});

test('a manifest edit (weights) reaches the client live', async () => {
  const compiled = nextCompile();
  apply(router({ blue: 0, green: 100 }));
  assert.ok((await compiled).changedNodes.includes(`mesh/${ns}/virtualNode/client_${ns}`));
  await eventually(async () => (await echo(client)) === 'green', 'weights moved to green');
  apply(router({ blue: 50, green: 50 }));
  await eventually(async () => (await seen(20)).size === 2, 'both targets receive calls');
});

test('an invalid edit is rejected by the store and the last good routing stays', async () => {
  const result = apply(router({ blue: 101, green: 0 }));
  assert.equal(result.rejected.length, 1);
  assert.equal((await seen(20)).size, 2);
});

test('a route to an unknown virtual node is reported; the other routes keep working', async () => {
  const compiled = nextCompile();
  apply(router({ blue: 100, green: 0 }, 'ghost'));
  const report = await compiled;
  assert.ok(
    report.compileIssues.some((i) => i.code === 'TM_ERR_COMPILE_REFERENCE' && /by-header/.test(i.message)),
  );
  await eventually(async () => (await echo(client)) === 'blue', 'weights moved back to blue');
  assert.deepEqual([...(await seen(5, { 'x-color': 'pick' }))], ['blue'], 'the dangling route is left out');
});
