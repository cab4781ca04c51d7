/**
 * The incremental edit path gives what a rebuild from scratch gives: after each edit, the store's mesh
 * state (built by reusing the previous one) equals `buildMeshState` of the stored objects alone, and
 * every node's snapshot in a following ControlPlane (which recompiles only the nodes an edit can affect
 * and re-encodes only changed resources) has the versions and resources of a fresh compile into an
 * empty cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ControlPlane,
  compileMesh,
  toResourcesByType,
  type CompileReport,
} from '../../../src/mesh/compile/index.js';
import { KINDS, buildMeshState, type KindName, type MeshResource } from '../../../src/mesh/model/index.js';
import { ResourceStore, keyOf, readManifests } from '../../../src/mesh/sources/index.js';
import { SnapshotCache, TypeUrl, decodeAny } from '../../../src/mesh/xds/index.js';
import { fixtureMesh } from './support.js';

type Spec = Record<string, unknown> & {
  listeners?: { tls?: { mode: string } }[];
  routes?: Record<string, unknown>[];
  backends?: { virtualService: { virtualServiceRef: { name: string } } }[];
  awsName?: string;
};

/** A writable copy of the stored object `kind/name`. */
function copy(store: ResourceStore, kind: string, name: string): MeshResource & { spec: Spec } {
  const found = store.list(kind).find((r) => r.resource.metadata.name === name);
  assert.ok(found, `${kind} ${name} in the fixture`);
  const r = structuredClone(found.resource) as MeshResource & { spec: Spec };
  delete r.metadata.resourceVersion;
  return r;
}

const issueKeys = (issues: readonly object[]): string[] => issues.map((i) => JSON.stringify(i)).sort();

/**
 * Asserts the store's (reused) mesh state and the control plane's snapshots and compile issues equal a
 * rebuild from scratch (which compiles every router for every caller, without the route memo).
 */
function assertLikeScratch(
  store: ResourceStore,
  cp: ControlPlane,
  what: string,
  report?: CompileReport,
): void {
  const incremental = store.snapshot();
  const scratch = buildMeshState(store.list());
  assert.deepEqual(incremental.issues, scratch.issues, `${what}: mesh issues`);
  for (const kind of Object.keys(KINDS) as KindName[])
    assert.deepEqual(incremental.list(kind), scratch.list(kind), `${what}: ${kind} objects`);

  const fresh = new SnapshotCache();
  const scratchConfigs = compileMesh(scratch);
  for (const [id, config] of scratchConfigs) fresh.setSnapshot(id, toResourcesByType(config));
  if (report)
    assert.deepEqual(
      issueKeys(report.compileIssues),
      issueKeys([...scratchConfigs.values()].flatMap((c) => c.issues)),
      `${what}: compile issues`,
    );
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

test('each edit kind yields the snapshot a rebuild from scratch yields', async () => {
  const store = new ResourceStore();
  store.apply((await readManifests([fixtureMesh])).documents);
  const cp = new ControlPlane({ source: store });
  cp.start();
  const apply = async (what: string, objects: object[], remove: MeshResource[] = []) => {
    const pass = new Promise<CompileReport>((resolve) => cp.once('compiled', resolve));
    const applied = store.apply(objects, { delete: remove.map(keyOf) });
    assert.deepEqual(
      applied.issues.filter((i) => i.severity === 'error'),
      [],
      `${what}: accepted by the store`,
    );
    assert.ok(applied.changes.length > 0, `${what}: changes the store`);
    assertLikeScratch(store, cp, what, await pass);
  };
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
