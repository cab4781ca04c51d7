/**
 * `@grpc/grpc-js-xds` as a real xDS client of our ADS server: an API listener whose HCM takes routes from
 * RDS, EDS clusters pointing at real grpc-js backends. The client must resolve, follow weighted routes
 * and header matches, pick up updates, and keep its last good config across a NACK.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { SnapshotCache, XdsServer, type JsonObject, type XdsAckEvent } from '../../../src/mesh/xds/index.js';
import { apiListener, edsCluster, loadAssignment, routeConfig, typeUrls as T } from './helpers.js';
import { EchoClient, backendsSeen as seenBy, echo, eventually, startEchoBackend } from './grpc-xds-client.js';

const nodeId = 'mesh/m/virtualNode/client_ns';
const target = 'echo.test:8080';
const cache = new SnapshotCache();
const server = new XdsServer({ cache });
const backends: grpc.Server[] = [];
const ports: Record<string, number> = {};
let client: grpc.Client;
const backendsSeen = (n: number, metadata?: Record<string, string>) => seenBy(client, n, metadata);

function publish(routes: JsonObject[], listener: JsonObject = apiListener(target, 'echo-routes')): void {
  cache.setSnapshot(nodeId, {
    [T.listener]: [listener],
    [T.route]: [routeConfig('echo-routes', target, routes)],
    [T.cluster]: ['blue', 'green'].map(edsCluster),
    [T.cla]: ['blue', 'green'].map((c) => loadAssignment(c, [ports[c]!])),
  });
}

function weighted(blue: number, green: number): JsonObject {
  return {
    match: { prefix: '/' },
    route: {
      weighted_clusters: {
        clusters: [
          { name: 'blue', weight: blue },
          { name: 'green', weight: green },
        ].filter((c) => c.weight > 0),
      },
    },
  };
}

before(async () => {
  for (const name of ['blue', 'green']) {
    const b = await startEchoBackend(name);
    backends.push(b.server);
    ports[name] = b.port;
  }
  const address = await server.listen('127.0.0.1:0');
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [
      { server_uri: address, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
    ],
    node: { id: nodeId, cluster: nodeId, locality: {} },
  });
  grpcXds.register();
  publish([weighted(100, 0)]);
  client = new EchoClient(`xds:///${target}`, grpc.credentials.createInsecure());
});

after(async () => {
  client?.close();
  await server.close();
  for (const b of backends) b.forceShutdown();
});

test('resolves through LDS → RDS → CDS → EDS and calls the routed backend', async () => {
  assert.deepEqual([...(await backendsSeen(5))], ['blue']);
});

test('follows weighted routes and sees updates', async () => {
  publish([weighted(0, 100)]);
  await eventually(async () => (await echo(client)) === 'green', 'route moved to green');
  assert.deepEqual([...(await backendsSeen(10))], ['green']);
  publish([weighted(50, 50)]);
  await eventually(async () => (await backendsSeen(20)).size === 2, 'both weighted clusters receive calls');
});

test('follows header matches before the catch-all route', async () => {
  publish([
    {
      match: { prefix: '/', headers: [{ name: 'x-color', string_match: { exact: 'green' } }] },
      route: { cluster: 'green' },
    },
    { match: { prefix: '/' }, route: { cluster: 'blue' } },
  ]);
  await eventually(
    async () => (await echo(client, { 'x-color': 'green' })) === 'green',
    'header route active',
  );
  assert.deepEqual([...(await backendsSeen(5, { 'x-color': 'green' }))], ['green']);
  assert.deepEqual([...(await backendsSeen(5, { 'x-color': 'blue' }))], ['blue']);
  assert.deepEqual([...(await backendsSeen(5))], ['blue']);
});

test('a listener the client rejects is NACKed; the client keeps routing with its last good config', async () => {
  // A known good config first, so this test doesn't lean on what the previous one left.
  publish([{ match: { prefix: '/' }, route: { cluster: 'blue' } }]);
  await eventually(async () => (await echo(client)) === 'blue', 'the good config is active');
  const nacks: XdsAckEvent[] = [];
  const onNack = (m: unknown) => nacks.push(m as XdsAckEvent);
  subscribe('trustmesh:xds:nack', onNack);
  try {
    const broken = apiListener(target, 'echo-routes');
    // grpc-js-xds needs RDS over ADS (or self): a config source naming neither is invalid for it.
    const hcm = (broken.api_listener as JsonObject).api_listener as JsonObject;
    hcm.rds = { config_source: { resource_api_version: 'V3' }, route_config_name: 'echo-routes' };
    publish([{ match: { prefix: '/' }, route: { cluster: 'blue' } }], broken);
    await eventually(async () => nacks.some((n) => n.typeUrl === T.listener), 'a listener NACK');
    assert.match(nacks.find((n) => n.typeUrl === T.listener)!.errorDetail ?? '', /config_source/);
    assert.deepEqual([...(await backendsSeen(5))], ['blue']);

    publish([weighted(0, 100)]);
    await eventually(async () => (await echo(client)) === 'green', 'valid update after the NACK');
  } finally {
    unsubscribe('trustmesh:xds:nack', onNack);
  }
});
