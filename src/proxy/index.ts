/**
 * The trustmesh sidecar proxy: an Envoy-compatible data plane configured by Envoy v3 xDS (ADS) and
 * SDS, or by a static Envoy bootstrap. See `Proxy` for the object model and `runProxy` for the
 * `trustmesh proxy run` entry point.
 */
export { Proxy, type ProxyOptions } from './proxy.js';
export { runProxy, type RunningProxy } from './run.js';
export {
  resolveSettings,
  DEFAULT_ADMIN_PORT,
  DEFAULT_SDS_SOCKET_PATH,
  type ProxyRunFlags,
  type ProxyRunSettings,
} from './bootstrap.js';
export { AdsClient, SdsClient, encodeAny, decodeAny, serviceClients, type ServiceClients } from './xds.js';
export { ProxyError, ConfigError, PeerVerificationError, UpstreamError, ClosedError } from './errors.js';
export {
  TypeUrl,
  parseBootstrap,
  parseCluster,
  parseListener,
  parseRouteConfiguration,
  parseLoadAssignment,
  parseSecret,
} from './config.js';
export { RouteTable } from './router.js';
export { Stats } from './stats.js';
