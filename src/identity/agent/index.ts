/**
 * The identity agent (SPIRE agent): workload attestation (unix, k8s via a pod-info source), the SVID
 * cache with rotation, the SPIFFE Workload API and Envoy SDS v3 on one unix socket.
 */
export { Agent, type AgentStartOptions } from './agent.js';
export {
  resolveAgentConfig,
  readAgentConfigFile,
  DEFAULT_AGENT_SOCKET_PATH,
  type AgentConfig,
  type AgentRunFlags,
  type NodeAttestorConfig,
} from './config.js';
export {
  SvidCache,
  certificateChain,
  type CachedSvid,
  type CertificateChain,
  type WorkloadIdentity,
  type WorkloadSnapshot,
} from './cache.js';
export { AgentManager, type AgentManagerOptions } from './manager.js';
export { AgentEndpoints, type AgentEndpointsOptions } from './endpoints.js';
export {
  registerWorkloadApi,
  workloadApiService,
  type WorkloadApiDeps,
  type JwtSvidIssuer,
} from './workload-api.js';
export {
  registerSds,
  buildSecrets,
  sdsService,
  DEFAULT_SDS_OPTIONS,
  type SdsOptions,
  type SdsDeps,
} from './sds.js';
export { registerReflection } from './reflection.js';
export {
  agentFileRegistry,
  buildFileRegistry,
  SECRET_TYPE_URL,
  WORKLOAD_PROTO_PATH,
  ENVOY_PROTO_INCLUDE_DIRS,
} from './protos.js';
export { WorkloadAttestation } from './workload-attestation.js';
export { identifyPeer, assertPeerUnchanged, processStartTime, type PeerProcess } from './peer.js';
export { UnixAttestor, type UnixAttestorOptions } from './attestors/unix.js';
export { K8sAttestor } from './attestors/k8s.js';
export { HttpPodInfoSource, parsePodInfo, type HttpPodInfoSourceOptions } from './attestors/pod-info.js';
export type { WorkloadAttestor, PodInfo, PodInfoSource } from './attestors/types.js';
export { joinTokenAttestor, k8sSatAttestor, type NodeAttestor } from './node-attestors.js';
export {
  shouldRotate,
  rotationTimeMs,
  drawRotationJitter,
  ROTATION_JITTER,
  type Validity,
} from './rotation.js';
export { Backoff } from './backoff.js';
export { parseSelector, selectorString, selectorsMatch, type Selector } from './selectors.js';
export { AgentMetrics } from './metrics.js';
export * from './errors.js';
