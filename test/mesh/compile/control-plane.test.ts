/**
 * ControlPlane over a real ResourceStore: an edit recompiles only the nodes that read the edited
 * objects, only nodes whose resources changed get new versions, namespace/mesh edits recompile all,
 * deleted nodes are dropped, and a rejected edit changes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlPlane, type CompileReport } from '../../../src/mesh/compile/index.js';
import { ResourceStore, readManifests } from '../../../src/mesh/sources/index.js';
import type { VirtualRouter } from '../../../src/mesh/model/index.js';
import { fixtureMesh } from './support.js';

async function setup(): Promise<{ store: ResourceStore; cp: ControlPlane }> {
  const store = new ResourceStore();
  store.apply((await readManifests([fixtureMesh])).documents);
  const cp = new ControlPlane({ source: store });
  const first = cp.start();
  assert.equal(first.nodes.length, 8);
  assert.equal(first.changedNodes.length, 8);
  return { store, cp };
}

const next = (cp: ControlPlane) => new Promise<CompileReport>((resolve) => cp.once('compiled', resolve));

function router(store: ResourceStore, name: string): VirtualRouter {
  return structuredClone(
    store.list('VirtualRouter').find((r) => r.resource.metadata.name === name)!.resource,
  ) as VirtualRouter;
}

test('a router edit recompiles its clients only; only they get new versions', async () => {
  const { store, cp } = await setup();
  try {
    const vr = router(store, 'catalog-router');
    vr.spec.routes![1]!.grpcRoute!.action.weightedTargets[0]!.weight = 50;
    const before = cp.cache.getSnapshot('mesh/shop/virtualNode/blue_shop');
    const pass = next(cp);
    store.apply([vr]);
    const r = await pass;
    assert.deepEqual(r.compiledNodes, ['mesh/shop/virtualNode/front_shop']);
    assert.deepEqual(r.changedNodes, ['mesh/shop/virtualNode/front_shop']);
    assert.equal(cp.cache.getSnapshot('mesh/shop/virtualNode/blue_shop'), before);
  } finally {
    cp.close();
  }
});

test('a virtual node edit reaches the node itself and every client of it', async () => {
  const { store, cp } = await setup();
  try {
    const blue = structuredClone(
      store.list('VirtualNode').find((r) => r.resource.metadata.name === 'blue')!.resource,
    );
    const spec = (
      blue as unknown as { spec: { listeners: { outlierDetection?: { maxServerErrors: number } }[] } }
    ).spec;
    spec.listeners[0]!.outlierDetection!.maxServerErrors = 9;
    const pass = next(cp);
    store.apply([blue]);
    const r = await pass;
    assert.deepEqual(r.compiledNodes.sort(), [
      'mesh/shop/virtualGateway/ingress-gw_shop',
      'mesh/shop/virtualNode/blue_shop',
      'mesh/shop/virtualNode/front_shop',
    ]);
    // blue's own resources do not show its outlier detection (clients apply it): unchanged.
    assert.deepEqual(r.changedNodes.sort(), [
      'mesh/shop/virtualGateway/ingress-gw_shop',
      'mesh/shop/virtualNode/front_shop',
    ]);
  } finally {
    cp.close();
  }
});

test('a namespace edit recompiles everything; a deleted virtual node is dropped; a rejected edit changes nothing', async () => {
  const { store, cp } = await setup();
  try {
    const nsKey = store.list('Namespace')[0]!;
    const ns = structuredClone(nsKey.resource);
    ns.metadata.labels = { ...ns.metadata.labels, extra: 'x' };
    let pass = next(cp);
    store.apply([ns]);
    assert.equal((await pass).compiledNodes.length, 8);

    const ledger = store.list('VirtualNode').find((r) => r.resource.metadata.name === 'ledger')!;
    pass = next(cp);
    store.delete(ledger.key);
    const r = await pass;
    assert.deepEqual(r.removedNodes, ['mesh/shop/virtualNode/ledger_shop']);
    assert.equal(cp.cache.getSnapshot('mesh/shop/virtualNode/ledger_shop'), undefined);
    assert.ok(
      r.compileIssues.some(
        (i) => i.nodeId === 'mesh/shop/virtualNode/front_shop' && /ledger/.test(i.message),
      ),
    );

    const bad = router(store, 'color-router');
    bad.spec.routes![0]!.httpRoute!.action.weightedTargets[0]!.weight = 500;
    const version = cp.cache.getSnapshot('mesh/shop/virtualNode/front_shop')!;
    assert.equal(store.apply([bad]).rejected.length, 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(cp.cache.getSnapshot('mesh/shop/virtualNode/front_shop'), version);
  } finally {
    cp.close();
  }
});
