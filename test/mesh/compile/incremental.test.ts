/**
 * The incremental edit path gives what a rebuild from scratch gives: after each edit, the store's mesh
 * state (built by reusing the previous one) equals `buildMeshState` of the stored objects alone, and
 * every node's snapshot in a following ControlPlane (which recompiles only the nodes an edit can affect
 * and re-encodes only changed resources) has the versions and resources of a fresh compile into an
 * empty cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import {
  ControlPlane,
  compileMesh,
  toResourcesByType,
  type CompileOptions,
  type CompileReport,
} from '../../../src/mesh/compile/index.js';
import {
  KINDS,
  buildMeshState,
  type KindName,
  type MeshResource,
  type VirtualNode,
} from '../../../src/mesh/model/index.js';
import { ResourceStore, keyOf, readManifests } from '../../../src/mesh/sources/index.js';
import { SnapshotCache, TypeUrl, decodeAny } from '../../../src/mesh/xds/index.js';
import { fixtureMesh } from './support.js';

const routeMemoMesh = fileURLToPath(new URL('./fixtures/route-memo.yaml', import.meta.url));

type Spec = Record<string, unknown> & {
  listeners?: { tls?: { mode: string } }[];
  routes?: Record<string, unknown>[];
  backends?: { virtualService: { virtualServiceRef: { name: string } } }[];
  awsName?: string;
};

/** A writable copy of the stored object `kind/name` (in `namespace` when given). */
function copy(
  store: ResourceStore,
  kind: string,
  name: string,
  namespace?: string,
): MeshResource & { spec: Spec } {
  const found = store
    .list(kind)
    .find(
      (r) =>
        r.resource.metadata.name === name &&
        (namespace === undefined || r.resource.metadata.namespace === namespace),
    );
  assert.ok(found, `${kind} ${name} in the fixture`);
  const r = structuredClone(found.resource) as MeshResource & { spec: Spec };
  delete r.metadata.resourceVersion;
  return r;
}

const issueKeys = (issues: readonly object[]): string[] => issues.map((i) => JSON.stringify(i)).sort();

/**
 * Asserts the store's (reused) mesh state and the control plane's snapshots and compile issues equal a
 * rebuild from scratch (which compiles every router for every caller, without the route memo);
 * `options` are the control plane's compile options.
 */
function assertLikeScratch(
  store: ResourceStore,
  cp: ControlPlane,
  what: string,
  report?: CompileReport,
  options: CompileOptions = {},
): void {
  const incremental = store.snapshot();
  const scratch = buildMeshState(store.list());
  assert.deepEqual(incremental.issues, scratch.issues, `${what}: mesh issues`);
  for (const kind of Object.keys(KINDS) as KindName[])
    assert.deepEqual(incremental.list(kind), scratch.list(kind), `${what}: ${kind} objects`);

  const fresh = new SnapshotCache();
  const scratchConfigs = compileMesh(scratch, { ...options, memo: undefined });
  for (const [id, config] of scratchConfigs) fresh.setSnapshot(id, toResourcesByType(config));
  if (report) {
    assert.deepEqual(
      issueKeys(report.compileIssues),
      issueKeys([...scratchConfigs.values()].flatMap((c) => c.issues)),
      `${what}: compile issues`,
    );
    // A node's issues come in the order a scratch compile raises them, replayed routes included.
    for (const [id, config] of scratchConfigs)
      assert.deepEqual(
        report.compileIssues.filter((i) => i.nodeId === id),
        config.issues,
        `${what}: ${id} compile issues in order`,
      );
  }
  assert.deepEqual(cp.cache.nodeIds().sort(), fresh.nodeIds().sort(), `${what}: node ids`);
  for (const id of fresh.nodeIds()) {
    const got = cp.cache.getSnapshot(id)!;
    const want = fresh.getSnapshot(id)!;
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${what}: ${id} types`);
    for (const [typeUrl, w] of want) {
      const g = got.get(typeUrl)!;
      assert.equal(g.version, w.version, `${what}: ${id} ${typeUrl} version`);
      assert.deepEqual(
        [...g.resources.values()].map((r) => [
          r.name,
          decodeAny(r.any),
          Buffer.from(r.any.value).toString('hex'),
        ]),
        [...w.resources.values()].map((r) => [
          r.name,
          decodeAny(r.any),
          Buffer.from(r.any.value).toString('hex'),
        ]),
        `${what}: ${id} ${typeUrl} resources`,
      );
    }
  }
}

/** Applies an edit to the store and asserts the control plane's next pass is like a scratch compile. */
function editor(store: ResourceStore, cp: ControlPlane, options: CompileOptions = {}) {
  return async (what: string, objects: object[], remove: MeshResource[] = []): Promise<void> => {
    const pass = new Promise<CompileReport>((resolve) => cp.once('compiled', resolve));
    const applied = store.apply(objects, { delete: remove.map(keyOf) });
    assert.deepEqual(
      applied.issues.filter((i) => i.severity === 'error'),
      [],
      `${what}: accepted by the store`,
    );
    assert.ok(applied.changes.length > 0, `${what}: changes the store`);
    assertLikeScratch(store, cp, what, await pass, options);
  };
}

test('each edit kind yields the snapshot a rebuild from scratch yields', async () => {
  const store = new ResourceStore();
  store.apply((await readManifests([fixtureMesh])).documents);
  const cp = new ControlPlane({ source: store });
  cp.start();
  const apply = editor(store, cp);
  try {
    assertLikeScratch(store, cp, 'initial');

    const router = copy(store, 'VirtualRouter', 'color-router');
    const added = structuredClone(router.spec.routes![2]!);
    added.name = 'green-path-2';
    added.priority = 6;
    router.spec.routes!.push(added);
    await apply('add a route', [router]);
    router.spec.routes!.splice(1, 1);
    await apply('remove a route', [router]);

    const front = copy(store, 'VirtualNode', 'front');
    front.spec.backends![0]!.virtualService.virtualServiceRef.name = 'blue-direct';
    await apply('change a backend', [front]);

    const blue = copy(store, 'VirtualNode', 'blue');
    blue.spec.listeners![0]!.tls!.mode = 'PERMISSIVE';
    await apply('change a listener TLS mode', [blue]);

    // The routes targeting green now dangle: reported, and the clients lose those targets.
    const green = copy(store, 'VirtualNode', 'green');
    await apply('delete a virtual node', [], [green]);
    assert.ok(store.snapshot().errors.some((i) => i.code === 'TM_ERR_MESH_REFERENCE'));
    await apply('restore the virtual node', [green]);
    assert.deepEqual(store.snapshot().errors, []);

    // A second node taking red's awsName is refused while red holds it, admitted once red is gone.
    const twin = copy(store, 'VirtualNode', 'red');
    twin.metadata.name = 'red-twin';
    await apply('add a node with a duplicate awsName', [twin]);
    assert.ok(store.snapshot().errors.some((i) => i.code === 'TM_ERR_MESH_DUPLICATE'));
    await apply('delete the node holding the awsName', [], [copy(store, 'VirtualNode', 'red')]);
    assert.equal(store.snapshot().get('VirtualNode', 'shop', 'red-twin')?.spec.awsName, twin.spec.awsName);

    const vs = copy(store, 'VirtualService', 'ledger');
    await apply('delete a virtual service that a backend names', [], [vs]);
    await apply('restore the virtual service', [vs]);

    // Callers of one router share its compiled routes (the route memo), except a caller that cannot
    // build the target clusters (ACM trust fails closed), compiled before (`acm-a`) or after (`zz-acm`)
    // the caller that records them (`mid`; nodes compile in name order).
    const callers = ['acm-a', 'mid', 'zz-acm'].map((name) => {
      const caller = copy(store, 'VirtualNode', 'front');
      caller.metadata.name = name;
      caller.spec.awsName = `${name}_shop`;
      Object.assign(caller.spec, {
        podSelector: { matchLabels: { app: name } },
        backends: [{ virtualService: { virtualServiceRef: { name: 'color' } } }],
      });
      if (name !== 'mid')
        caller.spec.backendDefaults = {
          clientPolicy: {
            tls: { validation: { trust: { acm: { certificateAuthorityARNs: ['arn:aws:acm-pca:x'] } } } },
          },
        };
      return caller;
    });
    await apply('add callers of one router, two of them failing closed', callers);
    const routeText = (node: string) =>
      JSON.stringify(
        [
          ...cp.cache
            .getSnapshot(`mesh/shop/virtualNode/${node}_shop`)!
            .get(TypeUrl.RouteConfiguration)!
            .resources.values(),
        ].map((r) => decodeAny(r.any)),
      );
    assert.match(routeText('mid'), /cds_egress_shop_blue_shop_http_8080/);
    for (const node of ['acm-a', 'zz-acm'])
      assert.doesNotMatch(routeText(node), /_(blue|green|red)_shop_/, `${node}: no route to a color cluster`);
    const router2 = copy(store, 'VirtualRouter', 'color-router');
    router2.spec.routes!.push({
      ...structuredClone(router2.spec.routes![0]!),
      name: 'to-nowhere',
      priority: 9,
    });
    (router2.spec.routes!.at(-1) as { httpRoute: { action: unknown; match: unknown } }).httpRoute = {
      match: { prefix: '/nowhere' },
      action: { weightedTargets: [{ virtualNodeRef: { name: 'nowhere' }, weight: 1 }] },
    };
    await apply('a route whose target does not exist, reported for every caller', [router2]);
    await apply('remove the callers', [], callers);

    const ns = copy(store, 'Namespace', 'shop');
    ns.metadata.labels = { ...ns.metadata.labels, tier: 'edge' };
    await apply('relabel the namespace', [ns]);
  } finally {
    cp.close();
  }
});

// Edge cases of the route memo (fixtures/route-memo.yaml): every pass, with an endpoint resolver and
// API listeners, must equal a scratch compile without the memo — resources, bytes, versions and issues
// in order.
test('shared router routes stay like a scratch compile through edits of their inputs', async () => {
  const store = new ResourceStore();
  const read = await readManifests([routeMemoMesh]);
  assert.deepEqual(
    store.apply(read.documents).issues.filter((i) => i.severity === 'error'),
    [],
    'fixture validates',
  );
  assert.deepEqual(store.snapshot().errors, [], 'fixture has no cross-object errors');
  // Pod endpoints known to the platform, by `<namespace>/<virtual node>`; the others use DNS or have none.
  const pods = new Map<string, { address: string; port: number }[]>([
    ['b/ep', [{ address: '10.0.0.7', port: 8080 }]],
    ['b/h2', []],
  ]);
  const options: CompileOptions = {
    apiListeners: true,
    endpointResolver: {
      resolve: (vn: VirtualNode) => pods.get(`${vn.metadata.namespace}/${vn.metadata.name}`),
    },
  };
  const cp = new ControlPlane({ source: store, compile: options });
  const apply = editor(store, cp, options);
  try {
    assertLikeScratch(store, cp, 'initial', cp.start(), options);
    // b-ports replays a-rec's record: cm's cluster (no endpoints: an issue) is built before the TLS
    // target's cluster fails closed, and the compile after the failed replay must raise cm's issue again.
    const issuesOf = (node: string) =>
      cp.recompile().compileIssues.filter((i) => i.nodeId === `mesh/m1/virtualNode/${node}_a`);
    assert.ok(issuesOf('b-ports').some((i) => i.message.startsWith('cds_egress_m1_cm_b_http_8080: ')));

    const secure = copy(store, 'VirtualNode', 'secure', 'b');
    (secure.spec.listeners![1]!.tls as { mode: string }).mode = 'PERMISSIVE';
    await apply('a target behind a cluster with an issue changes', [secure]);

    const h2 = copy(store, 'VirtualNode', 'h2', 'b');
    const h2Port = (h2.spec.listeners![0] as { portMapping: { protocol: string } }).portMapping;
    h2Port.protocol = 'grpc';
    await apply('a target listener changes protocol: the http2 route loses it', [h2]);
    h2Port.protocol = 'http2';
    await apply('the target listener changes back', [h2]);

    const cm = copy(store, 'VirtualNode', 'cm', 'b');
    await apply('a target node is deleted', [], [cm]);
    await apply('the target node is recreated', [cm]);

    pods.set('b/cm', [{ address: '10.0.0.9', port: 8080 }]);
    assertLikeScratch(store, cp, 'the endpoint resolver learns a target', cp.recompile(), options);
    pods.delete('b/cm');
    assertLikeScratch(store, cp, 'the endpoint resolver forgets it', cp.recompile(), options);

    const bPorts = copy(store, 'VirtualNode', 'b-ports', 'a');
    const tls = (bPorts.spec.backends![0]!.virtualService as { clientPolicy: { tls: { ports: number[] } } })
      .clientPolicy.tls;
    tls.ports = [8080, 8443];
    await apply('the failing client policy covers every target port', [bPorts]);
    tls.ports = [8080];
    await apply('the failing client policy covers the other port only', [bPorts]);
    // Its second path to the router (no client policy) replays what its first path could not.
    bPorts.spec.backendGroups = [{ name: 'g' }];
    await apply('the failing caller also reaches the router through a backend group', [bPorts]);

    const router = copy(store, 'VirtualRouter', 'r', 'a');
    const byArn = router.spec.routes![1] as { httpRoute: { action: { weightedTargets: object[] } } };
    byArn.httpRoute.action.weightedTargets[0] = {
      virtualNodeARN: 'arn:aws:appmesh:us-west-2:111122223333:mesh/m2/virtualNode/cm_c',
      weight: 1,
    };
    await apply('an ARN target names a node of the other mesh', [router]);
    byArn.httpRoute.action.weightedTargets.push({
      virtualNodeRef: { name: 'ep', namespace: 'b' },
      weight: 0,
    });
    await apply('a target with weight 0 and one named twice', [router]);
    byArn.httpRoute.action.weightedTargets[0] = {
      virtualNodeARN: 'arn:aws:appmesh:us-west-2:111122223333:mesh/m3/virtualNode/cm_c',
      weight: 1,
    };
    await apply('an ARN target names no mesh', [router]);

    const other = copy(store, 'VirtualRouter', 'r', 'c');
    other.spec.routes!.push({
      name: 'nowhere',
      priority: 0,
      httpRoute: {
        match: { prefix: '/nowhere' },
        action: { weightedTargets: [{ virtualNodeRef: { name: 'nowhere' }, weight: 1 }] },
      },
    });
    await apply("the other mesh's router of the same name changes", [other]);
    // A route issue raised before a target's cluster issue: a replaying caller raises them in that order.
    router.spec.routes!.push({ ...other.spec.routes!.at(-1)!, name: 'nowhere-first' });
    await apply('a route whose target is missing comes first', [router]);

    const route = copy(store, 'GatewayRoute', 'to-svc', 'a');
    Object.assign((route.spec.httpRoute as { action: object }).action, {
      rewrite: { path: { exact: '/only' }, hostname: { defaultTargetHostname: 'DISABLED' } },
    });
    (route.spec.httpRoute as { match: object }).match = { path: { exact: '/svc' }, port: 8088 };
    await apply('a gateway route through the router rewrites the path', [route]);

    const group = copy(store, 'BackendGroup', 'g', 'a');
    group.spec.virtualservices = [];
    await apply('the backend group drops the routed service', [group]);
    group.spec.virtualservices = [{ name: 'svc' }];
    await apply('the backend group names it again', [group]);

    const a = copy(store, 'Namespace', 'a');
    a.metadata.labels = { mesh: 'm2' };
    await apply("the router's namespace moves to the other mesh", [a]);
  } finally {
    cp.close();
  }
});
