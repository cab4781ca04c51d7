/** Bad DiscoveryRequests get a gRPC status naming the field, and the xDS server keeps serving. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { SnapshotCache, XdsServer, envoyProtoIncludeDirs } from '../../../src/mesh/xds/index.js';

test(
  'a stream whose first request has no node.id ends with INVALID_ARGUMENT naming node.id',
  { timeout: 15_000 },
  async () => {
    const server = new XdsServer({ cache: new SnapshotCache() });
    const target = await server.listen('127.0.0.1:0');
    const def = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
      keepCase: true,
      includeDirs: [...envoyProtoIncludeDirs],
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      envoy: {
        service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } } };
      };
    };
    const client = new pkg.envoy.service.discovery.v3.AggregatedDiscoveryService(
      target,
      grpc.credentials.createInsecure(),
    );
    try {
      const stream = (
        client as unknown as { StreamAggregatedResources(): grpc.ClientDuplexStream<object, object> }
      ).StreamAggregatedResources();
      const status = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
      stream.on('error', () => {});
      stream.on('data', () => {});
      stream.write({ type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' });
      const s = await status;
      assert.equal(s.code, grpc.status.INVALID_ARGUMENT);
      assert.match(s.details, /node\.id/);
    } finally {
      client.close();
      await server.close();
    }
  },
);
