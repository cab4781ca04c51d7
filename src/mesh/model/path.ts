/**
 * Field paths as Kubernetes and kubectl print them: `spec.listeners[0].tls.mode`; keys that are not
 * identifiers are bracket-quoted (`metadata.labels["app.kubernetes.io/name"]`).
 */

/** A field path as segments: object keys (string) and array indexes (number). */
export type PathSegments = readonly (string | number)[];

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Formats segments as a field path (`''` for the root). */
export function formatPath(segments: PathSegments): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (IDENTIFIER.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** Converts an ajv/JSON-pointer instance path (`/spec/listeners/0`) to segments; numeric parts become indexes. */
export function pointerToSegments(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^(0|[1-9][0-9]*)$/.test(p) ? Number(p) : p));
}
