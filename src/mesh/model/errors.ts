/**
 * Errors and validation issues of `mesh/model`.
 *
 * Validation never throws for bad manifests: it collects every problem as a {@link ValidationIssue}
 * (field path + rule + stable `code`), as grpc-js-xds does for xDS resources. Exceptions are kept for
 * programming errors and for callers that want a throw ({@link InvalidResourceError}).
 */
import { TrustmeshError } from '../../spiffe/index.js';
import { formatPath, type PathSegments } from './path.js';

/** Stable codes of validation issues (errors unless the name says WARN). */
export type MeshIssueCode =
  | 'TM_ERR_MESH_YAML' // a file or document is not parseable YAML
  | 'TM_ERR_MESH_NOT_AN_OBJECT' // a document is not a Kubernetes object (no apiVersion/kind)
  | 'TM_ERR_MESH_UNSUPPORTED_KIND' // an appmesh.k8s.aws kind or version we do not know
  | 'TM_ERR_MESH_SCHEMA' // a CRD schema rule: type, required, enum, min/max, length, item count
  | 'TM_ERR_MESH_EXACTLY_ONE' // "exactly one of …" / "at least one of …" / "only one of …"
  | 'TM_ERR_MESH_READ_ONLY' // a read-only field (meshRef, virtualGatewayRef) was set by the user
  | 'TM_ERR_MESH_IMMUTABLE' // an update changes an immutable field (awsName, awsCloudMap, …)
  | 'TM_ERR_MESH_SERVICE_DISCOVERY' // listeners without serviceDiscovery
  | 'TM_ERR_MESH_DUPLICATE' // duplicate route names, backends, listener ports, awsNames
  | 'TM_ERR_MESH_RULE' // another per-object webhook rule (weights total, rewrite rules, protocol match …)
  | 'TM_ERR_MESH_MEMBERSHIP' // no mesh or several meshes select the object's namespace
  | 'TM_ERR_MESH_GATEWAY_MATCH' // gateway route ↔ virtual gateway matching
  | 'TM_ERR_MESH_POD_MATCH' // pod ↔ virtual node / virtual gateway matching
  | 'TM_ERR_MESH_REFERENCE' // a reference to a missing object or an object of another mesh
  | 'TM_WARN_MESH_PRUNED' // an unknown nested field was dropped (Kubernetes structural pruning)
  | 'TM_WARN_MESH_IGNORED' // a document of a kind the mesh does not read, or not a resource
  | 'TM_WARN_MESH_SEMANTICS'; // accepted, but probably not what the author meant

/** Severity of a {@link ValidationIssue}: errors reject (or, for references, flag) an object; warnings never do. */
export type IssueSeverity = 'error' | 'warning';

/**
 * One validation problem, located as precisely as the input allows.
 * `path` is the field path in the object (`spec.listeners[0].tls.mode`, `''` for the object itself);
 * `pathSegments` the same as keys/indexes (used to find the YAML line).
 */
export interface ValidationIssue {
  severity: IssueSeverity;
  code: MeshIssueCode;
  /** The violated rule in words, naming the expected and the found value where useful. */
  rule: string;
  path: string;
  pathSegments: readonly (string | number)[];
  /** Object identity, when known. */
  kind?: string;
  namespace?: string;
  name?: string;
  /** Source location, when the object came from a file (1-based line, 0-based document index). */
  file?: string;
  documentIndex?: number;
  line?: number;
}

/** Builds an issue about one object; used by parsing, admission and mesh-wide checks. */
export function issue(
  severity: 'error' | 'warning',
  code: MeshIssueCode,
  pathSegments: PathSegments,
  rule: string,
  obj?: { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } },
): ValidationIssue {
  const out: ValidationIssue = {
    severity,
    code,
    rule,
    path: formatPath(pathSegments),
    pathSegments: [...pathSegments],
  };
  if (typeof obj?.kind === 'string') out.kind = obj.kind;
  if (typeof obj?.metadata?.namespace === 'string') out.namespace = obj.metadata.namespace;
  if (typeof obj?.metadata?.name === 'string') out.name = obj.metadata.name;
  return out;
}

/** Base class of `mesh/model` errors; messages start with "mesh/model: ". */
export class MeshModelError extends TrustmeshError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, `mesh/model: ${message}`, options);
  }
}

/** Thrown by {@link parseResourceOrThrow} when a manifest object fails validation; carries every issue. */
export class InvalidResourceError extends MeshModelError {
  readonly issues: readonly ValidationIssue[];
  constructor(issues: readonly ValidationIssue[]) {
    const first = issues[0];
    super(
      'TM_ERR_MESH_INVALID_RESOURCE',
      `invalid resource: ${issues.length} error(s)${first ? `; first: ${formatIssue(first)}` : ''}`,
    );
    this.issues = issues;
  }
}

/** Object identity as `<kind>/<ns>/<name>` (namespaced) or `<kind>/<name>` (cluster-scoped). */
export function formatObjectId(kind?: string, namespace?: string, name?: string): string {
  return [kind ?? '?', ...(namespace ? [namespace] : []), name ?? '?'].join('/');
}

/**
 * One line per issue: `file:line: <kind>/<ns>/<name>: <field path>: <rule>`; warnings get a `warning: `
 * prefix after the location. Missing parts are left out (no file → starts with the object).
 */
export function formatIssue(issue: ValidationIssue): string {
  const parts: string[] = [];
  if (issue.file !== undefined)
    parts.push(issue.line !== undefined ? `${issue.file}:${issue.line}` : issue.file);
  if (issue.severity === 'warning') parts.push('warning');
  if (issue.kind !== undefined || issue.name !== undefined)
    parts.push(formatObjectId(issue.kind, issue.namespace, issue.name));
  if (issue.path) parts.push(issue.path);
  parts.push(issue.rule);
  return parts.join(': ');
}
