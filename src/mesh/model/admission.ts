/**
 * Per-object admission rules of App Mesh's validating webhooks and API (reference §a.0–§a.8): the rules
 * a single object must satisfy on its own. Rules spanning objects (mesh membership, references, pod
 * matching, gateway route ↔ gateway) live in `state.ts`; update rules (immutable fields) in
 * {@link checkUpdate}. Messages quote the webhook's wording where the reference gives it.
 */
import { issue, type MeshIssueCode, type ValidationIssue } from './errors.js';
import type { KindName, MeshResource, ResourceOf } from './kinds.js';
import type { PathSegments } from './path.js';
import type { HeaderMatchMethod } from './schema/common.js';
import type { Route } from './schema/appmesh.js';

type Path = (string | number)[];

/** Collects issues about one object. */
class Checker {
  readonly issues: ValidationIssue[] = [];
  constructor(readonly obj: MeshResource) {}
  error(code: MeshIssueCode, path: PathSegments, rule: string): void {
    this.issues.push(issue('error', code, path, rule, this.obj));
  }
  warn(path: PathSegments, rule: string): void {
    this.issues.push(issue('warning', 'TM_WARN_MESH_SEMANTICS', path, rule, this.obj));
  }
  /** "Exactly one of" `keys` must be present in `value` (absent `value` counts as none). */
  exactlyOne(
    value: object | undefined,
    keys: readonly string[],
    path: Path,
    messages?: { none: string; many: string },
  ): void {
    const present = keys.filter((k) => (value as Record<string, unknown> | undefined)?.[k] !== undefined);
    if (present.length === 1) return;
    if (present.length === 0)
      this.error(
        'TM_ERR_MESH_EXACTLY_ONE',
        path,
        messages?.none ?? `exactly one of ${keys.join(', ')} is required (found none)`,
      );
    else
      this.error(
        'TM_ERR_MESH_EXACTLY_ONE',
        path,
        messages?.many ?? `only one of ${keys.join(', ')} is allowed (found ${present.join(', ')})`,
      );
  }
  /** At most one of `keys` may be present. */
  atMostOne(value: object | undefined, keys: readonly string[], path: Path, many?: string): void {
    const present = keys.filter((k) => (value as Record<string, unknown> | undefined)?.[k] !== undefined);
    if (present.length > 1)
      this.error(
        'TM_ERR_MESH_EXACTLY_ONE',
        path,
        many ?? `only one of ${keys.join(', ')} is allowed (found ${present.join(', ')})`,
      );
  }
  /** At least one of `keys` must be present. */
  atLeastOne(value: object | undefined, keys: readonly string[], path: Path): void {
    if (!keys.some((k) => (value as Record<string, unknown> | undefined)?.[k] !== undefined)) {
      this.error(
        'TM_ERR_MESH_EXACTLY_ONE',
        path,
        `at least one of ${keys.join(', ')} is required (found none)`,
      );
    }
  }
}

function readOnly(c: Checker, spec: Record<string, unknown>, field: 'meshRef' | 'virtualGatewayRef'): void {
  if (spec[field] !== undefined) {
    c.error(
      'TM_ERR_MESH_READ_ONLY',
      ['spec', field],
      `${c.obj.kind} create may not specify read-only field: spec.${field} (set by admission)`,
    );
  }
}

function headerMatch(c: Checker, m: HeaderMatchMethod | undefined, path: Path): void {
  if (!m) return;
  c.exactlyOne(m, ['exact', 'prefix', 'suffix', 'regex', 'range'], path);
  if (m.range && !(m.range.start < m.range.end)) {
    c.error(
      'TM_ERR_MESH_RULE',
      [...path, 'range'],
      `range.start must be < range.end (found start ${m.range.start}, end ${m.range.end})`,
    );
  }
}

function listenerTls(
  c: Checker,
  tls: { certificate: object; validation?: { trust: object } } | undefined,
  path: Path,
  trustKeys: readonly string[],
): void {
  if (!tls) return;
  c.exactlyOne(tls.certificate, ['acm', 'file', 'sds'], [...path, 'certificate']);
  if (tls.validation) c.exactlyOne(tls.validation.trust, trustKeys, [...path, 'validation', 'trust']);
}

function clientPolicy(
  c: Checker,
  cp: { tls?: { certificate?: object; validation: { trust: object } } } | undefined,
  path: Path,
): void {
  if (!cp?.tls) return;
  if (cp.tls.certificate) c.exactlyOne(cp.tls.certificate, ['file', 'sds'], [...path, 'tls', 'certificate']);
  c.exactlyOne(cp.tls.validation.trust, ['acm', 'file', 'sds'], [...path, 'tls', 'validation', 'trust']);
}

function virtualNode(c: Checker, vn: ResourceOf<'VirtualNode'>): void {
  const spec = vn.spec;
  readOnly(c, spec, 'meshRef');
  const listeners = spec.listeners ?? [];
  if (listeners.length > 0 && !spec.serviceDiscovery) {
    c.error(
      'TM_ERR_MESH_SERVICE_DISCOVERY',
      ['spec', 'serviceDiscovery'],
      `ServiceDiscovery missing for VirtualNode-${vn.metadata.name}. ServiceDiscovery must be specified when a listener is specified.`,
    );
  }
  if (spec.serviceDiscovery)
    c.exactlyOne(spec.serviceDiscovery, ['dns', 'awsCloudMap'], ['spec', 'serviceDiscovery']);
  const ports = new Map<number, number>();
  listeners.forEach((l, i) => {
    const path: Path = ['spec', 'listeners', i];
    const previous = ports.get(l.portMapping.port);
    if (previous !== undefined) {
      c.error(
        'TM_ERR_MESH_DUPLICATE',
        [...path, 'portMapping', 'port'],
        `duplicate listener port ${l.portMapping.port} (also listeners[${previous}])`,
      );
    } else ports.set(l.portMapping.port, i);
    if (l.connectionPool) {
      c.exactlyOne(l.connectionPool, ['tcp', 'http', 'http2', 'grpc'], [...path, 'connectionPool'], {
        none: 'exactly one of tcp, http, http2, grpc is required (found none)',
        many: 'Only one type of Virtual Node Connection Pool is allowed',
      });
      const kinds = Object.keys(l.connectionPool);
      if (kinds.length === 1 && kinds[0] !== l.portMapping.protocol) {
        c.error(
          'TM_ERR_MESH_RULE',
          [...path, 'connectionPool', kinds[0]!],
          `connection pool type must match the listener protocol ${l.portMapping.protocol} (found ${kinds[0]})`,
        );
      }
    }
    if (
      l.healthCheck?.path !== undefined &&
      l.healthCheck.protocol !== 'http' &&
      l.healthCheck.protocol !== 'http2'
    ) {
      c.warn(
        [...path, 'healthCheck', 'path'],
        `path is only used by http/http2 health checks (protocol is ${l.healthCheck.protocol}); ignored`,
      );
    }
    listenerTls(c, l.tls, [...path, 'tls'], ['file', 'sds']);
  });
  const seen = new Map<string, number>();
  (spec.backends ?? []).forEach((b, i) => {
    const path: Path = ['spec', 'backends', i, 'virtualService'];
    const vs = b.virtualService;
    c.exactlyOne(vs, ['virtualServiceRef', 'virtualServiceARN'], path);
    const key = vs.virtualServiceRef
      ? `ref:${vs.virtualServiceRef.namespace}/${vs.virtualServiceRef.name}`
      : `arn:${vs.virtualServiceARN}`;
    const first = seen.get(key);
    if (first !== undefined)
      c.error(
        'TM_ERR_MESH_DUPLICATE',
        path,
        `duplicate backend ${key.slice(key.indexOf(':') + 1)} (also backends[${first}])`,
      );
    else seen.set(key, i);
    clientPolicy(c, vs.clientPolicy, [...path, 'clientPolicy']);
  });
  clientPolicy(c, spec.backendDefaults?.clientPolicy, ['spec', 'backendDefaults', 'clientPolicy']);
}

function virtualService(c: Checker, vs: ResourceOf<'VirtualService'>): void {
  readOnly(c, vs.spec, 'meshRef');
  const p = vs.spec.provider;
  if (!p) return;
  c.atMostOne(
    p,
    ['virtualNode', 'virtualRouter'],
    ['spec', 'provider'],
    'only one of virtualNode, virtualRouter is allowed: a virtual service has a single provider',
  );
  if (p.virtualNode)
    c.exactlyOne(p.virtualNode, ['virtualNodeRef', 'virtualNodeARN'], ['spec', 'provider', 'virtualNode']);
  if (p.virtualRouter)
    c.exactlyOne(
      p.virtualRouter,
      ['virtualRouterRef', 'virtualRouterARN'],
      ['spec', 'provider', 'virtualRouter'],
    );
}

const ROUTE_TYPES = ['httpRoute', 'http2Route', 'grpcRoute', 'tcpRoute'] as const;
const ROUTE_PROTOCOL = {
  httpRoute: 'http',
  http2Route: 'http2',
  grpcRoute: 'grpc',
  tcpRoute: 'tcp',
} as const;

/** The route type key set on a route (`httpRoute` …), or undefined if none. */
export function routeType(route: Route): (typeof ROUTE_TYPES)[number] | undefined {
  return ROUTE_TYPES.find((t) => route[t] !== undefined);
}

function virtualRouter(c: Checker, vr: ResourceOf<'VirtualRouter'>): void {
  readOnly(c, vr.spec, 'meshRef');
  const listenerPorts = new Map<number, string>();
  vr.spec.listeners.forEach((l, i) => {
    if (listenerPorts.has(l.portMapping.port))
      c.error(
        'TM_ERR_MESH_DUPLICATE',
        ['spec', 'listeners', i, 'portMapping', 'port'],
        `duplicate listener port ${l.portMapping.port}`,
      );
    else listenerPorts.set(l.portMapping.port, l.portMapping.protocol);
  });
  const names = new Set<string>();
  (vr.spec.routes ?? []).forEach((r, i) => {
    const path: Path = ['spec', 'routes', i];
    if (names.has(r.name)) {
      c.error(
        'TM_ERR_MESH_DUPLICATE',
        [...path, 'name'],
        `VirtualRouter-${vr.metadata.name} has duplicate route entries for ${r.name}`,
      );
    }
    names.add(r.name);
    c.exactlyOne(r, ROUTE_TYPES, path);
    const type = routeType(r);
    if (!type) return;
    const body = r[type]!;
    const rpath: Path = [...path, type];
    // Route protocol must match the router listener it serves (§a.5).
    const port = body.match?.port;
    const protocol = ROUTE_PROTOCOL[type];
    const candidates = port ? [listenerPorts.get(port)] : [...listenerPorts.values()];
    if (port && !listenerPorts.has(port)) {
      c.error(
        'TM_ERR_MESH_RULE',
        [...rpath, 'match', 'port'],
        `no router listener on port ${port} (listeners: ${[...listenerPorts.keys()].join(', ')})`,
      );
    } else if (!candidates.includes(protocol)) {
      c.error(
        'TM_ERR_MESH_RULE',
        [...rpath],
        `route protocol ${protocol} does not match the router listener protocol (${[...new Set(candidates)].join(', ')})`,
      );
    }
    const targets = body.action.weightedTargets;
    let total = 0;
    targets.forEach((t, j) => {
      c.exactlyOne(t, ['virtualNodeRef', 'virtualNodeARN'], [...rpath, 'action', 'weightedTargets', j]);
      total += t.weight;
    });
    if (total > 100)
      c.error(
        'TM_ERR_MESH_RULE',
        [...rpath, 'action', 'weightedTargets'],
        `total of weights must be ≤ 100 (found ${total})`,
      );
    if (type === 'httpRoute' || type === 'http2Route') {
      const m = r[type]!.match;
      c.exactlyOne(m, ['prefix', 'path'], [...rpath, 'match'], {
        none: 'Either Prefix or Path must be specified',
        many: 'Both Prefix and Path cannot be specified, only 1 allowed',
      });
      if (m.path) c.exactlyOne(m.path, ['exact', 'regex'], [...rpath, 'match', 'path']);
      (m.headers ?? []).forEach((h, j) =>
        headerMatch(c, h.match, [...rpath, 'match', 'headers', j, 'match']),
      );
    } else if (type === 'grpcRoute') {
      const m = r.grpcRoute!.match;
      if (m.methodName !== undefined && m.serviceName === undefined) {
        c.error('TM_ERR_MESH_RULE', [...rpath, 'match', 'methodName'], 'methodName requires serviceName');
      }
      (m.metadata ?? []).forEach((h, j) =>
        headerMatch(c, h.match, [...rpath, 'match', 'metadata', j, 'match']),
      );
    }
  });
}

function virtualGateway(c: Checker, vg: ResourceOf<'VirtualGateway'>): void {
  readOnly(c, vg.spec, 'meshRef');
  const ports = new Set<number>();
  (vg.spec.listeners ?? []).forEach((l, i) => {
    const path: Path = ['spec', 'listeners', i];
    if (ports.has(l.portMapping.port))
      c.error(
        'TM_ERR_MESH_DUPLICATE',
        [...path, 'portMapping', 'port'],
        `duplicate listener port ${l.portMapping.port}`,
      );
    ports.add(l.portMapping.port);
    if (l.connectionPool) {
      c.exactlyOne(l.connectionPool, ['http', 'http2', 'grpc'], [...path, 'connectionPool'], {
        none: 'exactly one of http, http2, grpc is required (found none)',
        many: 'Only one type of Virtual Gateway Connection Pool is allowed',
      });
    }
    listenerTls(c, l.tls, [...path, 'tls'], ['acm', 'file', 'sds']);
  });
  clientPolicy(c, vg.spec.backendDefaults?.clientPolicy, ['spec', 'backendDefaults', 'clientPolicy']);
}

const RESERVED_PREFIXES = ['/aws-appmesh', '/aws-app-mesh'];

function gatewayRoute(c: Checker, gr: ResourceOf<'GatewayRoute'>): void {
  readOnly(c, gr.spec, 'meshRef');
  readOnly(c, gr.spec, 'virtualGatewayRef');
  c.exactlyOne(gr.spec, ['httpRoute', 'http2Route', 'grpcRoute'], ['spec'], {
    none: 'Missing GatewayRoute Type: one of grpcRoute, httpRoute, http2Route is required',
    many: 'Found multiple types of GatewayRoute. Only 1 (GRPC/HTTP/HTTP2) allowed',
  });
  for (const type of ['httpRoute', 'http2Route'] as const) {
    const route = gr.spec[type];
    if (!route) continue;
    const mpath: Path = ['spec', type, 'match'];
    const m = route.match;
    c.atLeastOne(m, ['prefix', 'path', 'hostname'], mpath);
    c.atMostOne(m, ['prefix', 'path'], mpath, 'Both Prefix and Path cannot be specified, only 1 allowed');
    if (m.path) c.exactlyOne(m.path, ['exact', 'regex'], [...mpath, 'path']);
    if (m.hostname) c.exactlyOne(m.hostname, ['exact', 'suffix'], [...mpath, 'hostname']);
    if (m.prefix !== undefined && RESERVED_PREFIXES.some((p) => m.prefix!.startsWith(p))) {
      c.error(
        'TM_ERR_MESH_RULE',
        [...mpath, 'prefix'],
        `prefixes /aws-appmesh* and /aws-app-mesh* are reserved (found ${JSON.stringify(m.prefix)})`,
      );
    }
    (m.headers ?? []).forEach((h, j) => headerMatch(c, h.match, [...mpath, 'headers', j, 'match']));
    (m.queryParameters ?? []).forEach((q, j) => {
      if (q.match && q.match.exact === undefined)
        c.error(
          'TM_ERR_MESH_EXACTLY_ONE',
          [...mpath, 'queryParameters', j, 'match'],
          'a present match must have exact',
        );
    });
    const apath: Path = ['spec', type, 'action'];
    c.exactlyOne(
      route.action.target.virtualService,
      ['virtualServiceRef', 'virtualServiceARN'],
      [...apath, 'target', 'virtualService'],
    );
    const rw = route.action.rewrite;
    if (rw) {
      const rpath: Path = [...apath, 'rewrite'];
      c.atLeastOne(rw, ['prefix', 'path', 'hostname'], rpath);
      c.atMostOne(rw, ['prefix', 'path'], rpath, 'prefix and path rewrites are mutually exclusive');
      if (rw.prefix) {
        if (rw.prefix.defaultPrefix !== undefined && rw.prefix.value !== undefined) {
          c.error(
            'TM_ERR_MESH_EXACTLY_ONE',
            [...rpath, 'prefix'],
            'only one of defaultPrefix, value is allowed',
          );
        }
        if (rw.prefix.defaultPrefix === undefined && rw.prefix.value === undefined) {
          c.error(
            'TM_ERR_MESH_EXACTLY_ONE',
            [...rpath, 'prefix'],
            'exactly one of defaultPrefix, value is required (found none)',
          );
        }
        if (
          rw.prefix.value !== undefined &&
          !(rw.prefix.value.startsWith('/') && rw.prefix.value.endsWith('/'))
        ) {
          c.error(
            'TM_ERR_MESH_RULE',
            [...rpath, 'prefix', 'value'],
            `prefix rewrite value must start and end with "/" (found ${JSON.stringify(rw.prefix.value)})`,
          );
        }
        if (m.prefix === undefined || !m.prefix.startsWith('/')) {
          c.error(
            'TM_ERR_MESH_RULE',
            [...mpath, 'prefix'],
            'a prefix rewrite requires a match prefix starting with "/"',
          );
        }
      }
    }
  }
  const grpc = gr.spec.grpcRoute;
  if (grpc) {
    const mpath: Path = ['spec', 'grpcRoute', 'match'];
    c.atLeastOne(grpc.match, ['serviceName', 'hostname'], mpath);
    if (grpc.match.hostname) c.exactlyOne(grpc.match.hostname, ['exact', 'suffix'], [...mpath, 'hostname']);
    (grpc.match.metadata ?? []).forEach((h, j) =>
      headerMatch(c, h.match, [...mpath, 'metadata', j, 'match']),
    );
    c.exactlyOne(
      grpc.action.target.virtualService,
      ['virtualServiceRef', 'virtualServiceARN'],
      ['spec', 'grpcRoute', 'action', 'target', 'virtualService'],
    );
  }
}

const RULES: { [K in KindName]?: (c: Checker, r: ResourceOf<K>) => void } = {
  VirtualNode: virtualNode,
  VirtualService: virtualService,
  VirtualRouter: virtualRouter,
  VirtualGateway: virtualGateway,
  GatewayRoute: gatewayRoute,
  BackendGroup: (c, bg) => readOnly(c, bg.spec, 'meshRef'),
};

/**
 * Runs the per-object admission rules on a schema-valid, defaulted resource; returns every violation
 * (errors) and advisory warnings. Kubernetes kinds have no rules here.
 */
export function admitObject(resource: MeshResource): ValidationIssue[] {
  const c = new Checker(resource);
  const rule = RULES[resource.kind] as ((c: Checker, r: MeshResource) => void) | undefined;
  rule?.(c, resource);
  return c.issues;
}

/**
 * Update rules (§a.0): `spec.awsName` (all App Mesh kinds), `spec.meshRef` (namespaced kinds),
 * `spec.virtualGatewayRef` (GatewayRoute) and `spec.serviceDiscovery.awsCloudMap` once set (VirtualNode)
 * may not change. Both objects are parsed (defaulted) versions of the same kind/namespace/name.
 * Returns one error naming all changed fields, as the webhook does, or nothing.
 */
export function checkUpdate(previous: MeshResource, next: MeshResource): ValidationIssue[] {
  if (previous.kind !== next.kind || !('spec' in previous) || !('spec' in next)) return [];
  const fields: string[] = [];
  const before = previous.spec as Record<string, unknown>;
  const after = next.spec as Record<string, unknown>;
  const kind = next.kind;
  if (
    [
      'Mesh',
      'VirtualNode',
      'VirtualService',
      'VirtualRouter',
      'VirtualGateway',
      'GatewayRoute',
      'BackendGroup',
    ].includes(kind)
  ) {
    for (const f of ['awsName', 'meshRef', 'virtualGatewayRef']) {
      if (JSON.stringify(before[f]) !== JSON.stringify(after[f])) fields.push(`spec.${f}`);
    }
  }
  if (kind === 'VirtualNode') {
    const was = (before.serviceDiscovery as { awsCloudMap?: unknown } | undefined)?.awsCloudMap;
    const now = (after.serviceDiscovery as { awsCloudMap?: unknown } | undefined)?.awsCloudMap;
    if (was !== undefined && JSON.stringify(was) !== JSON.stringify(now))
      fields.push('spec.serviceDiscovery.awsCloudMap');
  }
  if (fields.length === 0) return [];
  const path = fields.length === 1 ? fields[0]!.split('.') : ['spec'];
  return [
    issue(
      'error',
      'TM_ERR_MESH_IMMUTABLE',
      path,
      `${kind} update may not change these fields: ${fields.join(',')}`,
      next,
    ),
  ];
}
