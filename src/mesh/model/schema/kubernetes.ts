/**
 * The Kubernetes kinds the mesh reads: Namespace (labels decide mesh membership and sidecar injection),
 * Service (ports, selector, clusterIP), ServiceAccount, Deployment and Pod (template labels, containers,
 * ports). Only the fields the mesh and the local runtime use are typed; every other field is preserved
 * untouched (these are not our schemas to prune).
 */
import { Type, type Static } from '@sinclair/typebox';
import { LabelSelector, ObjectMeta, OpenObject, StringEnum } from './common.js';

/** `v1 Namespace`. */
export const Namespace = OpenObject({
  apiVersion: Type.Literal('v1'),
  kind: Type.Literal('Namespace'),
  metadata: ObjectMeta,
});
/** A {@link Namespace} object. */
export type Namespace = Static<typeof Namespace>;

/** `v1 ServiceAccount`. */
export const ServiceAccount = OpenObject({
  apiVersion: Type.Literal('v1'),
  kind: Type.Literal('ServiceAccount'),
  metadata: ObjectMeta,
});
/** A {@link ServiceAccount} object. */
export type ServiceAccount = Static<typeof ServiceAccount>;

/** `ServicePort{name?, port, targetPort?, protocol? (default TCP)}`; targetPort defaults to port. */
export const ServicePort = OpenObject({
  name: Type.Optional(Type.String()),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  targetPort: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1, maximum: 65535 }), Type.String({ minLength: 1 })]),
  ),
  protocol: Type.Optional(StringEnum(['TCP', 'UDP', 'SCTP'] as const)),
});
/** A {@link ServicePort} value. */
export type ServicePort = Static<typeof ServicePort>;

/** `v1 Service` with `spec{ports, selector?, clusterIP?, type?}`. */
export const Service = OpenObject({
  apiVersion: Type.Literal('v1'),
  kind: Type.Literal('Service'),
  metadata: ObjectMeta,
  spec: OpenObject({
    ports: Type.Optional(Type.Array(ServicePort)),
    selector: Type.Optional(Type.Record(Type.String(), Type.String())),
    clusterIP: Type.Optional(Type.String()),
    type: Type.Optional(Type.String()),
  }),
});
/** A {@link Service} object. */
export type Service = Static<typeof Service>;

/** `ContainerPort{containerPort, name?, protocol?}`. */
export const ContainerPort = OpenObject({
  containerPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  name: Type.Optional(Type.String()),
  protocol: Type.Optional(StringEnum(['TCP', 'UDP', 'SCTP'] as const)),
});

/** `Container{name, image?, command?, args?, env?, ports?}` (other fields preserved). */
export const Container = OpenObject({
  name: Type.String({ minLength: 1 }),
  image: Type.Optional(Type.String()),
  command: Type.Optional(Type.Array(Type.String())),
  args: Type.Optional(Type.Array(Type.String())),
  env: Type.Optional(
    Type.Array(OpenObject({ name: Type.String({ minLength: 1 }), value: Type.Optional(Type.String()) })),
  ),
  ports: Type.Optional(Type.Array(ContainerPort)),
});
/** A {@link Container} value. */
export type Container = Static<typeof Container>;

/** `PodSpec{containers[≥1], initContainers?, serviceAccountName?}`. */
export const PodSpec = OpenObject({
  containers: Type.Array(Container, { minItems: 1 }),
  initContainers: Type.Optional(Type.Array(Container)),
  serviceAccountName: Type.Optional(Type.String()),
});
/** A {@link PodSpec} value. */
export type PodSpec = Static<typeof PodSpec>;

/** `v1 Pod`. */
export const Pod = OpenObject({
  apiVersion: Type.Literal('v1'),
  kind: Type.Literal('Pod'),
  metadata: ObjectMeta,
  spec: PodSpec,
});
/** A {@link Pod} object. */
export type Pod = Static<typeof Pod>;

/** `apps/v1 Deployment` with `spec{replicas? (default 1), selector, template{metadata{labels}, spec}}`. */
export const Deployment = OpenObject({
  apiVersion: Type.Literal('apps/v1'),
  kind: Type.Literal('Deployment'),
  metadata: ObjectMeta,
  spec: OpenObject({
    replicas: Type.Optional(Type.Integer({ minimum: 0, default: 1 })),
    selector: LabelSelector,
    template: OpenObject({
      metadata: Type.Optional(
        OpenObject({
          labels: Type.Optional(Type.Record(Type.String(), Type.String())),
          annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
        }),
      ),
      spec: PodSpec,
    }),
  }),
});
/** A {@link Deployment} object. */
export type Deployment = Static<typeof Deployment>;
