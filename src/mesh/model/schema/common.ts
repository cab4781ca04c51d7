/**
 * Shared building blocks of the `appmesh.k8s.aws/v1beta2` schemas: durations, ports, label selectors,
 * references and object metadata (App Mesh API reference §a.0).
 *
 * Every schema here is a plain JSON Schema built with TypeBox, so one source gives the static TS types,
 * the ajv validation and (later) the CRD manifests. Objects are *structural*: each nested object lists its
 * `properties`, so unknown nested fields are pruned with a warning (Kubernetes structural-schema pruning);
 * objects flagged with {@link PRESERVE_UNKNOWN} keep unknown fields (CRD roots, Kubernetes metadata).
 */
import { Type, type Static, type TSchema, type TProperties, type ObjectOptions } from '@sinclair/typebox';

/** Schema annotation (kubebuilder `PreserveUnknownFields`): unknown fields under this object are kept as-is. */
export const PRESERVE_UNKNOWN = 'x-kubernetes-preserve-unknown-fields';

/** A structural object: unknown nested fields are pruned (with a warning) before validation. */
export function StructObject<T extends TProperties>(properties: T, options: ObjectOptions = {}) {
  return Type.Object(properties, options);
}

/** An object whose unknown fields are preserved (Kubernetes `x-kubernetes-preserve-unknown-fields: true`). */
export function OpenObject<T extends TProperties>(properties: T, options: ObjectOptions = {}) {
  return Type.Object(properties, { ...options, [PRESERVE_UNKNOWN]: true });
}

/** A string enum as a JSON Schema `enum` (ajv reports the allowed values on mismatch). */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description?: string } = {},
) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** A bounded string (`minLength`/`maxLength` as in the CRD's kubebuilder markers). */
export function BoundedString(minLength: number, maxLength: number, description?: string) {
  return Type.String({ minLength, maxLength, ...(description ? { description } : {}) });
}

/** `PortNumber`: 1–65535. */
export const PortNumber = Type.Integer({ minimum: 1, maximum: 65535, description: 'PortNumber: 1–65535' });

/** `PortProtocol` of virtual nodes and virtual routers: `http | http2 | grpc | tcp`. */
export const PortProtocol = StringEnum(['http', 'http2', 'grpc', 'tcp'] as const);
/** A {@link PortProtocol} value. */
export type PortProtocol = Static<typeof PortProtocol>;

/** `VirtualGatewayPortProtocol`: `http | http2 | grpc` (no tcp in the CRD enum). */
export const VirtualGatewayPortProtocol = StringEnum(['http', 'http2', 'grpc'] as const);
/** A {@link VirtualGatewayPortProtocol} value. */
export type VirtualGatewayPortProtocol = Static<typeof VirtualGatewayPortProtocol>;

/** `PortMapping{port, protocol}` of a virtual node or virtual router listener. */
export const PortMapping = StructObject({ port: PortNumber, protocol: PortProtocol });
/** A {@link PortMapping} value. */
export type PortMapping = Static<typeof PortMapping>;

/** `Duration{unit: s|ms, value ≥ 0}` (App Mesh API `Duration`). */
export const Duration = StructObject({
  unit: StringEnum(['s', 'ms'] as const),
  value: Type.Integer({ minimum: 0 }),
});
/** A {@link Duration} value; convert with `durationToMs`. */
export type Duration = Static<typeof Duration>;

/** Kubernetes `LabelSelectorRequirement{key, operator, values?}`. */
export const LabelSelectorRequirement = StructObject({
  key: Type.String({ minLength: 1 }),
  operator: StringEnum(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const),
  values: Type.Optional(Type.Array(Type.String())),
});
/** A {@link LabelSelectorRequirement} value. */
export type LabelSelectorRequirement = Static<typeof LabelSelectorRequirement>;

/**
 * Kubernetes `metav1.LabelSelector`. Semantics (k8s `LabelSelectorAsSelector`, reference §a.0): an absent
 * (nil) selector selects nothing; a present-but-empty `{}` selects everything. See `selectorMatches`.
 */
export const LabelSelector = StructObject({
  matchLabels: Type.Optional(Type.Record(Type.String(), Type.String())),
  matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirement)),
});
/** A {@link LabelSelector} value. */
export type LabelSelector = Static<typeof LabelSelector>;

/** Kubernetes `ObjectMeta` subset the mesh reads; other metadata fields are preserved untouched. */
export const ObjectMeta = OpenObject({
  name: Type.String({ minLength: 1, maxLength: 253 }),
  namespace: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  generation: Type.Optional(Type.Integer()),
});
/** A {@link ObjectMeta} value. */
export type ObjectMeta = Static<typeof ObjectMeta>;

/** `MeshReference{name, uid}`: read-only, set by admission from the namespace's mesh. */
export const MeshReference = StructObject({ name: Type.String({ minLength: 1 }), uid: Type.String() });
/** A {@link MeshReference} value. */
export type MeshReference = Static<typeof MeshReference>;

/** `{name, namespace?}` reference; namespace defaults to the referencing object's namespace (§a.0). */
function NamespacedRef(description: string) {
  return StructObject(
    { name: Type.String({ minLength: 1 }), namespace: Type.Optional(Type.String({ minLength: 1 })) },
    { description },
  );
}

/** `VirtualNodeReference{name, namespace?}`. */
export const VirtualNodeReference = NamespacedRef('reference to a VirtualNode');
/** A {@link VirtualNodeReference} value. */
export type VirtualNodeReference = Static<typeof VirtualNodeReference>;
/** `VirtualServiceReference{name, namespace?}`. */
export const VirtualServiceReference = NamespacedRef('reference to a VirtualService');
/** A {@link VirtualServiceReference} value. */
export type VirtualServiceReference = Static<typeof VirtualServiceReference>;
/** `VirtualRouterReference{name, namespace?}`. */
export const VirtualRouterReference = NamespacedRef('reference to a VirtualRouter');
/** A {@link VirtualRouterReference} value. */
export type VirtualRouterReference = Static<typeof VirtualRouterReference>;
/** `BackendGroupReference{name, namespace?}`; `name: "*"` = all VirtualServices of that namespace. */
export const BackendGroupReference = NamespacedRef('reference to a BackendGroup');
/** A {@link BackendGroupReference} value. */
export type BackendGroupReference = Static<typeof BackendGroupReference>;

/** `VirtualGatewayReference{name, namespace?, uid}`: read-only on GatewayRoute, set by admission. */
export const VirtualGatewayReference = StructObject({
  name: Type.String({ minLength: 1 }),
  namespace: Type.Optional(Type.String({ minLength: 1 })),
  uid: Type.String(),
});
/** A {@link VirtualGatewayReference} value. */
export type VirtualGatewayReference = Static<typeof VirtualGatewayReference>;

/** Header / metadata match method: exactly one of `exact`, `prefix`, `suffix`, `regex` (1–255) or `range{start,end}`. */
export const HeaderMatchMethod = StructObject({
  exact: Type.Optional(BoundedString(1, 255)),
  prefix: Type.Optional(BoundedString(1, 255)),
  suffix: Type.Optional(BoundedString(1, 255)),
  regex: Type.Optional(BoundedString(1, 255, 'RE2, full-string match')),
  range: Type.Optional(StructObject({ start: Type.Integer(), end: Type.Integer() })),
});
/** A {@link HeaderMatchMethod} value. */
export type HeaderMatchMethod = Static<typeof HeaderMatchMethod>;

/** `HTTPPathMatch`: exactly one of `exact` or `regex` (1–255). */
export const HTTPPathMatch = StructObject({
  exact: Type.Optional(BoundedString(1, 255)),
  regex: Type.Optional(BoundedString(1, 255)),
});
/** A {@link HTTPPathMatch} value. */
export type HTTPPathMatch = Static<typeof HTTPPathMatch>;

/** `HTTPQueryParameters{name, match?{exact}}`. */
export const HTTPQueryParameters = StructObject({
  name: Type.String({ minLength: 1 }),
  match: Type.Optional(StructObject({ exact: Type.Optional(Type.String()) })),
});
/** A {@link HTTPQueryParameters} value. */
export type HTTPQueryParameters = Static<typeof HTTPQueryParameters>;

/** HTTP methods a route may match on. */
export const HTTPMethod = StringEnum([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
] as const);
/** A {@link HTTPMethod} value. */
export type HTTPMethod = Static<typeof HTTPMethod>;

/** `AccessLog.file.format`: `text` or `json[]{key, value}`. */
export const LoggingFormat = StructObject({
  text: Type.Optional(BoundedString(1, 1000)),
  json: Type.Optional(
    Type.Array(StructObject({ key: BoundedString(1, 100), value: BoundedString(1, 100) }), { minItems: 1 }),
  ),
});
/** A {@link LoggingFormat} value. */
export type LoggingFormat = Static<typeof LoggingFormat>;

/** `Logging{accessLog?{file?{path 1–255, format?}}}` of virtual nodes and virtual gateways. */
export const Logging = StructObject({
  accessLog: Type.Optional(
    StructObject({
      file: Type.Optional(
        StructObject({ path: BoundedString(1, 255), format: Type.Optional(LoggingFormat) }),
      ),
    }),
  ),
});
/** A {@link Logging} value. */
export type Logging = Static<typeof Logging>;

/** Any schema (re-exported for generic helpers). */
export type AnySchema = TSchema;
