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
