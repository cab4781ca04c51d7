/**
 * ManifestWatcher: a valid edit is picked up live (files replaced by rename as editors save, files
 * written in place, files in directories created later), an invalid edit or a YAML syntax error
 * keeps the last good objects, a removed document deletes its object, files that are not resources
 * are ignored.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
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

/** Where replacement files are written before they are renamed into the watched dir. */
let staging: string;
let staged = 0;

/**
 * Replaces `file` in one step, as editors save: a plain writeFile truncates first, and a debounced
 * reload that lands between the truncation and the write would see an empty file (no objects).
 */
async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = join(staging, `${++staged}.yaml`);
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/** Resolves with the first reload report after which `done()` holds (reloads may come in bursts). */
function untilReload(w: ManifestWatcher, done: (r: ReloadReport) => boolean): Promise<ReloadReport> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      w.off('reload', onReload);
      reject(new Error('no matching reload within 30 s'));
    }, 30_000);
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
    // Outside the watched dir, on the same file system (rename must not cross devices).
    staging = await mkdtemp(join(tmpdir(), 'tm-mesh-watch-staging-'));
    await writeFile(join(dir, 'blue.yaml'), vnYaml('blue', 8080));
    await writeFile(join(dir, 'green.yaml'), `${vnYaml('green', 8080)}---\n${vnYaml('red', 8080)}`);
    store = new ResourceStore();
    ({ watcher, report: initial } = await ManifestWatcher.start([dir], store, { debounceMs: 20 }));
  });
  after(async () => {
    await watcher?.close();
    await rm(dir, { recursive: true, force: true });
    await rm(staging, { recursive: true, force: true });
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
    await replaceFile(join(dir, 'blue.yaml'), vnYaml('blue', 9090));
    await changed;
    assert.ok(store.get(key('blue'))!.resourceVersion > before);
  });

  it('an invalid edit is reported and the last good object stays', async () => {
    const reported = untilReload(watcher, (r) => r.issues.some((i) => i.code === 'TM_ERR_MESH_SCHEMA'));
    await replaceFile(join(dir, 'blue.yaml'), vnYaml('blue', 0));
    const r = await reported;
    const e = r.issues.find((i) => i.code === 'TM_ERR_MESH_SCHEMA')!;
    assert.equal(e.path, 'spec.listeners[0].portMapping.port');
    assert.equal(e.line, 9);
    assert.equal(portOf(store, 'blue'), 9090);
  });

  it('a YAML syntax error keeps the file’s objects; fixing it applies the fix', async () => {
    const broken = untilReload(watcher, (r) => r.issues.some((i) => i.code === 'TM_ERR_MESH_YAML'));
    await replaceFile(join(dir, 'green.yaml'), 'apiVersion: [oops\n');
    await broken;
    assert.ok(store.get(key('green')) && store.get(key('red')), 'objects of the broken file are kept');
    const fixed = untilReload(watcher, () => portOf(store, 'green') === 7070);
    await replaceFile(join(dir, 'green.yaml'), `${vnYaml('green', 7070)}---\n${vnYaml('red', 8080)}`);
    await fixed;
  });

  it('keeps following a file replaced by rename, and a file written in place', async () => {
    for (const port of [7001, 7002]) {
      const replaced = untilReload(watcher, () => portOf(store, 'blue') === port);
      await replaceFile(join(dir, 'blue.yaml'), vnYaml('blue', port));
      await replaced;
    }
    const written = untilReload(watcher, () => portOf(store, 'blue') === 7003);
    await writeFile(join(dir, 'blue.yaml'), vnYaml('blue', 7003));
    await written;
  });

  it('watches a directory created after start', async () => {
    const created = untilReload(watcher, () => portOf(store, 'nested') === 8080);
    await mkdir(join(dir, 'more'));
    await replaceFile(join(dir, 'more', 'nested.yaml'), vnYaml('nested', 8080));
    await created;
    const edited = untilReload(watcher, () => portOf(store, 'nested') === 8081);
    await replaceFile(join(dir, 'more', 'nested.yaml'), vnYaml('nested', 8081));
    await edited;
  });

  it('a removed document deletes its object; a removed file deletes all of its objects', async () => {
    const gone = untilReload(watcher, () => store.get(key('red')) === undefined);
    await replaceFile(join(dir, 'green.yaml'), vnYaml('green', 7070));
    await gone;
    assert.ok(store.get(key('green')));
    const fileGone = untilReload(watcher, () => store.get(key('green')) === undefined);
    await unlink(join(dir, 'green.yaml'));
    await fileGone;
    assert.ok(store.get(key('blue')));
  });

  it('images.yaml and other non-resource files are not read', async () => {
    const reloaded = untilReload(watcher, () => true);
    await replaceFile(join(dir, 'images.yaml'), 'colorapp: {argv: [node, app.js]}\n');
    await replaceFile(join(dir, 'notes.txt'), 'apiVersion: nonsense\n');
    const r = await reloaded;
    assert.deepEqual(r.apply.changes, []);
    assert.ok(!r.files.some((f) => f.endsWith('images.yaml') || f.endsWith('notes.txt')));
  });
});
