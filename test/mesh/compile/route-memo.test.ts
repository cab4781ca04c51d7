/**
 * The route memo (route-memo.ts) changes how a node's configuration is built, never what it is: with a
 * memo, a first pass (recording, or replaying what an earlier node recorded) and a second pass over the
 * same state (every router replayed) give each node the configuration, issues (in order) and dependency
 * reads a compile without a memo gives. The reads matter: the control plane recompiles a node only when
 * an edit touches something it read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import {
  RouteMemo,
  compileMesh,
  type CompileOptions,
  type NodeConfig,
} from '../../../src/mesh/compile/index.js';
import type { JsonObject } from '../../../src/mesh/xds/index.js';
import { fixtureMesh, loadMesh } from './support.js';

const routeMemoMesh = fileURLToPath(new URL('./fixtures/route-memo.yaml', import.meta.url));

const options: CompileOptions = {
  apiListeners: true,
  endpointResolver: {
    resolve: (vn) => (vn.metadata.name === 'ep' ? [{ address: '10.0.0.7', port: 8080 }] : undefined),
  },
};

/** The node's config as plain data: `reads` as a sorted list, everything else as JSON. */
function plain(config: NodeConfig): unknown {
  return { ...JSON.parse(JSON.stringify({ ...config, reads: undefined })), reads: [...config.reads].sort() };
}

for (const [name, path] of [
  ['mesh.yaml', fixtureMesh],
  ['route-memo.yaml', routeMemoMesh],
] as const) {
  test(`${name}: compiling with a memo, twice, gives what compiling without one gives`, async () => {
    const state = await loadMesh([path]);
    const scratch = compileMesh(state, options);
    const memo = new RouteMemo();
    for (const pass of ['recording pass', 'replaying pass']) {
      const got = compileMesh(state, { ...options, memo });
      assert.deepEqual([...got.keys()], [...scratch.keys()], `${pass}: node ids`);
      for (const [id, want] of scratch) assert.deepEqual(plain(got.get(id)!), plain(want), `${pass}: ${id}`);
    }
  });
}

test("callers share a router's compiled routes, deep-frozen; without a memo nothing is frozen", async () => {
  const state = await loadMesh([routeMemoMesh]);
  const routesOf = (configs: Map<string, NodeConfig>, node: string) => {
    const config = configs
      .get(`mesh/m1/virtualNode/${node}`)!
      .routeConfigurations.find((r) => r.name === 'rds_egress_http_8080')!;
    const host = (config.virtual_hosts as JsonObject[]).find(
      (h) => h.name === 'svc.a.svc.cluster.local_8080',
    );
    return host!.routes as JsonObject[];
  };
  const shared = compileMesh(state, { memo: new RouteMemo() });
  const recorded = routesOf(shared, 'a-rec_a');
  assert.equal(routesOf(shared, 'c-group_a'), recorded, 'the replaying caller holds the same routes');
  assert.equal(routesOf(shared, 'd-far_b'), recorded, 'so does a caller in another namespace');
  // b-ports cannot build the TLS target's cluster: its routes are its own, without that target.
  assert.notEqual(routesOf(shared, 'b-ports_a'), recorded);
  assert.doesNotMatch(JSON.stringify(routesOf(shared, 'b-ports_a')), /secure_b_http_8443/);
  const route = recorded[0]!;
  assert.ok(Object.isFrozen(recorded) && Object.isFrozen(route) && Object.isFrozen(route.route));
  assert.throws(() => {
    (route.route as JsonObject).timeout = '1s';
  }, TypeError);

  const own = routesOf(compileMesh(state), 'a-rec_a');
  assert.ok(!Object.isFrozen(own) && !Object.isFrozen(own[0]));
  assert.deepEqual(own, recorded);
});
