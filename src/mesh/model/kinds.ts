/**
 * The registry of kinds the mesh reads: apiVersion/kind → schema and scope. One table drives parsing,
 * store keys and (later) CRD generation.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import {
  APPMESH_API_VERSION,
  BackendGroup,
  GatewayRoute,
  Mesh,
  VirtualGateway,
  VirtualNode,
  VirtualRouter,
  VirtualService,
} from './schema/appmesh.js';
import { Deployment, Namespace, Pod, Service, ServiceAccount } from './schema/kubernetes.js';

/** One entry of the kind registry. */
export interface KindInfo {
  apiVersion: string;
  kind: string;
  /** false for cluster-scoped kinds (Mesh, Namespace). */
  namespaced: boolean;
  schema: TSchema;
  /** true for the App Mesh CRD kinds (structural `spec`, admission rules apply). */
  appMesh: boolean;
}

/** Every kind the mesh reads, App Mesh first. */
export const KINDS = {
  Mesh: { apiVersion: APPMESH_API_VERSION, kind: 'Mesh', namespaced: false, schema: Mesh, appMesh: true },
  VirtualNode: {
    apiVersion: APPMESH_API_VERSION,
    kind: 'VirtualNode',
    namespaced: true,
    schema: VirtualNode,
    appMesh: true,
  },
  VirtualService: {
    apiVersion: APPMESH_API_VERSION,
    kind: 'VirtualService',
    namespaced: true,
    schema: VirtualService,
    appMesh: true,
  },
  VirtualRouter: {
    apiVersion: APPMESH_API_VERSION,
    kind: 'VirtualRouter',
    namespaced: true,
    schema: VirtualRouter,
    appMesh: true,
  },
  VirtualGateway: {
    apiVersion: APPMESH_API_VERSION,
    kind: 'VirtualGateway',
    namespaced: true,
    schema: VirtualGateway,
    appMesh: true,
  },
  GatewayRoute: {
    apiVersion: APPMESH_API_VERSION,
    kind: 'GatewayRoute',
    namespaced: true,
    schema: GatewayRoute,
    appMesh: true,
  },
  BackendGroup: {
    apiVersion: APPMESH_API_VERSION,
    kind: 'BackendGroup',
    namespaced: true,
    schema: BackendGroup,
    appMesh: true,
  },
  Namespace: { apiVersion: 'v1', kind: 'Namespace', namespaced: false, schema: Namespace, appMesh: false },
  ServiceAccount: {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    namespaced: true,
    schema: ServiceAccount,
    appMesh: false,
  },
  Service: { apiVersion: 'v1', kind: 'Service', namespaced: true, schema: Service, appMesh: false },
  Pod: { apiVersion: 'v1', kind: 'Pod', namespaced: true, schema: Pod, appMesh: false },
  Deployment: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    namespaced: true,
    schema: Deployment,
    appMesh: false,
  },
} as const satisfies Record<string, KindInfo>;

/** Name of a kind the mesh reads. */
export type KindName = keyof typeof KINDS;

/** The App Mesh kinds. */
export type AppMeshKind =
  | 'Mesh'
  | 'VirtualNode'
  | 'VirtualService'
  | 'VirtualRouter'
  | 'VirtualGateway'
  | 'GatewayRoute'
  | 'BackendGroup';

/** The parsed object type of each kind. */
export type ResourceOf<K extends KindName> = Static<(typeof KINDS)[K]['schema']>;

/** Any resource the mesh reads (discriminated by `kind`). */
export type MeshResource = { [K in KindName]: ResourceOf<K> }[KindName];

/** Any App Mesh resource. */
export type AppMeshResource = ResourceOf<AppMeshKind>;

/** Looks up a kind by apiVersion and kind; undefined if the mesh does not read it. */
export function lookupKind(apiVersion: unknown, kind: unknown): KindInfo | undefined {
  if (typeof kind !== 'string' || !Object.hasOwn(KINDS, kind)) return undefined;
  const info: KindInfo = KINDS[kind as KindName];
  return info.apiVersion === apiVersion ? info : undefined;
}

/** True if the kind is namespaced (false for Mesh and Namespace). */
export function isNamespacedKind(kind: KindName): boolean {
  return KINDS[kind].namespaced;
}
