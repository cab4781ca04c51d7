/**
 * Compiled outbound routes of a virtual router, shared by every node that calls it.
 *
 * A virtual router's Envoy routes (order, matches, retry policies, timeouts, weighted cluster names)
 * depend on the router and on the virtual nodes its targets resolve to, never on the calling node: the
 * caller's client policy shapes the clusters, not the routes. So the first node to compile a router
 * records the routes together with every target it resolved and every issue it raised; the next node
 * replays the record — resolving the same targets (which registers the same dependency reads and
 * builds its own clusters with its own policy) — and takes the same route objects, unless a target now
 * resolves to another object or its cluster cannot be built for this caller, in which case it compiles
 * the routes itself.
 *
 * Records are keyed by the router object: the mesh state keeps the object of an unchanged router
 * across edits and makes a new one on change, so an edited router is recompiled once and the memo of
 * the old object goes with it (WeakMap).
 */
import type { Listener as VnListener, VirtualNode, VirtualRouter } from '../model/index.js';
import type { JsonObject } from '../xds/index.js';
import type { CompileIssue } from './errors.js';

/** One weighted target as compiled: the reference, what it resolved to, and its cluster. */
export interface RecordedTarget {
  /** The route's weighted target (the reference resolved again on replay). */
  ref: object;
  /** The virtual node it resolved to (`undefined`: it did not resolve and an issue was raised). */
  vn: VirtualNode | undefined;
  /** The target listener and its egress cluster name, when the target had a matching listener. */
  cluster?: { listener: VnListener; name: string };
  /** The cluster could not be built for the recording caller (its TLS): such routes are not kept. */
  refused?: true;
}

/** The routes of one router listener (`port`, `protocol`) in one mesh, and how they were compiled. */
export interface RouterRoutesRecord {
  /** Envoy routes, deep-frozen: every caller's route configuration shares these objects. */
  routes: readonly JsonObject[];
  /** Every weighted target, in the order the compiler resolved them. */
  targets: readonly RecordedTarget[];
  /**
   * Issues of the routes themselves (the replaying node raises them as its own), each with `after`: how
   * many of `targets` had been resolved when it was raised, so a replay interleaves them with the
   * issues of the clusters it builds as the compile did.
   */
  issues: readonly (Required<Pick<CompileIssue, 'code' | 'message' | 'object' | 'path'>> & {
    after: number;
  })[];
}

/**
 * Router → compiled routes per (mesh, port, protocol). Hold one per control plane and pass it in
 * `CompileOptions.memo`; without one, every node compiles every router itself.
 */
export class RouteMemo {
  readonly #records = new WeakMap<VirtualRouter, Map<string, RouterRoutesRecord>>();

  /** The record for this router listener, if one was stored. */
  get(router: VirtualRouter, key: string): RouterRoutesRecord | undefined {
    return this.#records.get(router)?.get(key);
  }

  /** Stores a record (its routes are deep-frozen here so no caller can change another's config). */
  set(router: VirtualRouter, key: string, record: RouterRoutesRecord): void {
    deepFreeze(record.routes);
    let byKey = this.#records.get(router);
    if (!byKey) this.#records.set(router, (byKey = new Map()));
    byKey.set(key, record);
  }
}

/** Freezes `value` and everything under it that is not frozen yet (a frozen object counts as done). */
export function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}
