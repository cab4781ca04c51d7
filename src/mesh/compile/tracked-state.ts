/**
 * A read-only view of a {@link MeshState} that records which objects a node's compilation read, so the
 * control plane recompiles only the nodes an edit can affect. Keys: `<Kind>/<namespace>/<name>` for an
 * object read by name, `<Kind>/aws/<awsName>` for a lookup by awsName, `<Kind>/*` for a listing (or an
 * ARN reference, resolved by scanning).
 */
import type {
  BackendGroup,
  GatewayRoute,
  Mesh,
  MeshState,
  VirtualGateway,
  VirtualNode,
  VirtualRouter,
  VirtualService,
} from '../model/index.js';

/** Dependency keys of an object as its change affects readers (see module doc). */
export function dependencyKeysOf(r: {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: unknown;
}): string[] {
  const keys = [`${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`, `${r.kind}/*`];
  const awsName = (r.spec as { awsName?: string } | undefined)?.awsName;
  if (awsName !== undefined) keys.push(`${r.kind}/aws/${awsName}`);
  return keys;
}

type Ref = { name: string; namespace?: string } | undefined;

/** The part of {@link MeshState} the compiler reads, recording each read in `reads`. */
export class TrackedState {
  readonly reads = new Set<string>();
  readonly #state: MeshState;

  constructor(state: MeshState) {
    this.#state = state;
  }

  get<K extends 'BackendGroup' | 'VirtualService'>(
    kind: K,
    namespace: string | undefined,
    name: string,
  ): (K extends 'BackendGroup' ? BackendGroup : VirtualService) | undefined {
    this.reads.add(`${kind}/${namespace ?? ''}/${name}`);
    return this.#state.get(kind, namespace, name) as never;
  }

  list<K extends 'VirtualService' | 'GatewayRoute'>(
    kind: K,
  ): (K extends 'GatewayRoute' ? GatewayRoute : VirtualService)[] {
    this.reads.add(`${kind}/*`);
    return this.#state.list(kind) as never;
  }

  meshByAwsName(awsName: string): Mesh | undefined {
    this.reads.add('Mesh/*');
    return this.#state.meshByAwsName(awsName);
  }

  byAwsName<K extends 'VirtualNode' | 'VirtualGateway'>(
    kind: K,
    mesh: string,
    awsName: string,
  ): (K extends 'VirtualNode' ? VirtualNode : VirtualGateway) | undefined {
    this.reads.add(`${kind}/aws/${awsName}`);
    return this.#state.byAwsName(kind, mesh, awsName) as never;
  }

  #ref(kind: string, ref: Ref, arn: string | undefined): void {
    if (ref) this.reads.add(`${kind}/${ref.namespace ?? ''}/${ref.name}`);
    else if (arn !== undefined) this.reads.add(`${kind}/*`);
  }

  resolveVirtualNode(ref: { virtualNodeRef?: Ref; virtualNodeARN?: string }): VirtualNode | undefined {
    this.#ref('VirtualNode', ref.virtualNodeRef, ref.virtualNodeARN);
    return this.#state.resolveVirtualNode(ref);
  }

  resolveVirtualService(ref: {
    virtualServiceRef?: Ref;
    virtualServiceARN?: string;
  }): VirtualService | undefined {
    this.#ref('VirtualService', ref.virtualServiceRef, ref.virtualServiceARN);
    return this.#state.resolveVirtualService(ref);
  }

  resolveVirtualRouter(ref: {
    virtualRouterRef?: Ref;
    virtualRouterARN?: string;
  }): VirtualRouter | undefined {
    this.#ref('VirtualRouter', ref.virtualRouterRef, ref.virtualRouterARN);
    return this.#state.resolveVirtualRouter(ref);
  }
}
