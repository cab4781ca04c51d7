/**
 * `mesh/xds`: the Envoy xDS v3 management server (ADS state-of-the-world and per-type streams), its
 * per-node snapshot cache, and the codec between Envoy resources in proto3 JSON shape and wire bytes.
 */
export { encodeAny, decodeAny, encodeMessageJson, typeUrlOf } from './codec.js';
export type { AnyMessage, JsonObject, JsonValue, EncodeOptions } from './codec.js';
export { envoyProtoRoot, envoyProtoIncludeDirs, lookupMessageType } from './protos.js';
export {
  SnapshotCache,
  TypeUrl,
  pushOrder,
  wildcardTypes,
  resourceName,
  buildTypeSnapshot,
} from './snapshot-cache.js';
export type {
  Snapshot,
  TypeSnapshot,
  SnapshotResource,
  ResourcesByType,
  SnapshotListener,
} from './snapshot-cache.js';
export {
  XdsServer,
  aggregatedDiscoveryServiceClient,
  maxNodeIdBytes,
  parseListenAddress,
  xdsChannels,
} from './server.js';
export type { XdsServerOptions, XdsLogger, XdsAckEvent } from './server.js';
export {
  XdsError,
  ResourceEncodingError,
  UnknownTypeUrlError,
  XdsServerClosedError,
  InvalidListenAddressError,
} from './errors.js';
