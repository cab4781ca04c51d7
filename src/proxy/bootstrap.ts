/**
 * `trustmesh proxy run` bootstrap, as App Mesh's Envoy image does it: node id from
 * `APPMESH_RESOURCE_ARN` (`mesh/<mesh>/virtualNode/<vn>`) or `APPMESH_VIRTUAL_NODE_NAME`, SDS socket
 * from `APPMESH_SDS_SOCKET_PATH` (default `/run/spire/sockets/agent.sock`), admin port from
 * `ENVOY_ADMIN_ACCESS_PORT` (default 9901). A static bootstrap file (Envoy JSON/YAML with
 * `static_resources`) configures the proxy without a control plane.
 */
import fs from 'node:fs';
import net from 'node:net';
import YAML from 'yaml';
import { isPort, parseBootstrap, type BootstrapConfig } from './config.js';
import { ConfigError } from './errors.js';

/** Default SPIRE agent socket (App Mesh's `APPMESH_SDS_SOCKET_PATH` default). */
export const DEFAULT_SDS_SOCKET_PATH = '/run/spire/sockets/agent.sock';
/** Envoy admin port of App Mesh's image. */
export const DEFAULT_ADMIN_PORT = 9901;

/** Settings resolved from flags and environment. */
export interface ProxyRunSettings {
  nodeId: string;
  nodeCluster: string;
  adminAddress: string;
  adminPort: number;
  xds: string | undefined;
  sdsSocketPath: string;
  bootstrap: BootstrapConfig | undefined;
  l4FastPath: boolean;
}

/** Flags of `trustmesh proxy run`. */
export interface ProxyRunFlags {
  nodeId?: string;
  cluster?: string;
  xds?: string;
  sdsSocket?: string;
  adminPort?: string;
  adminAddress?: string;
  config?: string;
  /** `on` (default) or `off`. */
  l4FastPath?: string;
}

/**
 * Resolves flags over environment over defaults. Node id: `--node-id`, the bootstrap's `node.id`,
 * `APPMESH_RESOURCE_ARN`, `mesh/<APPMESH_MESH_NAME?>/virtualNode/<APPMESH_VIRTUAL_NODE_NAME>`.
 * Throws ConfigError when neither a node id nor a config can be found, or the file is invalid.
 */
export function resolveSettings(
  flags: ProxyRunFlags,
  env: NodeJS.ProcessEnv = process.env,
): ProxyRunSettings {
  let bootstrap: BootstrapConfig | undefined;
  if (flags.config) {
    let text: string;
    try {
      text = fs.readFileSync(flags.config, 'utf8');
    } catch (err) {
      throw new ConfigError(`bootstrap ${flags.config}`, [(err as Error).message]);
    }
    let raw: unknown;
    try {
      raw = flags.config.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
    } catch (err) {
      throw new ConfigError(`bootstrap ${flags.config}`, [
        `not valid ${flags.config.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`,
      ]);
    }
    bootstrap = parseBootstrap(raw, (f) => fs.readFileSync(f, 'utf8'));
  }
  const vn = env.APPMESH_VIRTUAL_NODE_NAME;
  const nodeId =
    flags.nodeId ??
    bootstrap?.nodeId ??
    env.APPMESH_RESOURCE_ARN ??
    (vn
      ? vn.includes('/')
        ? vn
        : `mesh/${env.APPMESH_MESH_NAME ?? 'default'}/virtualNode/${vn}`
      : undefined);
  if (!nodeId)
    throw new ConfigError('proxy run', [
      'node id: set --node-id, APPMESH_RESOURCE_ARN or APPMESH_VIRTUAL_NODE_NAME (or node.id in --config)',
    ]);
  // Each admin setting names where it came from, so an error points at the flag or variable to fix.
  const [adminPortRaw, adminPortFrom] =
    flags.adminPort !== undefined
      ? [flags.adminPort, '--admin-port']
      : env.ENVOY_ADMIN_ACCESS_PORT !== undefined
        ? [env.ENVOY_ADMIN_ACCESS_PORT, 'ENVOY_ADMIN_ACCESS_PORT']
        : [bootstrap?.adminPort?.toString(), 'admin.address.socket_address.port_value'];
  const adminPort =
    adminPortRaw === undefined || adminPortRaw === '' ? DEFAULT_ADMIN_PORT : Number(adminPortRaw);
  if (!isPort(adminPort))
    throw new ConfigError('proxy run', [
      `${adminPortFrom}: admin port must be 0–65535, found ${JSON.stringify(adminPortRaw)}`,
    ]);
  const [adminAddress, adminAddressFrom] =
    flags.adminAddress !== undefined
      ? [flags.adminAddress, '--admin-address']
      : env.ENVOY_ADMIN_ACCESS_ADDRESS !== undefined
        ? [env.ENVOY_ADMIN_ACCESS_ADDRESS, 'ENVOY_ADMIN_ACCESS_ADDRESS']
        : [bootstrap?.adminAddress ?? '127.0.0.1', 'admin.address.socket_address.address'];
  // Envoy's admin socket_address takes an IP, never a host name (it would not resolve one).
  if (net.isIP(adminAddress) === 0)
    throw new ConfigError('proxy run', [
      `${adminAddressFrom}: admin address must be an IP address, found ${JSON.stringify(adminAddress)}`,
    ]);
  if (!flags.xds && !bootstrap)
    throw new ConfigError('proxy run', [
      'nothing to serve: give --xds <unix:///path | host:port> or --config <bootstrap>',
    ]);
  return {
    nodeId,
    nodeCluster: flags.cluster ?? bootstrap?.nodeCluster ?? nodeId,
    adminAddress,
    adminPort,
    xds: flags.xds,
    sdsSocketPath: flags.sdsSocket ?? env.APPMESH_SDS_SOCKET_PATH ?? DEFAULT_SDS_SOCKET_PATH,
    bootstrap,
    l4FastPath: (flags.l4FastPath ?? env.TRUSTMESH_PROXY_L4_FAST_PATH ?? 'on') !== 'off',
  };
}
