/**
 * Starts a complete proxy from resolved settings: admin endpoint, static bootstrap, ADS client
 * (when `xds` is set) and SDS client (whenever listeners or clusters name SDS secrets).
 */
import { Proxy } from './proxy.js';
import type { ProxyRunSettings } from './bootstrap.js';
import { AdsClient, SdsClient } from './xds.js';

/** A running proxy with its xDS clients. `close()` stops everything. */
export interface RunningProxy {
  proxy: Proxy;
  close(): Promise<void>;
}

/** Starts the proxy; resolves once the static config is applied and listeners are bound. */
export async function runProxy(
  settings: ProxyRunSettings,
  log?: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<RunningProxy> {
  const proxy = await Proxy.create({
    nodeId: settings.nodeId,
    nodeCluster: settings.nodeCluster,
    adminAddress: settings.adminAddress,
    adminPort: settings.adminPort,
    l4FastPath: settings.l4FastPath,
    log,
  });
  const node = { id: settings.nodeId, cluster: settings.nodeCluster };
  const sds = new SdsClient({ socketPath: settings.sdsSocketPath, node, proxy });
  proxy.onSdsNames((names) => sds.watch(names));
  if (settings.bootstrap) await proxy.applyBootstrap(settings.bootstrap);
  let ads: AdsClient | undefined;
  if (settings.xds) {
    ads = new AdsClient({ address: settings.xds, node, proxy });
    ads.start();
  } else {
    proxy.markLive();
  }
  return {
    proxy,
    async close() {
      ads?.close();
      sds.close();
      await proxy.close();
    },
  };
}
