/**
 * `MeshState`: a set of parsed resources checked together, with the cross-object rules of App Mesh's
 * webhooks and controller (reference §a.0, §a.6, §a.7, §c.4): mesh membership by namespace selector,
 * duplicate awsNames, gateway route ↔ virtual gateway matching, pod ↔ virtual node / gateway matching,
 * and references to missing objects. It is the compiler's input: it answers "which mesh", "which virtual
 * node does this ref/ARN name", with read-only refs (`meshRef`, `virtualGatewayRef`) filled in.
 *
 * Objects that admission would refuse (no or several meshes, no gateway for a gateway route, a
 * duplicate awsName) are left out and reported. Dangling references are reported as errors but the
 * object stays, so the rest of the mesh keeps working; the compiler skips what it cannot resolve.
 */
import { issue, type MeshIssueCode, type ValidationIssue } from './errors.js';
import { KINDS, type AppMeshKind, type KindName, type MeshResource, type ResourceOf } from './kinds.js';
import type { PathSegments } from './path.js';
import type { Mesh, VirtualGateway, VirtualNode, VirtualRouter, VirtualService } from './schema/appmesh.js';
import type { PodSpec } from './schema/kubernetes.js';
import { optionalSelectorMatches, SelectorIndex, selectorMatches } from './selectors.js';

/** Where an object came from, to point issues at a file and line. */
export interface ResourceOrigin {
  file?: string;
  /** 0-based index of the YAML document in the file. */
  documentIndex?: number;
  /** 1-based line of a field path in the source (nearest existing ancestor), or undefined. */
  locate?: (path: PathSegments) => number | undefined;
}

/** A parsed resource with its origin and store version. */
export interface SourcedResource {
  resource: MeshResource;
  origin?: ResourceOrigin;
  /** Store revision of the last write (`metadata.resourceVersion` as a number). */
  resourceVersion?: number;
}

/** The namespace label that turns on sidecar injection (§c.4). */
export const SIDECAR_INJECTOR_LABEL = 'appmesh.k8s.aws/sidecarInjectorWebhook';

/** Adds file, document index and line of `origin` to an issue (in place) and returns it. */
export function locateIssue(i: ValidationIssue, origin: ResourceOrigin | undefined): ValidationIssue {
  if (!origin) return i;
  if (origin.file !== undefined) i.file = origin.file;
  if (origin.documentIndex !== undefined) i.documentIndex = origin.documentIndex;
  const line = origin.locate?.(i.pathSegments);
  if (line !== undefined) i.line = line;
  return i;
}

/** `<namespace>/<name>` key (cluster-scoped: `<name>`). */
function nsName(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** A parsed App Mesh ARN `arn:aws:appmesh:<region>:<account>:mesh/<mesh>[/<kind>/<name>…]`. */
export interface AppMeshArn {
  mesh: string;
  /** `virtualNode`, `virtualService`, `virtualRouter`, `virtualGateway`, … */
  resourceType?: string;
  name?: string;
}

/** Parses an App Mesh ARN; undefined if it is not one. */
export function parseAppMeshArn(arn: string): AppMeshArn | undefined {
  const m = /^arn:[^:]+:appmesh:[^:]*:[^:]*:mesh\/([^/]+)(?:\/([^/]+)\/([^/]+))?/.exec(arn);
  if (!m) return undefined;
  const out: AppMeshArn = { mesh: m[1]! };
  if (m[2]) out.resourceType = m[2];
  if (m[3]) out.name = m[3];
  return out;
}

/** `<kind>\0<namespace>/<name>`: an object's identity across builds. */
function identity(r: MeshResource): string {
  return `${r.kind}\u0000${nsName(r.metadata.namespace, r.metadata.name)}`;
}

/** Membership outcome of one input object: the admitted copy, or the issue that kept it out. */
interface Admission {
  input: SourcedResource;
  /** `input.origin` when the outcome was decided (the store replaces it when an object moves in its file). */
  origin: ResourceOrigin | undefined;
  admitted?: SourcedResource;
  issue?: ValidationIssue;
}

/** Reference issues of one admitted object and the objects (`identity`, or `<kind>\0*`) the check read. */
interface ReferenceCheck {
  resource: MeshResource;
  reads: string[];
  issues: ValidationIssue[];
}

/** The validated mesh: admitted objects by kind, plus every issue found. Build with {@link buildMeshState}. */
export class MeshState {
  /** Cross-object errors and warnings, located when origins were given. */
  readonly issues: ValidationIssue[] = [];
  readonly #byKind = new Map<KindName, Map<string, SourcedResource>>();
  /** Sorted entries per kind and the awsName index, rebuilt lazily after a change (the compiler reads them per node). */
  readonly #sorted = new Map<KindName, SourcedResource[]>();
  #awsNames: Map<string, MeshResource> | undefined;
  #podSelectors: { nodes: SelectorIndex<VirtualNode>; gateways: SelectorIndex<VirtualGateway> } | undefined;
  /** @internal per input object: its membership outcome, reused by the next build while it is unchanged. */
  readonly admissions = new Map<string, Admission>();
  /** @internal per admitted object: its reference check, reused while it and what it read are unchanged. */
  readonly referenceChecks = new Map<string, ReferenceCheck>();

  /** @internal use {@link buildMeshState}. */
  constructor() {
    for (const k of Object.keys(KINDS) as KindName[]) this.#byKind.set(k, new Map());
  }

  /** @internal */
  add(entry: SourcedResource): void {
    const r = entry.resource;
    this.#byKind.get(r.kind)!.set(nsName(r.metadata.namespace, r.metadata.name), entry);
    this.#changed(r.kind);
  }

  #changed(kind: KindName): void {
    this.#sorted.delete(kind);
    this.#awsNames = undefined;
    this.#podSelectors = undefined;
  }

  /** @internal podSelector indexes of virtual nodes and gateways (rebuilt after a change). */
  podSelectors(): { nodes: SelectorIndex<VirtualNode>; gateways: SelectorIndex<VirtualGateway> } {
    if (!this.#podSelectors) {
      const nodes = new SelectorIndex<VirtualNode>();
      for (const vn of this.list('VirtualNode')) nodes.add(vn.metadata.namespace!, vn.spec.podSelector, vn);
      const gateways = new SelectorIndex<VirtualGateway>();
      for (const vg of this.list('VirtualGateway'))
        gateways.add(vg.metadata.namespace!, vg.spec.podSelector, vg);
      this.#podSelectors = { nodes, gateways };
    }
    return this.#podSelectors;
  }

  /**
   * @internal Identities of the objects of `kinds` that differ from `previous` (added, removed or
   * replaced), plus `<kind>\0*` for each kind with such a difference.
   */
  changedSince(previous: MeshState, kinds: readonly KindName[]): Set<string> {
    const changed = new Set<string>();
    for (const kind of kinds) {
      const now = this.#byKind.get(kind)!;
      const before = previous.#byKind.get(kind)!;
      const mark = (key: string) => changed.add(`${kind}\u0000${key}`).add(`${kind}\u0000*`);
      for (const [key, e] of now) if (before.get(key)?.resource !== e.resource) mark(key);
      for (const key of before.keys()) if (!now.has(key)) mark(key);
    }
    return changed;
  }

  /** @internal */
  remove(r: MeshResource): void {
    this.#byKind.get(r.kind)!.delete(nsName(r.metadata.namespace, r.metadata.name));
    this.#changed(r.kind);
  }

  /** Every admitted object of a kind, ordered by namespace then name. */
  list<K extends KindName>(kind: K): ResourceOf<K>[] {
    return this.entries(kind).map((e) => e.resource as ResourceOf<K>);
  }

  /** Every admitted object of a kind with its origin, ordered by namespace then name. */
  entries(kind: KindName): SourcedResource[] {
    let sorted = this.#sorted.get(kind);
    if (!sorted) {
      sorted = [...this.#byKind.get(kind)!.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, e]) => e);
      this.#sorted.set(kind, sorted);
    }
    return [...sorted];
  }

  /** The object of `kind` named `name` in `namespace` (omit namespace for Mesh/Namespace). */
  get<K extends KindName>(kind: K, namespace: string | undefined, name: string): ResourceOf<K> | undefined {
    return this.#byKind.get(kind)!.get(nsName(namespace, name))?.resource as ResourceOf<K> | undefined;
  }

  /** The origin (file, document, line lookup) of an admitted object. */
  originOf(r: MeshResource): ResourceOrigin | undefined {
    return this.#byKind.get(r.kind)!.get(nsName(r.metadata.namespace, r.metadata.name))?.origin;
  }

  /** Labels of a namespace (`{}` when no Namespace object was given: it exists, unlabelled). */
  namespaceLabels(namespace: string): Record<string, string> {
    return this.get('Namespace', undefined, namespace)?.metadata.labels ?? {};
  }

  /** The mesh an admitted namespaced App Mesh object belongs to (by its `spec.meshRef`). */
  meshOf(r: MeshResource): Mesh | undefined {
    const ref = (r as { spec?: { meshRef?: { name: string } } }).spec?.meshRef;
    return ref ? this.get('Mesh', undefined, ref.name) : undefined;
  }

  /** Admitted objects of `kind` that belong to mesh `meshName` (by Kubernetes name of the Mesh). */
  inMesh<K extends Exclude<AppMeshKind, 'Mesh'>>(kind: K, meshName: string): ResourceOf<K>[] {
    return this.list(kind).filter(
      (r) => (r.spec as { meshRef?: { name: string } }).meshRef?.name === meshName,
    );
  }

  /** The mesh whose awsName is `awsName`. */
  meshByAwsName(awsName: string): Mesh | undefined {
    return this.list('Mesh').find((m) => m.spec.awsName === awsName);
  }

  /**
   * The object of `kind` with `spec.awsName` in the mesh whose awsName is `meshAwsName` — the lookup
   * behind proxy node ids `mesh/<mesh>/virtualNode/<vn awsName>` and `…/virtualGateway/<vg awsName>` (§c.1).
   */
  byAwsName<K extends Exclude<AppMeshKind, 'Mesh' | 'BackendGroup'>>(
    kind: K,
    meshAwsName: string,
    awsName: string,
  ): ResourceOf<K> | undefined {
    const mesh = this.meshByAwsName(meshAwsName);
    if (!mesh) return undefined;
    if (!this.#awsNames) {
      this.#awsNames = new Map();
      for (const k of [
        'VirtualNode',
        'VirtualService',
        'VirtualRouter',
        'VirtualGateway',
        'GatewayRoute',
      ] as const) {
        for (const r of this.list(k)) {
          if (r.spec.meshRef && r.spec.awsName)
            this.#awsNames.set(`${k}\u0000${r.spec.meshRef.name}\u0000${r.spec.awsName}`, r);
        }
      }
    }
    return this.#awsNames.get(`${kind}\u0000${mesh.metadata.name}\u0000${awsName}`) as
      ResourceOf<K> | undefined;
  }

  /** Resolves `{virtualNodeRef | virtualNodeARN}` (ref namespaces are already defaulted). */
  resolveVirtualNode(ref: {
    virtualNodeRef?: { name: string; namespace?: string };
    virtualNodeARN?: string;
  }): VirtualNode | undefined {
    return this.#resolve('VirtualNode', 'virtualNode', ref.virtualNodeRef, ref.virtualNodeARN);
  }

  /** Resolves `{virtualServiceRef | virtualServiceARN}`. */
  resolveVirtualService(ref: {
    virtualServiceRef?: { name: string; namespace?: string };
    virtualServiceARN?: string;
  }): VirtualService | undefined {
    return this.#resolve('VirtualService', 'virtualService', ref.virtualServiceRef, ref.virtualServiceARN);
  }

  /** Resolves `{virtualRouterRef | virtualRouterARN}`. */
  resolveVirtualRouter(ref: {
    virtualRouterRef?: { name: string; namespace?: string };
    virtualRouterARN?: string;
  }): VirtualRouter | undefined {
    return this.#resolve('VirtualRouter', 'virtualRouter', ref.virtualRouterRef, ref.virtualRouterARN);
  }

  #resolve<K extends 'VirtualNode' | 'VirtualService' | 'VirtualRouter'>(
    kind: K,
    arnType: string,
    ref: { name: string; namespace?: string } | undefined,
    arn: string | undefined,
  ): ResourceOf<K> | undefined {
    if (ref) return this.get(kind, ref.namespace, ref.name);
    const parsed = arn ? parseAppMeshArn(arn) : undefined;
    if (!parsed?.name || parsed.resourceType !== arnType) return undefined;
    return this.byAwsName(kind, parsed.mesh, parsed.name);
  }

  /**
   * The virtual node whose podSelector selects a pod with `labels` in `namespace` (§a.0, §c.4): nil
   * selector selects nothing, `{}` selects all. Undefined when none or several match (several is an
   * error reported on the pod's Deployment/Pod).
   */
  virtualNodeForPod(namespace: string, labels: Record<string, string> | undefined): VirtualNode | undefined {
    const found = this.podSelectors().nodes.match(namespace, labels);
    return found.length === 1 ? found[0] : undefined;
  }

  /** The virtual gateway whose podSelector selects the pod (same rules as {@link virtualNodeForPod}). */
  virtualGatewayForPod(
    namespace: string,
    labels: Record<string, string> | undefined,
  ): VirtualGateway | undefined {
    const found = this.podSelectors().gateways.match(namespace, labels);
    return found.length === 1 ? found[0] : undefined;
  }

  /** Errors among {@link issues}. */
  get errors(): ValidationIssue[] {
    return this.issues.filter((i) => i.severity === 'error');
  }
}

/**
 * Checks a set of parsed resources together and returns the admitted mesh state with every
 * cross-object issue (located via each entry's origin). Entries should be unique by kind/namespace/name
 * (later duplicates replace earlier ones). Input resources are not modified: admitted App Mesh objects
 * are shallow copies (object and `spec`) with `spec.meshRef` (and GatewayRoute `spec.virtualGatewayRef`)
 * filled in; nested values are shared with the inputs, so treat everything in the state as read-only.
 *
 * With `previous` (the state built from the same source before an edit), work whose inputs did not
 * change is reused: an object's membership while it (same object and origin), the meshes and the
 * namespaces are unchanged; its reference issues while it and every object the check read are
 * unchanged. The result is the same as a build without `previous`.
 */
export function buildMeshState(entries: Iterable<SourcedResource>, previous?: MeshState): MeshState {
  const state = new MeshState();
  const report = (
    entry: SourcedResource,
    code: MeshIssueCode,
    path: PathSegments,
    rule: string,
    severity: 'error' | 'warning' = 'error',
  ) => state.issues.push(locateIssue(issue(severity, code, path, rule, entry.resource), entry.origin));
  const pending: SourcedResource[] = [];
  for (const entry of entries) {
    if (entry.resource.kind === 'Mesh' || !KINDS[entry.resource.kind].appMesh) state.add(entry);
    else pending.push(entry);
  }
  const meshes = state.list('Mesh');
  // Membership reads only meshes and namespace labels: while those are the previous build's, so are the
  // outcomes of the objects that did not change.
  const reuse =
    previous && state.changedSince(previous, ['Mesh', 'Namespace']).size === 0 ? previous : undefined;

  // Mesh membership: exactly one mesh must select the object's namespace (§a.0).
  const admitted: SourcedResource[] = [];
  for (const entry of pending) {
    const id = identity(entry.resource);
    let admission = reuse?.admissions.get(id);
    // A gateway route's copy is written by matchGatewayRoutes, so each build makes its own.
    if (
      admission?.input.resource !== entry.resource ||
      admission.origin !== entry.origin ||
      entry.resource.kind === 'GatewayRoute'
    )
      admission = admit(entry, state, meshes);
    state.admissions.set(id, admission);
    if (admission.issue) state.issues.push(admission.issue);
    else admitted.push(admission.admitted!);
  }

  // awsNames are unique per mesh and kind (App Mesh names objects by them).
  const seen = new Map<string, SourcedResource>();
  for (const entry of admitted) {
    const r = entry.resource as MeshResource & { spec: { awsName?: string; meshRef: { name: string } } };
    if (r.spec.awsName !== undefined) {
      const key = `${r.kind}\u0000${r.spec.meshRef.name}\u0000${r.spec.awsName}`;
      const first = seen.get(key);
      if (first) {
        const f = first.resource.metadata;
        report(
          entry,
          'TM_ERR_MESH_DUPLICATE',
          ['spec', 'awsName'],
          `awsName ${r.spec.awsName} is already used by ${r.kind} ${nsName(f.namespace, f.name)} in mesh ${r.spec.meshRef.name}`,
        );
        continue;
      }
      seen.set(key, entry);
    }
    state.add(entry);
  }

  matchGatewayRoutes(state, report);
  checkReferences(state, report, reuse);
  matchPods(state, report);
  return state;
}

/** Decides the mesh of one namespaced App Mesh object (§a.0); does not touch `state`. */
function admit(entry: SourcedResource, state: MeshState, meshes: Mesh[]): Admission {
  const out: Admission = { input: entry, origin: entry.origin };
  const ns = entry.resource.metadata.namespace!;
  const labels = state.namespaceLabels(ns);
  const matching = meshes.filter((m) => selectorMatches(m.spec.namespaceSelector, labels));
  if (matching.length !== 1) {
    out.issue = locateIssue(
      issue(
        'error',
        'TM_ERR_MESH_MEMBERSHIP',
        ['metadata', 'namespace'],
        matching.length === 0
          ? `failed to find matching mesh for namespace: ${ns}, expecting 1 but found 0`
          : `found multiple matching meshes for namespace: ${ns}, expecting 1 but found ${matching.length}: ${matching.map((m) => m.metadata.name).join(',')}`,
        entry.resource,
      ),
      entry.origin,
    );
    return out;
  }
  const mesh = matching[0]!;
  // Only spec.meshRef (and, for gateway routes, spec.virtualGatewayRef) are set: a shallow copy of the
  // object and its spec keeps the input untouched without copying the whole tree on every snapshot.
  const source = entry.resource as MeshResource & { spec: object };
  const resource = {
    ...source,
    spec: { ...source.spec, meshRef: { name: mesh.metadata.name, uid: mesh.metadata.uid ?? '' } },
  } as MeshResource;
  out.admitted = { ...entry, resource };
  return out;
}

type Report = (
  entry: SourcedResource,
  code: MeshIssueCode,
  path: PathSegments,
  rule: string,
  severity?: 'error' | 'warning',
) => void;

/** GatewayRoute → exactly one VirtualGateway by namespaceSelector ∩ gatewayRouteSelector, in the same mesh (§a.7). */
function matchGatewayRoutes(state: MeshState, report: Report): void {
  const gateways = state.list('VirtualGateway');
  for (const entry of state.entries('GatewayRoute')) {
    const gr = entry.resource as ResourceOf<'GatewayRoute'>;
    const ns = gr.metadata.namespace!;
    const nsLabels = state.namespaceLabels(ns);
    const matching = gateways.filter(
      (vg) =>
        selectorMatches(vg.spec.namespaceSelector, nsLabels) &&
        optionalSelectorMatches(vg.spec.gatewayRouteSelector, gr.metadata.labels),
    );
    if (matching.length !== 1) {
      report(
        entry,
        'TM_ERR_MESH_GATEWAY_MATCH',
        ['metadata', 'labels'],
        matching.length === 0
          ? `failed to find matching virtualGateway for gatewayRoute: ${gr.metadata.name}, expecting 1 but found 0`
          : `found multiple matching virtualGateways for gatewayRoute: ${gr.metadata.name}, expecting 1 but found ${matching.length}: ${matching
              .map((vg) => nsName(vg.metadata.namespace, vg.metadata.name))
              .join(',')}`,
      );
      state.remove(gr);
      continue;
    }
    const vg = matching[0]!;
    if (vg.spec.meshRef?.name !== gr.spec.meshRef?.name) {
      report(
        entry,
        'TM_ERR_MESH_GATEWAY_MATCH',
        ['spec', 'meshRef'],
        `virtualGateway ${nsName(vg.metadata.namespace, vg.metadata.name)} is in mesh ${vg.spec.meshRef?.name}, not in the gatewayRoute's mesh ${gr.spec.meshRef?.name}`,
      );
      state.remove(gr);
      continue;
    }
    gr.spec.virtualGatewayRef = {
      name: vg.metadata.name,
      namespace: vg.metadata.namespace!,
      uid: vg.metadata.uid ?? '',
    };
  }
}

/** Kinds whose objects a reference check reads (besides meshes, whose change rebuilds everything). */
const REFERENCED_KINDS = ['VirtualNode', 'VirtualService', 'VirtualRouter', 'BackendGroup'] as const;

/**
 * Every reference must name an admitted object of the same mesh; dangling ones are errors, the object
 * stays. With `previous`, an object's earlier check is reused while it and the objects it read are unchanged.
 */
function checkReferences(state: MeshState, report: Report, previous: MeshState | undefined): void {
  const changed = previous ? state.changedSince(previous, REFERENCED_KINDS) : undefined;
  let reads = new Set<string>();
  const read = (kind: string, ref: { name: string; namespace?: string } | undefined) =>
    reads.add(ref ? `${kind}\u0000${nsName(ref.namespace, ref.name)}` : `${kind}\u0000*`);
  const resolveVirtualNode = (ref: Parameters<MeshState['resolveVirtualNode']>[0]) => {
    read('VirtualNode', ref.virtualNodeRef);
    return state.resolveVirtualNode(ref);
  };
  const resolveVirtualService = (ref: Parameters<MeshState['resolveVirtualService']>[0]) => {
    read('VirtualService', ref.virtualServiceRef);
    return state.resolveVirtualService(ref);
  };
  const resolveVirtualRouter = (ref: Parameters<MeshState['resolveVirtualRouter']>[0]) => {
    read('VirtualRouter', ref.virtualRouterRef);
    return state.resolveVirtualRouter(ref);
  };
  const get = <K extends 'BackendGroup' | 'VirtualService'>(
    kind: K,
    namespace: string | undefined,
    name: string,
  ) => {
    read(kind, { name, ...(namespace !== undefined ? { namespace } : {}) });
    return state.get(kind, namespace, name);
  };
  const sameMesh = (from: MeshResource, to: MeshResource | undefined) =>
    !to || state.meshOf(from)?.metadata.name === state.meshOf(to)?.metadata.name;
  const check = (
    entry: SourcedResource,
    path: PathSegments,
    what: string,
    target: MeshResource | undefined,
    refText: string,
  ) => {
    if (!target) report(entry, 'TM_ERR_MESH_REFERENCE', path, `${what} ${refText} not found`);
    else if (!sameMesh(entry.resource, target))
      report(
        entry,
        'TM_ERR_MESH_REFERENCE',
        path,
        `${what} ${refText} is in mesh ${state.meshOf(target)?.metadata.name}, not in ${state.meshOf(entry.resource)?.metadata.name}`,
      );
  };
  const refText = (ref: { name: string; namespace?: string } | undefined, arn: string | undefined) =>
    ref ? nsName(ref.namespace, ref.name) : (arn ?? '?');
  const each = (kind: KindName, checkEntry: (entry: SourcedResource) => void) => {
    for (const entry of state.entries(kind)) {
      const id = identity(entry.resource);
      const before = previous?.referenceChecks.get(id);
      if (before?.resource === entry.resource && !before.reads.some((k) => changed!.has(k))) {
        state.referenceChecks.set(id, before);
        state.issues.push(...before.issues);
        continue;
      }
      reads = new Set();
      const first = state.issues.length;
      checkEntry(entry);
      state.referenceChecks.set(id, {
        resource: entry.resource,
        reads: [...reads],
        issues: state.issues.slice(first),
      });
    }
  };

  each('VirtualNode', (entry) => {
    const vn = entry.resource as VirtualNode;
    (vn.spec.backends ?? []).forEach((b, i) => {
      const vs = b.virtualService;
      check(
        entry,
        ['spec', 'backends', i, 'virtualService'],
        'VirtualService',
        resolveVirtualService(vs),
        refText(vs.virtualServiceRef, vs.virtualServiceARN),
      );
    });
    (vn.spec.backendGroups ?? []).forEach((g, i) => {
      if (g.name !== '*')
        check(
          entry,
          ['spec', 'backendGroups', i],
          'BackendGroup',
          get('BackendGroup', g.namespace, g.name),
          refText(g, undefined),
        );
    });
  });
  each('VirtualService', (entry) => {
    const p = (entry.resource as VirtualService).spec.provider;
    if (p?.virtualNode)
      check(
        entry,
        ['spec', 'provider', 'virtualNode'],
        'VirtualNode',
        resolveVirtualNode(p.virtualNode),
        refText(p.virtualNode.virtualNodeRef, p.virtualNode.virtualNodeARN),
      );
    if (p?.virtualRouter)
      check(
        entry,
        ['spec', 'provider', 'virtualRouter'],
        'VirtualRouter',
        resolveVirtualRouter(p.virtualRouter),
        refText(p.virtualRouter.virtualRouterRef, p.virtualRouter.virtualRouterARN),
      );
  });
  each('VirtualRouter', (entry) => {
    (entry.resource as VirtualRouter).spec.routes?.forEach((r, i) => {
      const type = (['httpRoute', 'http2Route', 'grpcRoute', 'tcpRoute'] as const).find((t) => r[t])!;
      const protocol = { httpRoute: 'http', http2Route: 'http2', grpcRoute: 'grpc', tcpRoute: 'tcp' }[type];
      r[type]!.action.weightedTargets.forEach((t, j) => {
        const path = ['spec', 'routes', i, type, 'action', 'weightedTargets', j];
        const vn = resolveVirtualNode(t);
        check(entry, path, 'VirtualNode', vn, refText(t.virtualNodeRef, t.virtualNodeARN));
        const listeners = vn?.spec.listeners ?? [];
        const served = listeners.filter((l) => t.port === undefined || l.portMapping.port === t.port);
        if (vn && !served.some((l) => l.portMapping.protocol === protocol)) {
          report(
            entry,
            'TM_ERR_MESH_RULE',
            path,
            `route protocol ${protocol} does not match a listener of VirtualNode ${nsName(vn.metadata.namespace, vn.metadata.name)}${t.port ? ` on port ${t.port}` : ''} (listeners: ${listeners.map((l) => `${l.portMapping.protocol}/${l.portMapping.port}`).join(', ') || 'none'})`,
          );
        }
      });
    });
  });
  each('GatewayRoute', (entry) => {
    const gr = entry.resource as ResourceOf<'GatewayRoute'>;
    for (const type of ['httpRoute', 'http2Route', 'grpcRoute'] as const) {
      const vs = gr.spec[type]?.action.target.virtualService;
      if (vs)
        check(
          entry,
          ['spec', type, 'action', 'target', 'virtualService'],
          'VirtualService',
          resolveVirtualService(vs),
          refText(vs.virtualServiceRef, vs.virtualServiceARN),
        );
    }
  });
  each('BackendGroup', (entry) => {
    (entry.resource as ResourceOf<'BackendGroup'>).spec.virtualservices?.forEach((v, i) =>
      check(
        entry,
        ['spec', 'virtualservices', i],
        'VirtualService',
        get('VirtualService', v.namespace, v.name),
        refText(v, undefined),
      ),
    );
  });
}

/** Pod ↔ virtual node / gateway matching and the sidecar injector's rules (§a.0, §c.4), for Pods and Deployment templates. */
function matchPods(state: MeshState, report: Report): void {
  const pods: {
    entry: SourcedResource;
    labels: Record<string, string> | undefined;
    annotations: Record<string, string> | undefined;
    spec: PodSpec;
    path: PathSegments;
  }[] = [];
  for (const entry of state.entries('Pod')) {
    const pod = entry.resource as ResourceOf<'Pod'>;
    pods.push({
      entry,
      labels: pod.metadata.labels,
      annotations: pod.metadata.annotations,
      spec: pod.spec,
      path: ['metadata', 'labels'],
    });
  }
  for (const entry of state.entries('Deployment')) {
    const d = entry.resource as ResourceOf<'Deployment'>;
    const meta = d.spec.template.metadata;
    pods.push({
      entry,
      labels: meta?.labels,
      annotations: meta?.annotations,
      spec: d.spec.template.spec,
      path: ['spec', 'template', 'metadata', 'labels'],
    });
  }
  for (const { entry, labels, annotations, spec, path } of pods) {
    const ns = entry.resource.metadata.namespace!;
    const podName = nsName(ns, entry.resource.metadata.name);
    const nodes = state.podSelectors().nodes.match(ns, labels);
    const gateways = state.podSelectors().gateways.match(ns, labels);
    if (nodes.length > 1) {
      report(
        entry,
        'TM_ERR_MESH_POD_MATCH',
        path,
        `found multiple matching VirtualNodes for pod ${podName}, expecting 0 or 1 but found ${nodes.length}: ${nodes.map((n) => n.metadata.name).join(',')}`,
      );
    }
    if (gateways.length > 1) {
      report(
        entry,
        'TM_ERR_MESH_POD_MATCH',
        path,
        `found multiple matching VirtualGateways for pod ${podName}, expecting 0 or 1 but found ${gateways.length}: ${gateways.map((n) => n.metadata.name).join(',')}`,
      );
    }
    if (nodes.length >= 1 && gateways.length >= 1) {
      report(
        entry,
        'TM_ERR_MESH_POD_MATCH',
        path,
        `sidecarInject enabled for both virtualNode ${nodes[0]!.metadata.name} and virtualGateway ${gateways[0]!.metadata.name}`,
      );
    }
    if (gateways.length === 1 && nodes.length === 0 && !spec.containers.some((c) => c.name === 'envoy')) {
      report(
        entry,
        'TM_ERR_MESH_POD_MATCH',
        [...path.slice(0, -2), 'spec', 'containers'],
        `pod ${podName} is selected by virtualGateway ${gateways[0]!.metadata.name} but has no container named envoy`,
      );
    }
    const mode = annotations?.[SIDECAR_INJECTOR_LABEL] ?? state.namespaceLabels(ns)[SIDECAR_INJECTOR_LABEL];
    if (mode === 'enabled' && nodes.length === 0 && gateways.length === 0) {
      report(
        entry,
        'TM_ERR_MESH_POD_MATCH',
        path,
        `sidecarInject enabled but no matching VirtualNode or VirtualGateway found for pod ${podName}`,
      );
    }
  }
}
