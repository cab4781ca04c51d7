/**
 * Kubernetes label selector semantics (`metav1.LabelSelectorAsSelector`), as App Mesh uses them for
 * mesh membership, pod ↔ virtual node matching and gateway route ↔ gateway matching (reference §a.0).
 */
import type { LabelSelector } from './schema/common.js';

/**
 * True if `selector` selects an object with `labels`. An absent (`undefined`/`null`) selector selects
 * nothing; a present selector with no requirements (`{}`) selects everything. `matchLabels` and every
 * `matchExpressions` requirement must all hold (In, NotIn, Exists, DoesNotExist).
 */
export function selectorMatches(
  selector: LabelSelector | undefined | null,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, req.key);
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || !values.includes(l[req.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(l[req.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** `gatewayRouteSelector` semantics (§a.6): nil or empty selects all gateway routes of the selected namespaces. */
export function optionalSelectorMatches(
  selector: LabelSelector | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return selectorMatches(selector ?? {}, labels);
}

/**
 * Finds, per namespace, the items whose label selector selects a set of labels, without testing every
 * selector: each selector is filed under one of its `matchLabels` pairs (or, without any, checked for
 * every lookup). Results keep insertion order. Nil selectors select nothing and are not filed.
 */
export class SelectorIndex<T> {
  readonly #byPair = new Map<string, { order: number; selector: LabelSelector; item: T }[]>();
  readonly #unkeyed = new Map<string, { order: number; selector: LabelSelector; item: T }[]>();
  #count = 0;

  /** Files `item` under `selector` in `namespace`. */
  add(namespace: string, selector: LabelSelector | undefined | null, item: T): void {
    if (!selector) return;
    const entry = { order: this.#count++, selector, item };
    const first = Object.entries(selector.matchLabels ?? {})[0];
    const map = first ? this.#byPair : this.#unkeyed;
    const key = first ? `${namespace}\u0000${first[0]}\u0000${first[1]}` : namespace;
    const list = map.get(key);
    if (list) list.push(entry);
    else map.set(key, [entry]);
  }

  /** Items in `namespace` whose selector selects `labels`, in insertion order. */
  match(namespace: string, labels: Readonly<Record<string, string>> | undefined): T[] {
    const candidates = [...(this.#unkeyed.get(namespace) ?? [])];
    for (const [k, v] of Object.entries(labels ?? {}))
      candidates.push(...(this.#byPair.get(`${namespace}\u0000${k}\u0000${v}`) ?? []));
    return candidates
      .filter((c) => selectorMatches(c.selector, labels))
      .sort((a, b) => a.order - b.order)
      .map((c) => c.item);
  }
}
