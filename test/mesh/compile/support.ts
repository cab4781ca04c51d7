/**
 * Test support for the compiler: loads manifest YAML into a real `ResourceStore` and returns the mesh
 * state, failing loudly if the fixture itself does not validate.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { MeshState } from '../../../src/mesh/model/index.js';
import { ResourceStore, parseManifestText, readManifests } from '../../../src/mesh/sources/index.js';

/** Absolute path of the realistic multi-router fixture mesh. */
export const fixtureMesh = fileURLToPath(new URL('./fixtures/mesh.yaml', import.meta.url));

/** Loads manifest files into a store; asserts there is no error; returns the mesh state. */
export async function loadMesh(paths: string[] = [fixtureMesh]): Promise<MeshState> {
  const read = await readManifests(paths);
  const store = new ResourceStore();
  const applied = store.apply(read.documents);
  const errors = [...read.issues, ...applied.issues].filter((i) => i.severity === 'error');
  assert.deepEqual(errors, [], 'fixture must validate');
  const state = store.snapshot();
  assert.deepEqual(state.errors, [], 'fixture must have no cross-object errors');
  return state;
}

/** Loads YAML text (one or more documents) into a fresh store and returns the mesh state. */
export function meshFromYaml(yaml: string): MeshState {
  const store = new ResourceStore();
  const parsed = parseManifestText(yaml, 'inline.yaml');
  store.apply(parsed.documents);
  return store.snapshot();
}

/** Multi-document YAML of `Mesh m` (selecting every namespace) followed by `objects`. */
export function meshYaml(...objects: string[]): string {
  return [
    appMeshObject('Mesh', '{ name: m }', 'spec: { namespaceSelector: {} }'),
    ...objects.map((o) => o.trim()),
  ].join('\n---\n');
}

/** An `appmesh.k8s.aws/v1beta2` object of `kind` in namespace `ns`; `spec` is YAML at the top level. */
function appMeshObject(kind: string, metadata: string, spec: string): string {
  return `apiVersion: appmesh.k8s.aws/v1beta2\nkind: ${kind}\nmetadata: ${metadata}\n${spec.trim()}`;
}

/** A namespaced (`ns`) App Mesh object named `name`. */
export function nsObject(kind: string, name: string, spec: string): string {
  return appMeshObject(kind, `{ name: ${name}, namespace: ns }`, spec);
}

/** `VirtualService ns/<name>` provided by a virtual node or a virtual router (by name, in `ns`). */
export function virtualServiceYaml(
  name: string,
  provider: { virtualNode: string } | { virtualRouter: string },
): string {
  const spec =
    'virtualNode' in provider
      ? `{ provider: { virtualNode: { virtualNodeRef: { name: ${provider.virtualNode} } } } }`
      : `{ provider: { virtualRouter: { virtualRouterRef: { name: ${provider.virtualRouter} } } } }`;
  return nsObject('VirtualService', name, `spec: ${spec}`);
}
