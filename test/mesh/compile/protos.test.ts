/**
 * Every resource the compiler emits must fit the real Envoy protos (from @grpc/grpc-js-xds's deps/):
 * protobufjs `fromObject` + `verify` + encode accept it with no unknown field, decoding gives back exactly
 * the same JSON, and grpc-js-xds's own decoder (an independent proto load) reads the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { compileMesh, type NodeConfig } from '../../../src/mesh/compile/index.js';
import { decodeAny, encodeAny, ResourceEncodingError, type JsonObject } from '../../../src/mesh/xds/index.js';
import { loadMesh, meshFromYaml, meshYaml, nsObject, virtualServiceYaml } from './support.js';

const require = createRequire(import.meta.url);
const xdsResources = require('@grpc/grpc-js-xds/build/src/resources.js') as {
  decodeSingleResource(typeUrl: string, bytes: Uint8Array): { name?: string; cluster_name?: string };
};

function allResources(config: NodeConfig): JsonObject[] {
  return [...config.clusters, ...config.endpoints, ...config.listeners, ...config.routeConfigurations];
}

function checkRoundTrip(configs: Map<string, NodeConfig>): number {
  let n = 0;
  for (const [nodeId, config] of configs) {
    for (const resource of allResources(config)) {
      const any = encodeAny(resource);
      assert.deepEqual(
        decodeAny(any),
        resource,
        `${nodeId}: ${String(resource.name ?? resource.cluster_name)}`,
      );
      // The snapshot cache's fast path (memoized repeated elements, no verify) must decode the same.
      assert.deepEqual(decodeAny(encodeAny(resource, { verify: false })), resource);
      const independent = xdsResources.decodeSingleResource(any.type_url, any.value);
      assert.equal(independent.name ?? independent.cluster_name, resource.name ?? resource.cluster_name);
      n++;
    }
  }
  return n;
}

test('the fixture mesh: every resource of every node encodes, decodes identically, and grpc-js-xds reads it', async () => {
  const state = await loadMesh();
  const configs = compileMesh(state);
  assert.equal(configs.size, 8);
  assert.ok(checkRoundTrip(configs) >= 30, 'every node has listeners, clusters and routes');
});

test('with pod endpoints (EDS), proxyless API listeners and an ALLOW_ALL mesh', async () => {
  const state = await loadMesh();
  state.meshByAwsName('shop')!.spec.egressFilter = { type: 'ALLOW_ALL' };
  const configs = compileMesh(state, {
    apiListeners: true,
    endpointResolver: { resolve: (_vn, l) => [{ address: '198.18.0.7', port: l.port }] },
  });
  const front = configs.get('mesh/shop/virtualNode/front_shop')!;
  assert.ok(front.endpoints.length > 0);
  assert.ok(front.listeners.some((l) => l.api_listener));
  assert.ok(front.listeners.some((l) => l.default_filter_chain));
  checkRoundTrip(configs);
});

test('gateway rewrites, file certificates and a TCP route encode too', () => {
  const state = meshFromYaml(
    meshYaml(
      nsObject(
        'VirtualNode',
        'db',
        `
spec:
  listeners: [{ portMapping: { port: 5432, protocol: tcp } }]
  serviceDiscovery: { dns: { hostname: db.ns } }`,
      ),
      nsObject(
        'VirtualRouter',
        'db-router',
        `
spec:
  listeners: [{ portMapping: { port: 5432, protocol: tcp } }]
  routes:
    - name: tcp
      tcpRoute:
        action: { weightedTargets: [{ virtualNodeRef: { name: db }, weight: 1 }] }
        timeout: { idle: { unit: s, value: 30 } }`,
      ),
      virtualServiceYaml('db', { virtualRouter: 'db-router' }),
      nsObject(
        'VirtualNode',
        'app',
        `
spec:
  backends: [{ virtualService: { virtualServiceRef: { name: db } } }]`,
      ),
      nsObject(
        'VirtualNode',
        'web',
        `
spec:
  listeners:
    - portMapping: { port: 80, protocol: http }
  serviceDiscovery: { dns: { hostname: web.ns } }`,
      ),
      virtualServiceYaml('web', { virtualNode: 'web' }),
      nsObject(
        'VirtualGateway',
        'gw',
        `
spec:
  namespaceSelector: {}
  listeners:
    - portMapping: { port: 443, protocol: http }
      tls:
        mode: STRICT
        certificate: { file: { certificateChain: /c.pem, privateKey: /k.pem } }
        validation: { trust: { file: { certificateChain: /ca.pem } } }`,
      ),
      nsObject(
        'GatewayRoute',
        'exact',
        `
spec:
  httpRoute:
    match: { path: { exact: /old }, queryParameters: [{ name: v, match: { exact: "2" } }] }
    action:
      target: { virtualService: { virtualServiceRef: { name: web } } }
      rewrite: { path: { exact: /new }, hostname: { defaultTargetHostname: DISABLED } }`,
      ),
    ),
  );
  assert.deepEqual(state.errors, []);
  checkRoundTrip(compileMesh(state));
});

test('an unknown field or a wrong scalar is refused by the protos, naming the field', () => {
  assert.throws(
    () =>
      encodeAny({ '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'c', nonsense: 1 }),
    (e: unknown) => e instanceof ResourceEncodingError && e.path === 'nonsense',
  );
  assert.throws(
    () =>
      encodeAny({
        '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
        name: 'c',
        connect_timeout: 5,
      }),
    (e: unknown) => e instanceof ResourceEncodingError && e.path === 'connect_timeout',
  );
  assert.throws(
    () =>
      encodeAny({
        '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
        name: 'c',
        type: 'NOT_A_TYPE',
      }),
    (e: unknown) => e instanceof ResourceEncodingError && e.path === 'type',
  );
});
