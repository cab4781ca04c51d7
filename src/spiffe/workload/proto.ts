/**
 * The SPIFFE Workload API service (`proto/spiffe/workload.proto`, reference spiffe.md §e.1), loaded at
 * runtime with `@grpc/proto-loader`. The client here and the agent's Workload API server both load it
 * through {@link loadWorkloadApi}, so there is exactly one copy of the proto.
 *
 * Loader options are fixed so both sides see the same JS shapes: field names keep the proto's
 * snake_case (`spiffe_id`, `x509_svid`), bytes are `Buffer`, absent scalars/repeated/map fields are
 * filled with their proto3 defaults, and `google.protobuf.Value` carries its oneof name in `kind`.
 */
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { grpcServiceLoader, type LoadedGrpcService } from './service-loader.js';

/** Absolute path of `workload.proto`. */
export const WORKLOAD_API_PROTO_PATH = fileURLToPath(
  new URL('../../../proto/spiffe/workload.proto', import.meta.url),
);

/** Fully qualified gRPC service name: no proto package, so method paths are `/SpiffeWorkloadAPI/<Method>`. */
export const WORKLOAD_API_SERVICE_NAME = 'SpiffeWorkloadAPI';

/**
 * Metadata key every Workload API request carries with the value {@link WORKLOAD_API_HEADER_VALUE}
 * (SPIFFE Workload Endpoint §4; servers answer InvalidArgument without it).
 */
export const WORKLOAD_API_HEADER = 'workload.spiffe.io';
/** The only accepted value of {@link WORKLOAD_API_HEADER} (case-sensitive). */
export const WORKLOAD_API_HEADER_VALUE = 'true';

/** Options handed to `@grpc/proto-loader` (snake_case fields, bytes → Buffer, proto3 defaults filled). */
export const WORKLOAD_API_PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

/** FetchX509SVID request (no fields). */
export type X509SvidRequestMessage = Record<string, never>;

/** One X.509-SVID on the wire: all bytes are DER (chain leaf first, concatenated; key PKCS#8). */
export interface X509SvidMessage {
  /** `spiffe://td/path` */
  spiffe_id: string;
  /** concatenated DER certificates, leaf first */
  x509_svid: Buffer;
  /** PKCS#8 DER, unencrypted */
  x509_svid_key: Buffer;
  /** concatenated DER root certificates of the SVID's trust domain */
  bundle: Buffer;
  hint: string;
}

/** A FetchX509SVID stream message: the complete current state; `svids[0]` is the default identity. */
export interface X509SvidResponseMessage {
  svids: X509SvidMessage[];
  /** DER CRLs */
  crl: Buffer[];
  /** `spiffe://<foreign td>` → concatenated DER root certificates */
  federated_bundles: Record<string, Buffer>;
}

/** FetchX509Bundles request (no fields). */
export type X509BundlesRequestMessage = Record<string, never>;

/** A FetchX509Bundles stream message: every X.509 bundle, complete state. */
export interface X509BundlesResponseMessage {
  crl: Buffer[];
  /** `spiffe://td` → concatenated DER root certificates */
  bundles: Record<string, Buffer>;
}

/** FetchJWTSVID request: `audience` must be non-empty; `spiffe_id` empty = every identity. */
export interface JwtSvidRequestMessage {
  audience: string[];
  spiffe_id: string;
}

/** One JWT-SVID: the token in JWS compact serialization. */
export interface JwtSvidMessage {
  spiffe_id: string;
  svid: string;
  hint: string;
}

/** FetchJWTSVID response: one JWT-SVID per matching identity, the default first. */
export interface JwtSvidResponseMessage {
  svids: JwtSvidMessage[];
}

/** FetchJWTBundles request (no fields). */
export type JwtBundlesRequestMessage = Record<string, never>;

/** A FetchJWTBundles stream message: `spiffe://td` → JWKS JSON (UTF-8 bytes). */
export interface JwtBundlesResponseMessage {
  bundles: Record<string, Buffer>;
}

/** ValidateJWTSVID request: both fields required. */
export interface ValidateJwtSvidRequestMessage {
  audience: string;
  /** JWS compact serialization */
  svid: string;
}

/** ValidateJWTSVID response: the token's `sub` and all its claims. */
export interface ValidateJwtSvidResponseMessage {
  spiffe_id: string;
  claims: StructMessage | null;
}

/** FetchWITSVID request (incubating WIT-SVID profile); `spiffe_id` empty = all identities. */
export interface WitSvidRequestMessage {
  spiffe_id: string;
}

/** One WIT-SVID (incubating): the token and its private JWK. */
export interface WitSvidMessage {
  spiffe_id: string;
  wit_svid: string;
  /** private JWK, JSON */
  wit_svid_key: string;
  hint: string;
}

/** FetchWITSVID stream message (incubating). */
export interface WitSvidResponseMessage {
  svids: WitSvidMessage[];
}

/** FetchWITBundles request (incubating; no fields). */
export type WitBundlesRequestMessage = Record<string, never>;

/** `spiffe://td` → WIT bundle JSON (a string, unlike the other bundle maps). */
export interface WitBundlesResponseMessage {
  bundles: Record<string, string>;
}

/** `google.protobuf.Struct` as proto-loader shapes it. */
export interface StructMessage {
  fields: Record<string, ValueMessage>;
}

/** `google.protobuf.Value`: exactly one member is set, named by `kind`. */
export type ValueMessage =
  | { kind: 'nullValue'; nullValue: 'NULL_VALUE' | 0 }
  | { kind: 'numberValue'; numberValue: number }
  | { kind: 'stringValue'; stringValue: string }
  | { kind: 'boolValue'; boolValue: boolean }
  | { kind: 'structValue'; structValue: StructMessage }
  | { kind: 'listValue'; listValue: { values: ValueMessage[] } };

/** A JSON value as carried by `google.protobuf.Struct`. */
export type JsonValue = null | number | string | boolean | JsonValue[] | { [key: string]: JsonValue };

/**
 * Converts a JSON object (e.g. JWT claims) to a `google.protobuf.Struct` message.
 * `undefined` members are dropped, as JSON.stringify would; numbers become doubles.
 */
export function jsonToStruct(obj: Record<string, unknown>): StructMessage {
  const fields: Record<string, ValueMessage> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (value !== undefined) fields[key] = jsonToValue(value);
  }
  return { fields };
}

function jsonToValue(value: unknown): ValueMessage {
  if (value === null) return { kind: 'nullValue', nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { kind: 'numberValue', numberValue: value };
  if (typeof value === 'string') return { kind: 'stringValue', stringValue: value };
  if (typeof value === 'boolean') return { kind: 'boolValue', boolValue: value };
  if (Array.isArray(value)) return { kind: 'listValue', listValue: { values: value.map(jsonToValue) } };
  if (typeof value === 'object') {
    return { kind: 'structValue', structValue: jsonToStruct(value as Record<string, unknown>) };
  }
  // bigint, function, symbol: not representable in JSON; carry their text like JSON tools do.
  return { kind: 'stringValue', stringValue: String(value) };
}

/** Converts a `google.protobuf.Struct` message (or null = absent) back to a plain JSON object. */
export function structToJson(struct: StructMessage | null | undefined): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = valueToJson(value);
  return out;
}

function valueToJson(value: ValueMessage): JsonValue {
  switch (value.kind) {
    case 'numberValue':
      return value.numberValue;
    case 'stringValue':
      return value.stringValue;
    case 'boolValue':
      return value.boolValue;
    case 'structValue':
      return structToJson(value.structValue);
    case 'listValue':
      return (value.listValue.values ?? []).map(valueToJson);
    default:
      return null;
  }
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;

/** Typed grpc-js client stub for `SpiffeWorkloadAPI` (the generic client's methods). */
export interface WorkloadApiStub extends grpc.Client {
  FetchX509SVID(
    req: X509SvidRequestMessage,
    md: grpc.Metadata,
    opts?: Partial<grpc.CallOptions>,
  ): grpc.ClientReadableStream<X509SvidResponseMessage>;
  FetchX509Bundles(
    req: X509BundlesRequestMessage,
    md: grpc.Metadata,
    opts?: Partial<grpc.CallOptions>,
  ): grpc.ClientReadableStream<X509BundlesResponseMessage>;
  FetchJWTSVID(
    req: JwtSvidRequestMessage,
    md: grpc.Metadata,
    opts: Partial<grpc.CallOptions>,
    cb: Callback<JwtSvidResponseMessage>,
  ): grpc.ClientUnaryCall;
  FetchJWTBundles(
    req: JwtBundlesRequestMessage,
    md: grpc.Metadata,
    opts?: Partial<grpc.CallOptions>,
  ): grpc.ClientReadableStream<JwtBundlesResponseMessage>;
  ValidateJWTSVID(
    req: ValidateJwtSvidRequestMessage,
    md: grpc.Metadata,
    opts: Partial<grpc.CallOptions>,
    cb: Callback<ValidateJwtSvidResponseMessage>,
  ): grpc.ClientUnaryCall;
  FetchWITSVID(
    req: WitSvidRequestMessage,
    md: grpc.Metadata,
    opts?: Partial<grpc.CallOptions>,
  ): grpc.ClientReadableStream<WitSvidResponseMessage>;
  FetchWITBundles(
    req: WitBundlesRequestMessage,
    md: grpc.Metadata,
    opts?: Partial<grpc.CallOptions>,
  ): grpc.ClientReadableStream<WitBundlesResponseMessage>;
}

/** Constructor of {@link WorkloadApiStub}: `new Client('unix:///path', grpc.credentials.createInsecure())`. */
export type WorkloadApiStubConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => WorkloadApiStub;

/** Server-side handlers for `SpiffeWorkloadAPI` (grpc-js shapes). */
export interface WorkloadApiServiceHandlers extends grpc.UntypedServiceImplementation {
  FetchX509SVID: grpc.handleServerStreamingCall<X509SvidRequestMessage, X509SvidResponseMessage>;
  FetchX509Bundles: grpc.handleServerStreamingCall<X509BundlesRequestMessage, X509BundlesResponseMessage>;
  FetchJWTSVID: grpc.handleUnaryCall<JwtSvidRequestMessage, JwtSvidResponseMessage>;
  FetchJWTBundles: grpc.handleServerStreamingCall<JwtBundlesRequestMessage, JwtBundlesResponseMessage>;
  ValidateJWTSVID: grpc.handleUnaryCall<ValidateJwtSvidRequestMessage, ValidateJwtSvidResponseMessage>;
  FetchWITSVID: grpc.handleServerStreamingCall<WitSvidRequestMessage, WitSvidResponseMessage>;
  FetchWITBundles: grpc.handleServerStreamingCall<WitBundlesRequestMessage, WitBundlesResponseMessage>;
}

/** What {@link loadWorkloadApi} returns: the package definition, service definition and client constructor. */
export type WorkloadApi = LoadedGrpcService<WorkloadApiServiceHandlers, WorkloadApiStubConstructor>;

/**
 * Loads `workload.proto` (synchronously, once per process) and returns its package definition, the
 * grpc-js service definition and the client constructor. `google/protobuf/struct.proto` comes from
 * protobufjs' bundled well-known types. Throws if the proto file is missing or invalid.
 */
export const loadWorkloadApi: () => WorkloadApi = grpcServiceLoader(
  WORKLOAD_API_PROTO_PATH,
  WORKLOAD_API_SERVICE_NAME,
  WORKLOAD_API_PROTO_LOADER_OPTIONS,
);
