/**
 * One-shot validation of manifest files, as `trustmesh mesh validate` and `trustmesh up` need it: read,
 * parse and admit every object, then check them together, collecting every issue with its location.
 */
import type { MeshState, ValidationIssue } from '../model/index.js';
import { readManifests } from './manifests.js';
import { ResourceStore } from './store.js';

/** Result of {@link validateManifests}. */
export interface ManifestValidation {
  /** Every issue: YAML errors, rejected objects, pruning warnings, cross-object errors (file order, then line). */
  issues: ValidationIssue[];
  /** Number of errors among `issues`. */
  errorCount: number;
  /** The store holding the admitted objects (feed it to a watcher or the control plane to go on). */
  store: ResourceStore;
  /** The checked mesh state of the admitted objects. */
  state: MeshState;
  /** Files read. */
  files: string[];
}

/**
 * Validates manifest files/directories (see `readManifests`). Throws only if a given path does not
 * exist; everything wrong inside the files is an issue.
 */
export async function validateManifests(
  paths: readonly string[],
  options: { defaultNamespace?: string } = {},
): Promise<ManifestValidation> {
  const read = await readManifests(paths);
  const store = new ResourceStore({ parse: { defaultNamespace: options.defaultNamespace ?? 'default' } });
  const applied = store.apply(read.documents);
  const state = store.snapshot();
  const issues = [...read.issues, ...applied.issues, ...state.issues].sort(
    (a, b) => (a.file ?? '').localeCompare(b.file ?? '') || (a.line ?? 0) - (b.line ?? 0),
  );
  return {
    issues,
    errorCount: issues.filter((i) => i.severity === 'error').length,
    store,
    state,
    files: read.files,
  };
}
