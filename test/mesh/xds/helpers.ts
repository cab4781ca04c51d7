/**
 * Test helpers for the xDS server: a raw ADS client (real gRPC stream against the real server) that
 * records every DiscoveryResponse, and small builders of hand-written Envoy resources.
 */
import * as grpc from '@grpc/grpc-js';
import {
  aggregatedDiscoveryServiceClient,
  decodeAny,
  type AnyMessage,
  type JsonObject,
} from '../../../src/mesh/xds/index.js';

/** A DiscoveryResponse as the raw client sees it, resources decoded to proto3 JSON. */
export interface ReceivedResponse {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: JsonObject[];
}

/** A DiscoveryResponse as proto-loader decodes it. */
interface WireResponse {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: AnyMessage[];
}

type Stream = grpc.ClientDuplexStream<
  object,
  { version_info: string; type_url: string; nonce: string; resources: AnyMessage[] }
>;

/** A grpc-js client of `envoy.service.discovery.v3.AggregatedDiscoveryService` at `target` (insecure). */
export function adsClient(target: string): grpc.Client & { StreamAggregatedResources(): Stream } {
  const Ctor = aggregatedDiscoveryServiceClient();
  return new Ctor(target, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    StreamAggregatedResources(): Stream;
  };
}

/** A raw ADS client: sends DiscoveryRequests by hand, queues responses for `next()`. */
export class RawAdsClient {
  readonly #stream: Stream;
  readonly #client: grpc.Client;
  readonly #queue: ReceivedResponse[] = [];
  readonly #waiters: ((r: ReceivedResponse) => void)[] = [];
  readonly nodeId: string;
  /** The status the stream ended with (resolves when the server ends it or the client cancels). */
  readonly status: Promise<grpc.StatusObject>;

  constructor(target: string, nodeId: string) {
    const client = adsClient(target);
    this.#client = client;
    this.nodeId = nodeId;
    this.#stream = client.StreamAggregatedResources();
    this.status = new Promise((resolve) => this.#stream.on('status', resolve));
    this.#stream.on('data', (res: WireResponse) => {
      const decoded: ReceivedResponse = {
        version_info: res.version_info,
        type_url: res.type_url,
        nonce: res.nonce,
        resources: res.resources.map((a) => decodeAny({ type_url: a.type_url, value: a.value })),
      };
      const w = this.#waiters.shift();
      if (w) w(decoded);
      else this.#queue.push(decoded);
    });
    this.#stream.on('error', () => {});
  }

  /** Sends a DiscoveryRequest; `node` is always attached. */
  send(req: {
    type_url: string;
    resource_names?: string[];
    version_info?: string;
    response_nonce?: string;
    error_detail?: { code: number; message: string };
  }): void {
    this.#stream.write({ node: { id: this.nodeId }, resource_names: [], ...req });
  }

  /** ACKs a response. */
  ack(res: ReceivedResponse, names: string[] = []): void {
    this.send({
      type_url: res.type_url,
      version_info: res.version_info,
      response_nonce: res.nonce,
      resource_names: names,
    });
  }

  /** The next response (waits up to `timeoutMs`, generous for a loaded CI machine, then rejects). */
  next(timeoutMs = 15_000): Promise<ReceivedResponse> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error('no DiscoveryResponse within timeout'));
      }, timeoutMs);
      const waiter = (r: ReceivedResponse) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Resolves true if no response arrives within `ms` (used to assert that nothing is pushed). */
  async quiet(ms = 300): Promise<boolean> {
    if (this.#queue.length > 0) return false;
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  close(): void {
    this.#stream.cancel();
    this.#client.close();
  }
}

const T = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  cla: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  hcm: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
};

/** A gRPC API listener (proxyless client) whose HCM takes its routes from RDS `routeName` over ADS. */
export function apiListener(name: string, routeName: string): JsonObject {
  return {
    '@type': T.listener,
    name,
    api_listener: {
      api_listener: {
        '@type': T.hcm,
        stat_prefix: name,
        rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: routeName },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': T.router } }],
      },
    },
  };
}

/** An EDS cluster fed over ADS. */
export function edsCluster(name: string): JsonObject {
  return {
    '@type': T.cluster,
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: '1s',
  };
}

/** A ClusterLoadAssignment with one locality holding `ports` on 127.0.0.1. */
export function loadAssignment(clusterName: string, ports: number[]): JsonObject {
  return {
    '@type': T.cla,
    cluster_name: clusterName,
    endpoints: [
      {
        locality: { zone: 'local' },
        load_balancing_weight: 1,
        lb_endpoints: ports.map((port) => ({
          endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
        })),
      },
    ],
  };
}

/** A route configuration with one virtual host for `domain` and the given routes. */
export function routeConfig(name: string, domain: string, routes: JsonObject[]): JsonObject {
  return { '@type': T.route, name, virtual_hosts: [{ name: domain, domains: [domain], routes }] };
}

export { T as typeUrls };
