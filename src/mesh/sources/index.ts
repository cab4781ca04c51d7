/**
 * `mesh/sources`: where mesh resources come from. Manifest files (multi-document YAML, watched for
 * changes) and the in-memory {@link ResourceStore} with resourceVersions and change events that the
 * compiler and the local runtime subscribe to (a Kubernetes informer can feed the same store later).
 */
export {
  readManifests,
  parseManifestText,
  expandManifestPaths,
  isManifestFile,
  NON_RESOURCE_FILES,
} from './manifests.js';
export type { ManifestDocument, ManifestReadResult } from './manifests.js';
export { ResourceStore, resourceKey, keyOf, rawKeyOf } from './store.js';
export type {
  ResourceKey,
  StoredResource,
  StoreChange,
  StoreChangeEvent,
  ApplyResult,
  ResourceStoreOptions,
  ResourceStoreEvents,
} from './store.js';
export { ManifestWatcher, loadManifestsInto } from './watch.js';
export type { ReloadReport, ManifestWatcherOptions, ManifestWatcherEvents } from './watch.js';
export { validateManifests } from './validate.js';
export type { ManifestValidation } from './validate.js';
