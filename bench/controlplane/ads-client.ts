/**
 * A minimal ADS client for the benchmark: one state-of-the-world stream per proxy node, subscribing
 * CDS and LDS (wildcard) and the given RDS names, ACKing every response as soon as it arrives. It does
 * not decode resources: the benchmark measures the control plane, not a proxy. The clients run in a
 * child process ({@link startAdsClients}), so their channels and buffers live in another heap, as
 * separate proxies' would, and the control plane's garbage collector does not walk them.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { aggregatedDiscoveryServiceClient } from '../../src/mesh/xds/index.js';

const TYPES = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
};

interface Response {
  version_info: string;
  type_url: string;
  nonce: string;
}

/** One proxy node's ADS stream. */
class BenchAdsClient {
  readonly #client: grpc.Client;
  readonly #stream: grpc.ClientDuplexStream<object, Response>;

  constructor(
    target: string,
    readonly nodeId: string,
    routeNames: string[],
  ) {
    const Ctor = aggregatedDiscoveryServiceClient();
    // One channel per node, as each Envoy has its own connection.
    this.#client = new Ctor(target, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    });
    this.#stream = (
      this.#client as unknown as { StreamAggregatedResources(): grpc.ClientDuplexStream<object, Response> }
    ).StreamAggregatedResources();
    const names = (type: string) => (type === TYPES.route ? routeNames : []);
    this.#stream.on('data', (res: Response) => {
      this.#stream.write({
        node: { id: nodeId },
        type_url: res.type_url,
        version_info: res.version_info,
        response_nonce: res.nonce,
        resource_names: names(res.type_url),
      });
    });
    this.#stream.on('error', () => {});
    for (const type of [TYPES.cluster, TYPES.listener, TYPES.route])
      this.#stream.write({ node: { id: nodeId }, type_url: type, resource_names: names(type) });
  }

  close(): void {
    this.#stream.cancel();
    this.#client.close();
  }
}

/**
 * Starts one ADS client per node id in a child process; resolves once every stream is opened.
 * `close()` cancels the streams and ends the process.
 */
export async function startAdsClients(
  target: string,
  nodeIds: string[],
  routeNames: string[],
): Promise<{ close(): Promise<void> }> {
  // The child runs this TypeScript file through tsx, as the benchmark itself is run.
  const child = fork(fileURLToPath(import.meta.url), ['--bench-ads-clients'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.send({ target, nodeIds, routeNames });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`ADS clients process exited (${code})`)));
  });
  return {
    async close() {
      const exited = new Promise((r) => child.once('exit', r));
      child.send('close');
      await exited;
    },
  };
}

if (process.argv.includes('--bench-ads-clients')) {
  process.once('message', (m: { target: string; nodeIds: string[]; routeNames: string[] }) => {
    const clients = m.nodeIds.map((id) => new BenchAdsClient(m.target, id, m.routeNames));
    process.send!('started');
    process.once('message', () => {
      for (const c of clients) c.close();
      process.disconnect();
    });
  });
}
