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
