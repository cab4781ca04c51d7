/**
 * A minimal ADS client for the benchmark: one state-of-the-world stream per proxy node, subscribing
 * CDS and LDS (wildcard) and the given RDS names, ACKing every response as soon as it arrives. It does
 * not decode resources: the benchmark measures the control plane, not a proxy.
 */
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

/** One proxy node's ADS stream; `onResponse` sees each response (before the ACK is sent). */
export class BenchAdsClient {
  readonly #client: grpc.Client;
  readonly #stream: grpc.ClientDuplexStream<object, Response>;

  constructor(
    target: string,
    readonly nodeId: string,
    routeNames: string[],
    onResponse: (nodeId: string, res: Response) => void,
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
      onResponse(nodeId, res);
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

export { TYPES as benchTypeUrls };
