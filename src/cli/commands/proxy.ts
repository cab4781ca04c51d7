import type { Command } from 'commander';
import { resolveSettings, runProxy, type ProxyRunFlags } from '../../proxy/index.js';

/**
 * Registers `trustmesh proxy run`: the sidecar, bootstrapped like App Mesh's Envoy image (node id
 * from APPMESH_RESOURCE_ARN / APPMESH_VIRTUAL_NODE_NAME, SDS socket from APPMESH_SDS_SOCKET_PATH,
 * admin port from ENVOY_ADMIN_ACCESS_PORT), or from a static Envoy bootstrap (`--config`).
 * Prints one JSON line `{"msg":"proxy ready","admin_port":…,"listeners":{name:port}}` on stdout
 * once listeners are bound.
 */
export function registerProxyCommands(program: Command): void {
  const proxy = program.command('proxy').description('the Envoy-compatible sidecar proxy (data plane)');
  proxy
    .command('run')
    .description('run the sidecar proxy (xDS/SDS, or a static Envoy bootstrap with --config)')
    .option(
      '--node-id <id>',
      'xDS node id (default: APPMESH_RESOURCE_ARN or mesh/<mesh>/virtualNode/<APPMESH_VIRTUAL_NODE_NAME>)',
    )
    .option('--cluster <name>', 'xDS node cluster (default: the node id)')
    .option('--xds <address>', 'ADS server: unix:///path or host:port')
    .option(
      '--sds-socket <path>',
      'SDS unix socket (default: APPMESH_SDS_SOCKET_PATH or /run/spire/sockets/agent.sock)',
    )
    .option(
      '--admin-port <port>',
      'admin endpoint port (default: ENVOY_ADMIN_ACCESS_PORT or 9901; 0 = any free port)',
    )
    .option('--admin-address <address>', 'admin endpoint bind address (default 127.0.0.1)')
    .option('--config <file>', 'static Envoy bootstrap (JSON or YAML with static_resources)')
    .option(
      '--l4-fast-path <on|off>',
      'proxy HTTP/1.1 at L4 when a route table has one cluster and no per-request feature (default on; TRUSTMESH_PROXY_L4_FAST_PATH)',
    )
    .action(async (flags: ProxyRunFlags) => {
      const settings = resolveSettings(flags);
      const running = await runProxy(settings);
      const listeners = Object.fromEntries(running.proxy.listeners.all().map((l) => [l.config.name, l.port]));
      process.stdout.write(
        JSON.stringify({
          msg: 'proxy ready',
          node_id: settings.nodeId,
          admin_port: running.proxy.adminPort,
          listeners,
        }) + '\n',
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await running.close();
    });
}
