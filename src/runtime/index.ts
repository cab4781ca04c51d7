/**
 * The local runtime: Kubernetes + App Mesh manifests run on one Linux host, pods as network
 * namespaces, Services as DNAT-ed virtual IPs, App Mesh's sidecar injection, and the pod view
 * the agent's `k8s` workload attestor asks (ARCHITECTURE.md § "The local runtime").
 */
export { LocalRuntime, DEFAULT_STATE_DIR, controlSocketPath, type UpOptions } from './runtime.js';
export {
  Cluster,
  type Pod,
  type Container,
  type Service,
  type ClusterListener,
  type PodPhase,
} from './cluster.js';
export { callControl, servePodInfo, serveControl } from './api.js';
export type { RuntimeStatus, SvidStatus, MeshEdge } from './control.js';
export { cleanupHost, preflight } from './host.js';
export { StateFile, type StateRecord } from './state.js';
export {
  decideInjection,
  selectorMatches,
  INJECTOR_LABEL,
  PROXY_UID,
  ADMIN_PORT,
  type Injection,
} from './injector.js';
export {
  renderProxyInitRules,
  renderServiceRules,
  type ProxyInitConfig,
  type ServiceRule,
} from './iptables.js';
export { AddressPools, parseCidr, renderHosts } from './network.js';
export {
  loadManifests,
  parseManifests,
  loadImageMap,
  resolveImage,
  type Manifest,
  type ImageMap,
} from './manifests.js';
export { systemPaths } from './system.js';
export * from './errors.js';
