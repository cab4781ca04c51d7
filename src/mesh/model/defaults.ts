/**
 * Defaults App Mesh's mutating webhook and API fill in (reference §a.0, §a.1). Schema-level defaults
 * (client policy `enforce: true`, header `invert: false`, GatewayRoute `priority: 1000`) are filled by
 * ajv from the schemas; this file holds those that depend on the object: awsName, reference namespaces
 * and the mesh egress filter.
 */
import type { MeshResource } from './kinds.js';

/**
 * The awsName App Mesh gives an object whose `spec.awsName` is unset or empty (§a.0):
 * Mesh → `<name>`; VirtualService → `<name>.<namespace>`; other namespaced kinds → `<name>_<namespace>`.
 */
export function defaultAwsName(kind: string, name: string, namespace: string | undefined): string {
  if (kind === 'Mesh') return name;
  if (kind === 'VirtualService') return `${name}.${namespace}`;
  return `${name}_${namespace}`;
}

function defaultNamespace(ref: { namespace?: string } | undefined, ns: string | undefined): void {
  if (ref && ref.namespace === undefined && ns !== undefined) ref.namespace = ns;
}

/**
 * Fills object-dependent defaults in place: awsName (all App Mesh kinds but BackendGroup), the namespace
 * of every `…Ref` (defaults to the referencing object's namespace) and Mesh `egressFilter.type = DROP_ALL`
 * (AWS default when unspecified). Kubernetes kinds are left unchanged.
 */
export function applyDefaults(resource: MeshResource): void {
  const ns = resource.metadata.namespace;
  switch (resource.kind) {
    case 'Mesh':
      resource.spec.egressFilter ??= { type: 'DROP_ALL' };
      break;
    case 'VirtualNode':
      for (const b of resource.spec.backends ?? []) defaultNamespace(b.virtualService.virtualServiceRef, ns);
      for (const g of resource.spec.backendGroups ?? []) defaultNamespace(g, ns);
      break;
    case 'VirtualService':
      defaultNamespace(resource.spec.provider?.virtualNode?.virtualNodeRef, ns);
      defaultNamespace(resource.spec.provider?.virtualRouter?.virtualRouterRef, ns);
      break;
    case 'VirtualRouter':
      for (const r of resource.spec.routes ?? []) {
        const action = (r.httpRoute ?? r.http2Route ?? r.grpcRoute ?? r.tcpRoute)?.action;
        for (const t of action?.weightedTargets ?? []) defaultNamespace(t.virtualNodeRef, ns);
      }
      break;
    case 'GatewayRoute': {
      const route = resource.spec.httpRoute ?? resource.spec.http2Route ?? resource.spec.grpcRoute;
      defaultNamespace(route?.action.target.virtualService.virtualServiceRef, ns);
      break;
    }
    case 'VirtualGateway':
      break;
    case 'BackendGroup':
      for (const v of resource.spec.virtualservices ?? []) defaultNamespace(v, ns);
      return;
    default:
      return;
  }
  if (!resource.spec.awsName)
    resource.spec.awsName = defaultAwsName(resource.kind, resource.metadata.name, ns);
}
