/**
 * Bad DiscoveryRequests get a gRPC status naming the field and the xDS server keeps serving; on
 * shutdown open streams end with UNAVAILABLE "server shutting down", as gRPC servers end calls.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { SnapshotCache, XdsServer, maxNodeIdBytes } from '../../../src/mesh/xds/index.js';
import { RawAdsClient, edsCluster, typeUrls as T } from './helpers.js';

const cache = new SnapshotCache();
const server = new XdsServer({ cache });
let target: string;
const clients: RawAdsClient[] = [];
const open = (nodeId: string): RawAdsClient => {
  const c = new RawAdsClient(target, nodeId);
  clients.push(c);
  return c;
};

before(async () => {
  target = await server.listen('127.0.0.1:0');
});
after(async () => {
  for (const c of clients) c.close();
  await server.close();
});

/** A node id of exactly `bytes` bytes, shaped like App Mesh's. */
const nodeIdOf = (bytes: number) => `mesh/m/virtualNode/${'n'.repeat(bytes - 'mesh/m/virtualNode/'.length)}`;

// [row, node.id, expected outcome]
const rows: Array<[string, string, RegExp | 'served']> = [
  ['no node.id', '', /^node\.id: the first DiscoveryRequest must carry node\.id$/],
  [
    `node.id of ${maxNodeIdBytes + 1} bytes`,
    nodeIdOf(maxNodeIdBytes + 1),
    /^node\.id: 1025 bytes, longer than the 1024 allowed$/,
  ],
  [
    `node.id of ${maxNodeIdBytes + 1} bytes of UTF-8`,
    nodeIdOf(maxNodeIdBytes - 1) + 'é',
    /^node\.id: 1025 bytes/,
  ],
  [`node.id of exactly ${maxNodeIdBytes} bytes`, nodeIdOf(maxNodeIdBytes), 'served'],
];

for (const [row, nodeId, want] of rows) {
  test(`first request with ${row}`, { timeout: 30_000 }, async () => {
    cache.setSnapshot(nodeId || 'unused', { [T.cluster]: [edsCluster('c')] });
    const c = open(nodeId);
    c.send({ type_url: T.cluster });
    if (want === 'served') {
      const res = await c.next();
      assert.equal(res.type_url, T.cluster);
      return;
    }
    const status = await c.status;
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT, status.details);
    assert.match(status.details, want);
  });
}

test('the server still serves after refusing bad streams', { timeout: 30_000 }, async () => {
  cache.setSnapshot('mesh/m/virtualNode/ok', { [T.cluster]: [edsCluster('ok')] });
  const c = open('mesh/m/virtualNode/ok');
  c.send({ type_url: T.cluster });
  assert.equal((await c.next()).resources[0]!.name, 'ok');
});

test('close() ends open streams with UNAVAILABLE "server shutting down"', { timeout: 30_000 }, async () => {
  cache.setSnapshot('mesh/m/virtualNode/live', { [T.cluster]: [edsCluster('live')] });
  const c = open('mesh/m/virtualNode/live');
  c.send({ type_url: T.cluster });
  await c.next();
  await server.close();
  const status = await c.status;
  assert.equal(status.code, grpc.status.UNAVAILABLE, status.details);
  assert.equal(status.details, 'server shutting down');
});
