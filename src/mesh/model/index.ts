/**
 * `mesh/model`: the `appmesh.k8s.aws/v1beta2` kinds and the Kubernetes kinds the mesh reads, as TypeBox
 * schemas (one source for TS types, ajv validation and CRDs), parsing with defaults and pruning, the
 * admission rules of App Mesh's webhooks, and the validated mesh state. Reference: appmesh-api.md §a.
 */
export * from './schema/common.js';
export * from './schema/tls.js';
export * from './schema/appmesh.js';
export * from './schema/kubernetes.js';
export { KINDS, lookupKind, isNamespacedKind } from './kinds.js';
export type { KindInfo, KindName, AppMeshKind, ResourceOf, MeshResource, AppMeshResource } from './kinds.js';
export { parseResource, parseResourceOrThrow } from './parse.js';
export type { ParseOptions, ParseResult } from './parse.js';
export { admitObject, checkUpdate, routeType } from './admission.js';
export { applyDefaults, defaultAwsName } from './defaults.js';
export { selectorMatches, optionalSelectorMatches, SelectorIndex } from './selectors.js';
export { durationToMs } from './duration.js';
export { formatPath, pointerToSegments } from './path.js';
export type { PathSegments } from './path.js';
export { MeshModelError, InvalidResourceError, formatIssue, formatObjectId, issue } from './errors.js';
export type { ValidationIssue, MeshIssueCode, IssueSeverity } from './errors.js';
export { MeshState, buildMeshState, locateIssue, parseAppMeshArn, SIDECAR_INJECTOR_LABEL } from './state.js';
export type { ResourceOrigin, SourcedResource, AppMeshArn } from './state.js';
