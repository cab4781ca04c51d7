/**
 * Per-node snapshot cache: for each proxy node id, the resources of each xDS type with a version.
 *
 * A type's version is a digest of its encoded resources, so re-setting identical content keeps the
 * version and wakes no stream; only nodes whose content changed get pushes. Every resource is encoded
 * with the real Envoy protos when the snapshot is set: an unencodable resource throws and the node keeps
 * its previous snapshot.
 */
import { createHash } from 'node:crypto';
import { encodeAny, type AnyMessage, type JsonObject } from './codec.js';
import { ResourceEncodingError } from './errors.js';

/** Type URLs of the xDS resource types, in the order a server must push them (Envoy xDS "eventual consistency"). */
export const TypeUrl = {
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

/**
 * Push order CDS → EDS → LDS → RDS (→ SDS): a listener is pushed only after the clusters it names, per
 * the xDS protocol's "eventual consistency considerations".
 */
export const pushOrder: readonly string[] = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
  TypeUrl.Secret,
];

/** Types whose empty subscription means "all resources" (wildcard) in state-of-the-world xDS. */
export const wildcardTypes: ReadonlySet<string> = new Set([TypeUrl.Listener, TypeUrl.Cluster]);

/**
 * One resource of a snapshot: its name and encoded Any (`decodeAny` gives its proto3 JSON back). The
 * JSON tree itself is not kept: a thousand nodes' clusters and listeners as objects would make up most
 * of the control plane's heap, and every major GC would have to walk them.
 */
export interface SnapshotResource {
  readonly name: string;
  readonly any: AnyMessage;
  /**
   * `JSON.stringify(json)`: an unchanged resource reuses its encoding on the next snapshot. Absent for
   * a frozen resource (assembled from parts the compiler shares), which the codec encodes from its
   * parts' cached encodings instead.
   */
  readonly jsonText?: string;
}

/** The resources of one type for one node. `version` is a content digest (hex). */
export interface TypeSnapshot {
  readonly version: string;
  readonly resources: ReadonlyMap<string, SnapshotResource>;
}

/** A node's snapshot: type URL → resources of that type. */
export type Snapshot = ReadonlyMap<string, TypeSnapshot>;

/** Resources to set for a node, keyed by type URL; each resource carries its `"@type"`. */
export type ResourcesByType = Readonly<Record<string, readonly JsonObject[]>>;

/** Called with the type URLs whose version changed for the node. */
export type SnapshotListener = (changedTypeUrls: readonly string[]) => void;

/** Name of a resource: `cluster_name` for a ClusterLoadAssignment, `name` otherwise. */
export function resourceName(resource: JsonObject): string {
  const name = resource['@type'] === TypeUrl.ClusterLoadAssignment ? resource.cluster_name : resource.name;
  if (typeof name !== 'string' || name === '')
    throw new ResourceEncodingError('name', `resource of type ${String(resource['@type'])} has no name`);
  return name;
}

/**
 * Encodes and versions the resources of one type; throws {@link ResourceEncodingError} on a bad resource.
 * Resources identical (same JSON text) to one of `previous` reuse its encoding; frozen ones are
 * encoded from their parts' cached encodings (codec).
 */
export function buildTypeSnapshot(
  typeUrl: string,
  resources: readonly JsonObject[],
  previous?: TypeSnapshot,
): TypeSnapshot {
  const byName = new Map<string, SnapshotResource>();
  for (const json of resources) {
    if (json['@type'] !== typeUrl)
      throw new ResourceEncodingError(
        '@type',
        `resource "@type" ${String(json['@type'])} listed under ${typeUrl}`,
      );
    const name = resourceName(json);
    if (byName.has(name)) throw new ResourceEncodingError('name', `duplicate ${typeUrl} resource "${name}"`);
    const jsonText = Object.isFrozen(json) ? undefined : JSON.stringify(json);
    const before = previous?.resources.get(name);
    if (before && jsonText !== undefined && before.jsonText === jsonText) {
      byName.set(name, before);
      continue;
    }
    let any: AnyMessage;
    try {
      any = encodeAny(json, { verify: false });
    } catch (err) {
      if (err instanceof ResourceEncodingError)
        throw new ResourceEncodingError(`${name}.${err.path}`, err.message.replace(/^xds: [^:]*: /, ''), {
          cause: err,
        });
      throw err;
    }
    byName.set(name, jsonText === undefined ? { name, any } : { name, any, jsonText });
  }
  const hash = createHash('sha256');
  for (const name of [...byName.keys()].sort()) {
    hash.update(name).update('\0').update(byName.get(name)!.any.value).update('\0');
  }
  return { version: hash.digest('hex').slice(0, 16), resources: byName };
}

/**
 * Holds one snapshot per node id and notifies watchers of the node when a type's version changes.
 * Not persistent: a restarted control plane recompiles from its sources.
 */
export class SnapshotCache {
  readonly #snapshots = new Map<string, Map<string, TypeSnapshot>>();
  readonly #watchers = new Map<string, Set<SnapshotListener>>();

  /**
   * Replaces the node's resources with `resources` (types absent from the record become empty).
   * Encodes everything first: on {@link ResourceEncodingError} nothing changes. Returns the type URLs
   * whose version changed (empty when the content is identical) and notifies the node's watchers.
   */
  setSnapshot(nodeId: string, resources: ResourcesByType): string[] {
    const previous = this.#snapshots.get(nodeId);
    const next = new Map<string, TypeSnapshot>();
    for (const [typeUrl, list] of Object.entries(resources))
      next.set(typeUrl, buildTypeSnapshot(typeUrl, list, previous?.get(typeUrl)));
    const changed: string[] = [];
    for (const typeUrl of new Set([...next.keys(), ...(previous?.keys() ?? [])])) {
      let type = next.get(typeUrl);
      if (!type) {
        type = buildTypeSnapshot(typeUrl, []);
        next.set(typeUrl, type);
      }
      if (previous?.get(typeUrl)?.version !== type.version) changed.push(typeUrl);
    }
    this.#snapshots.set(nodeId, next);
    if (changed.length > 0) for (const w of this.#watchers.get(nodeId) ?? []) w(changed);
    return changed;
  }

  /** The node's current snapshot, or `undefined` if none was set. */
  getSnapshot(nodeId: string): Snapshot | undefined {
    return this.#snapshots.get(nodeId);
  }

  /** Drops the node's snapshot (its streams then get no further pushes until a new one is set). */
  clearSnapshot(nodeId: string): void {
    this.#snapshots.delete(nodeId);
  }

  /** Node ids that have a snapshot. */
  nodeIds(): string[] {
    return [...this.#snapshots.keys()];
  }

  /** Registers a watcher for the node's changes; returns the function that removes it. */
  watch(nodeId: string, listener: SnapshotListener): () => void {
    let set = this.#watchers.get(nodeId);
    if (!set) this.#watchers.set(nodeId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#watchers.delete(nodeId);
    };
  }
}
