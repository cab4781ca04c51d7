/**
 * ManifestWatcher: a valid edit is picked up live, an invalid edit or a YAML syntax error keeps the last
 * good objects, a removed document deletes its object, files that are not resources are ignored.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ManifestWatcher,
  ResourceStore,
  resourceKey,
  type ReloadReport,
} from '../../../src/mesh/sources/index.js';

const API = 'appmesh.k8s.aws/v1beta2';
const vnYaml = (name: string, port: number | string) => `apiVersion: ${API}
kind: VirtualNode
metadata:
  name: ${name}
  namespace: ns1
spec:
  podSelector: {matchLabels: {app: ${name}}}
  listeners:
    - portMapping: {port: ${port}, protocol: http}
  serviceDiscovery: {dns: {hostname: ${name}.ns1}}
`;
const key = (name: string) => resourceKey(API, 'VirtualNode', 'ns1', name);
const portOf = (store: ResourceStore, name: string) =>
  (store.get(key(name))?.resource as { spec: { listeners: { portMapping: { port: number } }[] } } | undefined)
    ?.spec.listeners[0]!.portMapping.port;

/** Resolves with the first reload report after which `done()` holds (reloads may come in bursts). */
function untilReload(w: ManifestWatcher, done: (r: ReloadReport) => boolean): Promise<ReloadReport> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      w.off('reload', onReload);
      reject(new Error('no matching reload within 10 s'));
    }, 10_000);
    const onReload = (r: ReloadReport) => {
      if (!done(r)) return;
      clearTimeout(timer);
      w.off('reload', onReload);
      resolve(r);
    };
    w.on('reload', onReload);
  });
}

describe('ManifestWatcher', () => {
  let dir: string;
  let store: ResourceStore;
  let watcher: ManifestWatcher;
  let initial: ReloadReport;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tm-mesh-watch-'));
    await writeFile(join(dir, 'blue.yaml'), vnYaml('blue', 8080));
    await writeFile(join(dir, 'green.yaml'), `${vnYaml('green', 8080)}---\n${vnYaml('red', 8080)}`);
    store = new ResourceStore();
    ({ watcher, report: initial } = await ManifestWatcher.start([dir], store, { debounceMs: 20 }));
  });
  after(async () => {
    await watcher?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the files before start resolves', () => {
    assert.deepEqual(initial.issues, []);
    assert.deepEqual(
      store.list('VirtualNode').map((s) => s.resource.metadata.name),
      ['blue', 'green', 'red'],
    );
  });

  it('picks up a valid edit live with a new resourceVersion', async () => {
    const before = store.get(key('blue'))!.resourceVersion;
    const changed = untilReload(watcher, () => portOf(store, 'blue') === 9090);
    await writeFile(join(dir, 'blue.yaml'), vnYaml('blue', 9090));
    await changed;
    assert.ok(store.get(key('blue'))!.resourceVersion > before);
  });

  it('an invalid edit is reported and the last good object stays', async () => {
    const reported = untilReload(watcher, (r) => r.issues.some((i) => i.code === 'TM_ERR_MESH_SCHEMA'));
    await writeFile(join(dir, 'blue.yaml'), vnYaml('blue', 0));
    const r = await reported;
    const e = r.issues.find((i) => i.code === 'TM_ERR_MESH_SCHEMA')!;
    assert.equal(e.path, 'spec.listeners[0].portMapping.port');
    assert.equal(e.line, 9);
    assert.equal(portOf(store, 'blue'), 9090);
  });

  it('a YAML syntax error keeps the file’s objects; fixing it applies the fix', async () => {
    const broken = untilReload(watcher, (r) => r.issues.some((i) => i.code === 'TM_ERR_MESH_YAML'));
    await writeFile(join(dir, 'green.yaml'), 'apiVersion: [oops\n');
    await broken;
    assert.ok(store.get(key('green')) && store.get(key('red')), 'objects of the broken file are kept');
    const fixed = untilReload(watcher, () => portOf(store, 'green') === 7070);
    await writeFile(join(dir, 'green.yaml'), `${vnYaml('green', 7070)}---\n${vnYaml('red', 8080)}`);
    await fixed;
  });

  it('a removed document deletes its object; a removed file deletes all of its objects', async () => {
    const gone = untilReload(watcher, () => store.get(key('red')) === undefined);
    await writeFile(join(dir, 'green.yaml'), vnYaml('green', 7070));
    await gone;
    assert.ok(store.get(key('green')));
    const fileGone = untilReload(watcher, () => store.get(key('green')) === undefined);
    await unlink(join(dir, 'green.yaml'));
    await fileGone;
    assert.ok(store.get(key('blue')));
  });

  it('images.yaml and other non-resource files are not read', async () => {
    const reloaded = untilReload(watcher, () => true);
    await writeFile(join(dir, 'images.yaml'), 'colorapp: {argv: [node, app.js]}\n');
    await writeFile(join(dir, 'notes.txt'), 'apiVersion: nonsense\n');
    const r = await reloaded;
    assert.deepEqual(r.apply.changes, []);
    assert.ok(!r.files.some((f) => f.endsWith('images.yaml') || f.endsWith('notes.txt')));
  });
});
