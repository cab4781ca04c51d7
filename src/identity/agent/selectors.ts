/**
 * Selectors (`type:value`, SPIRE `Selector`) and the entry-matching rule: an entry matches a caller
 * when the entry's selectors are a subset of the caller's (reference spiffe.md §g.1).
 */

/** One selector. `type` never contains `:`; the value may (`k8s`, `pod-label:app:web`). */
export interface Selector {
  type: string;
  value: string;
}

/** Canonical string form `type:value` (the form entries are created with on the CLI). */
export function selectorString(s: Selector): string {
  return `${s.type}:${s.value}`;
}

/** Parses `type:value`, splitting at the first colon. Throws on a missing type or value. */
export function parseSelector(s: string): Selector {
  const i = s.indexOf(':');
  if (i <= 0 || i === s.length - 1) throw new Error(`selector ${JSON.stringify(s)}: expected type:value`);
  return { type: s.slice(0, i), value: s.slice(i + 1) };
}

/** True when every selector of `entry` is in `caller` (a set of `type:value` strings). */
export function selectorsMatch(entry: readonly Selector[], caller: ReadonlySet<string>): boolean {
  return entry.length > 0 && entry.every((s) => caller.has(selectorString(s)));
}
