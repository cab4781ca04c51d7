/**
 * The identity server ↔ agent API (`proto/trustmesh/identity/v1/agent.proto`), loaded at runtime with
 * `@grpc/proto-loader` for `@grpc/grpc-js`.
 *
 * Loader options are fixed so both sides see the same JS shapes: field names keep the proto's
 * snake_case (`spiffe_id`, `cert_chain`), int64 fields are JS `number` (unix seconds and revision
 * numbers stay far below 2^53), bytes are `Buffer`, and absent scalars/repeated fields are filled with
 * their proto3 defaults. The message interfaces below describe exactly those shapes.
 */
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { grpcServiceLoader, type LoadedGrpcService } from '../../spiffe/index.js';

/** Absolute path of `agent.proto`. */
export const AGENT_PROTO_PATH = fileURLToPath(
  new URL('../../../proto/trustmesh/identity/v1/agent.proto', import.meta.url),
);

/** Fully qualified gRPC service name. */
export const AGENT_SERVICE_NAME = 'trustmesh.identity.v1.Agent';

/** Options handed to `@grpc/proto-loader` (snake_case fields, int64 → number, bytes → Buffer). */
export const AGENT_PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

/** A selector `type:value` (SPIRE `Selector`). */
export interface SelectorMessage {
  type: string;
  value: string;
}

/** A per-item status (gRPC code + message) inside batch results. */
export interface StatusMessage {
  /** a `grpc.status` code; 0 = OK */
  code: number;
  message: string;
}

/** Node attestation request. `payload`: join_token → the token (UTF-8); k8s_sat → `{"cluster","token"}` JSON. */
export interface AttestAgentRequestMessage {
  attestation_type: string;
  payload: Buffer;
  /** PKCS#10 DER for the agent's key */
  csr: Buffer;
}

/** Node attestation result: the agent SVID and the node selectors the server recorded. */
export interface AttestAgentResponseMessage {
  spiffe_id: string;
  /** DER certificates, leaf first */
  cert_chain: Buffer[];
  /** unix seconds */
  expires_at: number;
  selectors: SelectorMessage[];
}

/** Agent SVID renewal: a CSR for the (new) agent key. */
export interface RenewAgentRequestMessage {
  csr: Buffer;
}

/** One X509-SVID: SPIFFE ID, DER chain (leaf first), expiry in unix seconds. */
export interface X509SvidResultMessage {
  spiffe_id: string;
  cert_chain: Buffer[];
  expires_at: number;
}

/** A registration entry as the agent sees it (subset of SPIRE `spire.api.types.Entry`). */
export interface EntryMessage {
  id: string;
  spiffe_id: string;
  parent_id: string;
  selectors: SelectorMessage[];
  /** seconds; 0 = server default */
  x509_svid_ttl: number;
  /** seconds; 0 = server default */
  jwt_svid_ttl: number;
  dns_names: string[];
  /** `spiffe://<td>` */
  federates_with: string[];
  admin: boolean;
  downstream: boolean;
  /** unix seconds; 0 = never */
  expires_at: number;
  hint: string;
  revision_number: number;
  /** unix seconds */
  created_at: number;
}

/** Incremental, paged sync. `since_revision` 0 = full sync; `page_size` 0 = server default. */
export interface SyncAuthorizedEntriesRequestMessage {
  since_revision: number;
  page_token: string;
  page_size: number;
}

/** One page of a sync answer; `full` = drop everything not in the (all-pages) answer. */
export interface SyncAuthorizedEntriesResponseMessage {
  entries: EntryMessage[];
  removed_entry_ids: string[];
  revision: number;
  /** empty on the last page */
  next_page_token: string;
  full: boolean;
}

export type WatchRevisionsRequestMessage = Record<string, never>;

/** Pushed whenever entries or bundles change. */
export interface WatchRevisionsResponseMessage {
  entry_revision: number;
  bundle_sequence: number;
}

/** One CSR to sign for one entry. */
export interface NewX509SvidParamsMessage {
  entry_id: string;
  /** PKCS#10 DER */
  csr: Buffer;
}

export interface BatchNewX509SvidRequestMessage {
  params: NewX509SvidParamsMessage[];
}

/** Result for one param, in request order; `status.code` ≠ 0 means no certificate. */
export interface BatchNewX509SvidResultMessage {
  status: StatusMessage | null;
  entry_id: string;
  spiffe_id: string;
  cert_chain: Buffer[];
  expires_at: number;
}

export interface BatchNewX509SvidResponseMessage {
  results: BatchNewX509SvidResultMessage[];
}

export interface NewJwtSvidRequestMessage {
  entry_id: string;
  audience: string[];
}

export interface NewJwtSvidResponseMessage {
  spiffe_id: string;
  token: string;
  /** unix seconds */
  expires_at: number;
}

export type GetBundlesRequestMessage = Record<string, never>;

/** Bundles as SPIFFE bundle JSON (Trust Domain and Bundle §4); federated keyed by `spiffe://<td>`. */
export interface GetBundlesResponseMessage {
  bundle: Buffer;
  federated_bundles: Record<string, Buffer>;
  sequence: number;
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;

/** Typed client for the Agent service (a grpc-js generic client with the methods below). */
export interface AgentClient extends grpc.Client {
  AttestAgent(req: AttestAgentRequestMessage, cb: Callback<AttestAgentResponseMessage>): grpc.ClientUnaryCall;
  AttestAgent(
    req: AttestAgentRequestMessage,
    md: grpc.Metadata,
    opts: Partial<grpc.CallOptions>,
    cb: Callback<AttestAgentResponseMessage>,
  ): grpc.ClientUnaryCall;
  RenewAgent(req: RenewAgentRequestMessage, cb: Callback<X509SvidResultMessage>): grpc.ClientUnaryCall;
  SyncAuthorizedEntries(
    req: Partial<SyncAuthorizedEntriesRequestMessage>,
    cb: Callback<SyncAuthorizedEntriesResponseMessage>,
  ): grpc.ClientUnaryCall;
  WatchRevisions(req: WatchRevisionsRequestMessage): grpc.ClientReadableStream<WatchRevisionsResponseMessage>;
  BatchNewX509Svid(
    req: BatchNewX509SvidRequestMessage,
    cb: Callback<BatchNewX509SvidResponseMessage>,
  ): grpc.ClientUnaryCall;
  NewJwtSvid(req: NewJwtSvidRequestMessage, cb: Callback<NewJwtSvidResponseMessage>): grpc.ClientUnaryCall;
  GetBundles(req: GetBundlesRequestMessage, cb: Callback<GetBundlesResponseMessage>): grpc.ClientUnaryCall;
}

/** Constructor of {@link AgentClient} (grpc-js `makeGenericClientConstructor` shape). */
export type AgentClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => AgentClient;

/** Server-side handlers for the Agent service. */
export interface AgentServiceHandlers extends grpc.UntypedServiceImplementation {
  AttestAgent: grpc.handleUnaryCall<AttestAgentRequestMessage, AttestAgentResponseMessage>;
  RenewAgent: grpc.handleUnaryCall<RenewAgentRequestMessage, X509SvidResultMessage>;
  SyncAuthorizedEntries: grpc.handleUnaryCall<
    SyncAuthorizedEntriesRequestMessage,
    SyncAuthorizedEntriesResponseMessage
  >;
  WatchRevisions: grpc.handleServerStreamingCall<WatchRevisionsRequestMessage, WatchRevisionsResponseMessage>;
  BatchNewX509Svid: grpc.handleUnaryCall<BatchNewX509SvidRequestMessage, BatchNewX509SvidResponseMessage>;
  NewJwtSvid: grpc.handleUnaryCall<NewJwtSvidRequestMessage, NewJwtSvidResponseMessage>;
  GetBundles: grpc.handleUnaryCall<GetBundlesRequestMessage, GetBundlesResponseMessage>;
}

/** What {@link loadAgentApi} returns: the Agent service definition and client constructor. */
export type AgentApi = LoadedGrpcService<AgentServiceHandlers, AgentClientConstructor>;

/**
 * Loads `agent.proto` (synchronously, once per process) and returns the Agent service definition and
 * client constructor. Throws if the proto file is missing or invalid.
 */
export const loadAgentApi: () => AgentApi = grpcServiceLoader(
  AGENT_PROTO_PATH,
  AGENT_SERVICE_NAME,
  AGENT_PROTO_LOADER_OPTIONS,
);
