/**
 * ResourceStore semantics: keys, resourceVersion increments, change events, an invalid object never
 * replacing the last good one, immutable-field updates rejected, deletes, duplicates in one apply.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ResourceStore,
  parseManifestText,
  resourceKey,
  type StoreChangeEvent,
} from '../../../src/mesh/sources/index.js';

const API = 'appmesh.k8s.aws/v1beta2';
const NS = 'ns1';
const node = (name: string, port = 8080, extra: Record<string, unknown> = {}) => ({
  apiVersion: API,
  kind: 'VirtualNode',
  metadata: { name, namespace: NS },
  spec: {
    podSelector: { matchLabels: { app: name } },
    listeners: [{ portMapping: { port, protocol: 'http' } }],
    serviceDiscovery: { dns: { hostname: `${name}.${NS}` } },
    ...extra,
  },
});
const key = (name: string) => resourceKey(API, 'VirtualNode', NS, name);

function recorder(store: ResourceStore): StoreChangeEvent[] {
  const events: StoreChangeEvent[] = [];
  store.on('change', (e) => events.push(e));
  return events;
}

describe('ResourceStore', () => {
  it('stores valid objects under (apiVersion/kind, namespace, name) with increasing resourceVersions', () => {
    const store = new ResourceStore();
    const events = recorder(store);
    const r = store.apply([
      node('blue'),
      node('green'),
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
    ]);
    assert.deepEqual(r.issues, []);
    assert.deepEqual(
      r.changes.map((c) => [c.type, c.key, c.resourceVersion]),
      [
        ['added', key('blue'), 1],
        ['added', key('green'), 2],
        ['added', 'v1/Namespace//ns1', 3],
      ],
    );
    assert.equal(store.revision, 3);
    assert.equal(store.get(key('green'))?.resourceVersion, 2);
    assert.equal(store.get(key('green'))?.resource.metadata.resourceVersion, '2');
    assert.equal(events.length, 1, 'one change event per apply');
    assert.equal(events[0]!.revision, 3);
    assert.deepEqual(
      store.list('VirtualNode').map((s) => s.resource.metadata.name),
      ['blue', 'green'],
    );
  });

  it('a modification bumps resourceVersion and carries the previous object; identical content is no write', () => {
    const store = new ResourceStore();
    store.apply([node('blue')]);
    const events = recorder(store);
    assert.deepEqual(store.apply([node('blue')]).changes, []);
    assert.equal(events.length, 0);
    const r = store.apply([node('blue', 9090)]);
    assert.equal(r.changes[0]!.type, 'modified');
    assert.equal(r.changes[0]!.resourceVersion, 2);
    assert.equal(
      (r.changes[0]!.previous as { spec: { listeners: { portMapping: { port: number } }[] } }).spec
        .listeners[0]!.portMapping.port,
      8080,
    );
    assert.equal(events.length, 1);
  });

  it('an invalid edit is rejected and the last good version keeps serving', () => {
    const store = new ResourceStore();
    store.apply([node('blue')]);
    const events = recorder(store);
    const r = store.apply([node('blue', 0)]);
    assert.deepEqual(r.changes, []);
    assert.deepEqual(r.rejected, [key('blue')]);
    assert.equal(r.issues[0]!.path, 'spec.listeners[0].portMapping.port');
    assert.equal(events.length, 0);
    const kept = store.get(key('blue'))!;
    assert.equal(kept.resourceVersion, 1);
    assert.equal(
      (kept.resource as { spec: { listeners: { portMapping: { port: number } }[] } }).spec.listeners[0]!
        .portMapping.port,
      8080,
    );
    assert.equal(store.rejections().length, 1);
    store.apply([node('blue', 9090)]);
    assert.equal(store.rejections().length, 0, 'a good version clears the rejection');
    assert.equal(store.get(key('blue'))!.resourceVersion, 2);
  });

  it('an invalid new object is not stored', () => {
    const store = new ResourceStore();
    const r = store.apply([node('blue', 70000)]);
    assert.equal(store.get(key('blue')), undefined);
    assert.equal(r.rejected[0], key('blue'));
    assert.equal(store.revision, 0);
  });

  it('an update changing an immutable field (awsName) is rejected', () => {
    const store = new ResourceStore();
    store.apply([node('blue')]);
    const r = store.apply([node('blue', 8080, { awsName: 'renamed' })]);
    assert.equal(r.issues[0]!.code, 'TM_ERR_MESH_IMMUTABLE');
    assert.equal(
      (store.get(key('blue'))!.resource as { spec: { awsName: string } }).spec.awsName,
      'blue_ns1',
    );
  });

  it('delete removes objects with one event and a new revision; unknown keys are no-ops', () => {
    const store = new ResourceStore();
    store.apply([node('blue'), node('green')]);
    const events = recorder(store);
    const changes = store.delete([key('blue'), key('nope')]);
    assert.deepEqual(
      changes.map((c) => [c.type, c.key, c.resourceVersion]),
      [['deleted', key('blue'), 3]],
    );
    assert.equal(events.length, 1);
    assert.equal(store.get(key('blue')), undefined);
    assert.deepEqual(store.delete(key('nope')), []);
    assert.equal(events.length, 1);
  });

  it('apply with delete makes one event for both', () => {
    const store = new ResourceStore();
    store.apply([node('blue')]);
    const events = recorder(store);
    store.apply([node('green')], { delete: [key('blue')] });
    assert.equal(events.length, 1);
    assert.deepEqual(
      events[0]!.changes.map((c) => c.type),
      ['added', 'deleted'],
    );
  });

  it('the same object twice in one apply: the second is an error located at its document', () => {
    const text = `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n`;
    const store = new ResourceStore();
    const r = store.apply(parseManifestText(text, 'dup.yaml').documents);
    assert.equal(r.changes.length, 1);
    const [e] = r.issues;
    assert.equal(e!.code, 'TM_ERR_MESH_DUPLICATE');
    assert.equal(e!.file, 'dup.yaml');
    assert.equal(e!.documentIndex, 1);
    assert.equal(e!.line, 9);
    assert.match(e!.rule, /first at dup\.yaml:1/);
  });

  it('issues carry file, document index and line from manifest documents; ignored kinds warn', () => {
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: ${API}\nkind: VirtualNode\nmetadata:\n  name: blue\n  namespace: ns1\nspec:\n  listeners:\n    - portMapping: {port: 8080, protocol: http}\n`;
    const store = new ResourceStore();
    const r = store.apply(parseManifestText(text, 'vn.yaml').documents);
    const err = r.issues.find((i) => i.severity === 'error')!;
    assert.deepEqual(
      [err.file, err.documentIndex, err.line, err.code],
      ['vn.yaml', 1, 10, 'TM_ERR_MESH_SERVICE_DISCOVERY'],
    );
    const warn = r.issues.find((i) => i.severity === 'warning')!;
    assert.deepEqual([warn.code, warn.line], ['TM_WARN_MESH_IGNORED', 1]);
  });

  it('snapshot() checks the stored objects together (mesh membership)', () => {
    const store = new ResourceStore();
    store.apply([node('blue')]);
    assert.equal(store.snapshot().issues[0]!.code, 'TM_ERR_MESH_MEMBERSHIP');
    store.apply([
      { apiVersion: API, kind: 'Mesh', metadata: { name: 'm' }, spec: { namespaceSelector: {} } },
    ]);
    const state = store.snapshot();
    assert.deepEqual(state.issues, []);
    assert.equal(state.get('VirtualNode', NS, 'blue')?.spec.meshRef?.name, 'm');
  });
});

describe('ResourceStore.snapshot', () => {
  it('is built once per revision and rebuilt after a change', () => {
    const store = new ResourceStore();
    store.apply([
      { apiVersion: API, kind: 'Mesh', metadata: { name: 'm' }, spec: { namespaceSelector: {} } },
      node('blue'),
    ]);
    const first = store.snapshot();
    assert.equal(store.snapshot(), first);
    store.apply([node('blue')]);
    assert.equal(store.snapshot(), first, 'identical content is not a change');
    store.apply([node('green')]);
    const second = store.snapshot();
    assert.notEqual(second, first);
    assert.ok(second.get('VirtualNode', NS, 'green'));
  });
});
