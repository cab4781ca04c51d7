/**
 * A node's configuration in the shape of Envoy's admin `/config_dump` (`envoy.admin.v3.ConfigDump`):
 * one entry per resource kind, each resource wrapped as the dynamic, active, versioned entry Envoy
 * prints after accepting it.
 */
import type { JsonObject } from '../xds/index.js';
import type { NodeConfig } from './compile.js';

const A = 'type.googleapis.com/envoy.admin.v3.';

/**
 * `ConfigDump` JSON for `config`: ListenersConfigDump (`dynamic_listeners[].active_state`),
 * ClustersConfigDump (`dynamic_active_clusters`), RoutesConfigDump (`dynamic_route_configs`),
 * EndpointsConfigDump (`dynamic_endpoint_configs`), SecretsConfigDump (empty: secrets come from SDS).
 * `versions` gives the version_info per kind (the snapshot versions when served, else omitted).
 */
export function configDump(
  config: NodeConfig,
  versions: { listeners?: string; clusters?: string; routes?: string; endpoints?: string } = {},
): JsonObject {
  const v = (version: string | undefined): JsonObject => (version ? { version_info: version } : {});
  const listeners: JsonObject = { '@type': `${A}ListenersConfigDump`, ...v(versions.listeners) };
  if (config.listeners.length > 0)
    listeners.dynamic_listeners = config.listeners.map((l) => ({
      name: l.name as string,
      active_state: { ...v(versions.listeners), listener: l },
    }));
  const clusters: JsonObject = { '@type': `${A}ClustersConfigDump`, ...v(versions.clusters) };
  if (config.clusters.length > 0)
    clusters.dynamic_active_clusters = config.clusters.map((c) => ({ ...v(versions.clusters), cluster: c }));
  const routes: JsonObject = { '@type': `${A}RoutesConfigDump` };
  if (config.routeConfigurations.length > 0)
    routes.dynamic_route_configs = config.routeConfigurations.map((r) => ({
      ...v(versions.routes),
      route_config: r,
    }));
  const endpoints: JsonObject = { '@type': `${A}EndpointsConfigDump` };
  if (config.endpoints.length > 0)
    endpoints.dynamic_endpoint_configs = config.endpoints.map((e) => ({
      ...v(versions.endpoints),
      endpoint_config: e,
    }));
  return { configs: [listeners, clusters, routes, endpoints, { '@type': `${A}SecretsConfigDump` }] };
}
