/**
 * `mesh`: App Mesh v1beta2 manifests → Envoy xDS. The parts, bottom-up: `model` (kinds, validation,
 * mesh state), `sources` (manifest files, the resource store), `compile` (Envoy resources per proxy
 * node, the control plane loop) and `xds` (snapshot cache and ADS server). Import a part's own index
 * for everything it offers; this index names the entry points a caller needs to run a control plane.
 */
export { ResourceStore, ManifestWatcher, readManifests, loadManifestsInto } from './sources/index.js';
export {
  ControlPlane,
  compileMesh,
  compileNode,
  configDump,
  meshNodeIds,
  parseNodeId,
  formatNodeId,
} from './compile/index.js';
export type {
  CompileReport,
  CompileOptions,
  EndpointResolver,
  NodeConfig,
  CompileIssue,
} from './compile/index.js';
export { SnapshotCache, XdsServer, TypeUrl } from './xds/index.js';
export type { XdsServerOptions, XdsLogger } from './xds/index.js';
