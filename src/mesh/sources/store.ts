/**
 * `ResourceStore`: the in-memory object store the mesh's sources feed (manifest files today, a
 * Kubernetes informer later) and the compiler and local runtime subscribe to.
 *
 * Semantics follow the Kubernetes API server where it matters: objects are keyed by
 * (apiVersion/kind, namespace, name); every write bumps a store-wide revision that becomes the object's
 * `resourceVersion`; an object that fails validation or an update rule is rejected and **never replaces
 * the last good version**; re-applying identical content is not a write. Each `apply`/`delete` call
 * that changes something emits one `change` event carrying all its changes.
 */
import { EventEmitter } from 'node:events';
import {
  buildMeshState,
  checkUpdate,
  issue,
  locateIssue,
  lookupKind,
  parseResource,
  type MeshResource,
  type MeshState,
  type ParseOptions,
  type ResourceOrigin,
  type SourcedResource,
  type ValidationIssue,
} from '../model/index.js';
import type { ManifestDocument } from './manifests.js';

/** A store key: `<apiVersion>/<kind>/<namespace>/<name>` (empty namespace for cluster-scoped kinds). */
export type ResourceKey = string;

/** Builds the {@link ResourceKey} of an object identity. */
export function resourceKey(
  apiVersion: string,
  kind: string,
  namespace: string | undefined,
  name: string,
): ResourceKey {
  return `${apiVersion}/${kind}/${namespace ?? ''}/${name}`;
}

/** The key of a parsed resource. */
export function keyOf(r: MeshResource): ResourceKey {
  return resourceKey(r.apiVersion, r.kind, r.metadata.namespace, r.metadata.name);
}

/**
 * The key a raw manifest object would get (namespace defaulted as parsing does), or undefined if it
 * lacks apiVersion, kind or metadata.name.
 */
export function rawKeyOf(object: unknown, defaultNamespace = 'default'): ResourceKey | undefined {
  const o = object as {
    apiVersion?: unknown;
    kind?: unknown;
    metadata?: { name?: unknown; namespace?: unknown };
  } | null;
  if (typeof o?.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string')
    return undefined;
  const info = lookupKind(o.apiVersion, o.kind);
  const ns =
    info && !info.namespaced
      ? undefined
      : typeof o.metadata.namespace === 'string'
        ? o.metadata.namespace
        : defaultNamespace;
  return resourceKey(o.apiVersion, o.kind, ns, o.metadata.name);
}

/** An object held by the store. `resourceVersion` is also written to `metadata.resourceVersion` (as a string). */
export interface StoredResource extends SourcedResource {
  key: ResourceKey;
  resourceVersion: number;
}

/** One change of a `change` event. */
export interface StoreChange {
  type: 'added' | 'modified' | 'deleted';
  key: ResourceKey;
  /** The new object (added/modified) or the removed one (deleted). */
  resource: MeshResource;
  /** The replaced object (modified only). */
  previous?: MeshResource;
  /** Store revision of this change. */
  resourceVersion: number;
}

/** Payload of the `change` event: every change of one `apply`/`delete` call, in order. */
export interface StoreChangeEvent {
  /** Store revision after the call. */
  revision: number;
  changes: StoreChange[];
}

/** Result of {@link ResourceStore.apply}. */
export interface ApplyResult {
  changes: StoreChange[];
  /** Errors (rejected objects) and warnings (pruned fields, ignored kinds), located by origin. */
  issues: ValidationIssue[];
  /** Keys of objects whose submitted version was rejected (the last good version, if any, stays). */
  rejected: ResourceKey[];
}

/** Options of {@link ResourceStore}. */
export interface ResourceStoreOptions {
  /** Passed to `parseResource` (e.g. `defaultNamespace`). */
  parse?: ParseOptions;
}

/** Events of {@link ResourceStore}. */
export interface ResourceStoreEvents {
  change: [StoreChangeEvent];
}

/** The in-memory resource store; see the module doc for its semantics. */
export class ResourceStore extends EventEmitter<ResourceStoreEvents> {
  #revision = 0;
  readonly #objects = new Map<ResourceKey, StoredResource>();
  /** Canonical JSON of each stored object, to tell a real change from a re-apply of the same content. */
  readonly #contents = new Map<ResourceKey, string>();
  /** Objects sorted by key and the last snapshot, both dropped on every write. */
  #sorted: StoredResource[] | undefined;
  #snapshot: MeshState | undefined;
  /** The last snapshot built, whose unchanged parts the next build reuses. */
  #lastSnapshot: MeshState | undefined;
  readonly #rejections = new Map<ResourceKey, ValidationIssue[]>();
  readonly #parse: ParseOptions;

  constructor(options: ResourceStoreOptions = {}) {
    super();
    this.#parse = options.parse ?? {};
  }

  /** The store-wide revision (0 before the first write). */
  get revision(): number {
    return this.#revision;
  }

  /**
   * Validates and stores objects (raw manifest objects, or {@link ManifestDocument}s to keep their
   * origin), then deletes `options.delete` keys, emitting one `change` event if anything changed.
   * Invalid objects and forbidden updates (immutable fields) are rejected and reported; the stored
   * version, if any, stays. A key given twice in one call is an error for the second occurrence.
   */
  apply(
    items: readonly (unknown | ManifestDocument)[],
    options: { delete?: Iterable<ResourceKey> } = {},
  ): ApplyResult {
    const result: ApplyResult = { changes: [], issues: [], rejected: [] };
    const seen = new Map<ResourceKey, ResourceOrigin | undefined>();
    for (const item of items) {
      const { object, origin } = isDocument(item) ? item : { object: item, origin: undefined };
      const located = (list: ValidationIssue[]) => list.map((i) => locateIssue(i, origin));
      const parsed = parseResource(object, this.#parse);
      result.issues.push(...located(parsed.warnings));
      if (parsed.outcome === 'ignored') continue;
      const key =
        parsed.outcome === 'valid' ? keyOf(parsed.resource) : rawKeyOf(object, this.#parse.defaultNamespace);
      if (key !== undefined && seen.has(key)) {
        const first = seen.get(key);
        const where = first?.file
          ? ` (first at ${first.file}${lineOf(first) ? `:${lineOf(first)}` : ''})`
          : '';
        result.issues.push(
          ...located([
            issue(
              'error',
              'TM_ERR_MESH_DUPLICATE',
              ['metadata', 'name'],
              `duplicate object: defined more than once${where}`,
              object as never,
            ),
          ]),
        );
        continue;
      }
      if (key !== undefined) seen.set(key, origin);
      if (parsed.outcome === 'invalid') {
        this.#reject(key, located(parsed.errors), result);
        continue;
      }
      const resource = parsed.resource;
      const previous = this.#objects.get(key!);
      if (previous) {
        const update = checkUpdate(previous.resource, resource);
        if (update.length > 0) {
          this.#reject(key, located(update), result);
          continue;
        }
      }
      this.#rejections.delete(key!);
      const content = JSON.stringify(resource);
      if (previous && this.#contents.get(key!) === content) {
        if (origin) {
          // Same object, maybe on other lines now: later issues must point at the new place.
          previous.origin = origin;
          this.#snapshot = undefined;
        }
        continue;
      }
      const resourceVersion = ++this.#revision;
      resource.metadata.resourceVersion = String(resourceVersion);
      const stored: StoredResource = { key: key!, resource, resourceVersion, ...(origin ? { origin } : {}) };
      this.#objects.set(key!, stored);
      this.#contents.set(key!, content);
      this.#written();
      result.changes.push({
        type: previous ? 'modified' : 'added',
        key: key!,
        resource,
        ...(previous ? { previous: previous.resource } : {}),
        resourceVersion,
      });
    }
    for (const key of options.delete ?? []) {
      const change = this.#remove(key);
      if (change) result.changes.push(change);
    }
    this.#emit(result.changes);
    return result;
  }

  /** Deletes objects by key; emits one `change` event if any existed. Returns the deletions. */
  delete(keys: ResourceKey | Iterable<ResourceKey>): StoreChange[] {
    const changes: StoreChange[] = [];
    for (const key of typeof keys === 'string' ? [keys] : keys) {
      const change = this.#remove(key);
      if (change) changes.push(change);
    }
    this.#emit(changes);
    return changes;
  }

  /** The stored object under `key` (shared: treat as read-only). */
  get(key: ResourceKey): StoredResource | undefined {
    return this.#objects.get(key);
  }

  /** Stored objects, optionally of one kind, ordered by key. */
  list(kind?: string): StoredResource[] {
    this.#sorted ??= [...this.#objects.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return this.#sorted.filter((o) => kind === undefined || o.resource.kind === kind);
  }

  /** Issues of the latest rejected submission of each object still rejected (cleared by a good version or a delete). */
  rejections(): ValidationIssue[] {
    return [...this.#rejections.values()].flat();
  }

  /**
   * The mesh state (cross-object rules) of the current contents; see `buildMeshState`. Built once per
   * revision: callers at the same revision share one (read-only) state. Each build reuses what the edits
   * since the last one left unchanged.
   */
  snapshot(): MeshState {
    if (!this.#snapshot) {
      this.#snapshot = buildMeshState(this.list(), this.#lastSnapshot);
      this.#lastSnapshot = this.#snapshot;
    }
    return this.#snapshot;
  }

  #written(): void {
    this.#sorted = undefined;
    this.#snapshot = undefined;
  }

  #reject(key: ResourceKey | undefined, issues: ValidationIssue[], result: ApplyResult): void {
    result.issues.push(...issues);
    if (key === undefined) return;
    result.rejected.push(key);
    this.#rejections.set(key, issues);
  }

  #remove(key: ResourceKey): StoreChange | undefined {
    this.#rejections.delete(key);
    const o = this.#objects.get(key);
    if (!o) return undefined;
    this.#objects.delete(key);
    this.#contents.delete(key);
    this.#written();
    return { type: 'deleted', key, resource: o.resource, resourceVersion: ++this.#revision };
  }

  #emit(changes: StoreChange[]): void {
    if (changes.length > 0) this.emit('change', { revision: this.#revision, changes });
  }
}

function isDocument(item: unknown): item is ManifestDocument {
  return (
    typeof item === 'object' &&
    item !== null &&
    'object' in item &&
    'origin' in item &&
    !('apiVersion' in item)
  );
}

function lineOf(origin: ResourceOrigin): number | undefined {
  return origin.locate?.([]);
}
