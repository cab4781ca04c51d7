/**
 * The ADS server's protocol behaviour, observed through a raw ADS client over real sockets (TCP and a
 * unix socket): push order, ACK/NACK/nonce handling, wildcard vs named subscriptions, and that only
 * nodes whose content changed get pushes.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  SnapshotCache,
  XdsServer,
  ResourceEncodingError,
  InvalidListenAddressError,
  parseListenAddress,
  type XdsAckEvent,
} from '../../../src/mesh/xds/index.js';
import {
  RawAdsClient,
  apiListener,
  edsCluster,
  loadAssignment,
  routeConfig,
  typeUrls as T,
} from './helpers.js';

const nodeA = 'mesh/m/virtualNode/a_ns';
const nodeB = 'mesh/m/virtualNode/b_ns';
const dir = mkdtempSync(path.join(tmpdir(), 'tm-xds-'));
const cache = new SnapshotCache();
const server = new XdsServer({ cache });
let tcpTarget = '';
let unixTarget = '';
const clients: RawAdsClient[] = [];

function client(target: string, nodeId: string): RawAdsClient {
  const c = new RawAdsClient(target, nodeId);
  clients.push(c);
  return c;
}

function snapshot(clusterNames: string[], routeCluster: string) {
  return {
    [T.cluster]: clusterNames.map(edsCluster),
    [T.cla]: clusterNames.map((n, i) => loadAssignment(n, [10000 + i])),
    [T.listener]: [apiListener('svc:80', 'rc')],
    [T.route]: [routeConfig('rc', '*', [{ match: { prefix: '/' }, route: { cluster: routeCluster } }])],
  };
}

before(async () => {
  tcpTarget = await server.listen('127.0.0.1:0');
  unixTarget = await server.listen(`unix://${path.join(dir, 'xds.sock')}`);
  cache.setSnapshot(nodeA, snapshot(['c1'], 'c1'));
  cache.setSnapshot(nodeB, snapshot(['c9'], 'c9'));
});

after(async () => {
  for (const c of clients) c.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('listen addresses: host:port and unix:///abs only', () => {
  assert.equal(parseListenAddress('127.0.0.1:0'), '127.0.0.1:0');
  assert.equal(parseListenAddress('[::1]:15010'), '[::1]:15010');
  assert.equal(parseListenAddress('unix:///run/x.sock'), 'unix:///run/x.sock');
  for (const bad of ['localhost', 'unix://rel/x.sock', 'h:99999', ':80'])
    assert.throws(() => parseListenAddress(bad), InvalidListenAddressError, bad);
});

test('an unencodable resource is rejected and the last snapshot stays', () => {
  const before = cache.getSnapshot(nodeA)!.get(T.cluster)!.version;
  assert.throws(
    () => cache.setSnapshot(nodeA, { [T.cluster]: [{ ...edsCluster('c1'), no_such_field: 1 }] }),
    (e: unknown) => e instanceof ResourceEncodingError && e.path === 'c1.no_such_field',
  );
  assert.equal(cache.getSnapshot(nodeA)!.get(T.cluster)!.version, before);
});

test('CDS goes before LDS; LDS waits for the CDS ACK; EDS/RDS serve requested names (unix socket)', async () => {
  const c = client(unixTarget, nodeA);
  // Envoy subscribes CDS then LDS (both wildcard) back to back; LDS must wait for the CDS ACK.
  c.send({ type_url: T.cluster });
  c.send({ type_url: T.listener });
  const first = await c.next();
  assert.equal(first.type_url, T.cluster);
  assert.deepEqual(
    first.resources.map((r) => r.name),
    ['c1'],
  );
  assert.equal(await c.quiet(), true, 'LDS must wait until CDS is ACKed');
  c.ack(first);
  const lds = await c.next();
  assert.equal(lds.type_url, T.listener);
  assert.equal(lds.resources[0]!.name, 'svc:80');
  c.ack(lds);
  c.send({ type_url: T.route, resource_names: ['rc', 'missing'] });
  const rds = await c.next();
  assert.deepEqual(
    rds.resources.map((r) => r.name),
    ['rc'],
  );
  c.ack(rds, ['rc', 'missing']);
  c.send({ type_url: T.cla, resource_names: ['c1'] });
  const eds = await c.next();
  assert.deepEqual(
    eds.resources.map((r) => r.cluster_name),
    ['c1'],
  );
  c.ack(eds, ['c1']);
  assert.equal(await c.quiet(), true);
});

test('only the changed node gets a push; identical content pushes nothing', async () => {
  const a = client(tcpTarget, nodeA);
  const b = client(tcpTarget, nodeB);
  for (const c of [a, b]) {
    c.send({ type_url: T.cluster });
    c.ack(await c.next());
  }
  assert.deepEqual(cache.setSnapshot(nodeB, snapshot(['c9'], 'c9')), []);
  assert.equal(await b.quiet(), true, 'identical snapshot must not push');

  cache.setSnapshot(nodeA, snapshot(['c1', 'c2'], 'c1'));
  const push = await a.next();
  assert.equal(push.type_url, T.cluster);
  assert.deepEqual(push.resources.map((r) => r.name).sort(), ['c1', 'c2']);
  assert.equal(await b.quiet(), true, 'node B did not change');
  a.ack(push);
  cache.setSnapshot(nodeA, snapshot(['c1'], 'c1'));
  a.ack(await a.next());
});

test('NACK: the rejected version is not resent, a stale nonce is ignored, the next version goes out', async () => {
  const nacks: XdsAckEvent[] = [];
  const onNack = (m: unknown) => nacks.push(m as XdsAckEvent);
  subscribe('trustmesh:xds:nack', onNack);
  try {
    const c = client(tcpTarget, nodeA);
    c.send({ type_url: T.cluster });
    const good = await c.next();
    c.ack(good);

    cache.setSnapshot(nodeA, snapshot(['c1', 'bad'], 'c1'));
    const rejected = await c.next();
    c.send({
      type_url: T.cluster,
      version_info: good.version_info,
      response_nonce: rejected.nonce,
      error_detail: { code: 3, message: 'cluster bad: invalid' },
    });
    assert.equal(await c.quiet(), true, 'a NACKed version must not be resent');
    assert.equal(nacks.length, 1);
    assert.deepEqual(nacks[0], {
      nodeId: nodeA,
      typeUrl: T.cluster,
      version: rejected.version_info,
      errorDetail: 'cluster bad: invalid',
    });

    // A request carrying an old nonce is stale: no response to it.
    c.send({ type_url: T.cluster, version_info: good.version_info, response_nonce: good.nonce });
    assert.equal(await c.quiet(), true, 'stale nonce must be ignored');

    cache.setSnapshot(nodeA, snapshot(['c1', 'c3'], 'c1'));
    const fixed = await c.next();
    assert.notEqual(fixed.version_info, rejected.version_info);
    assert.deepEqual(fixed.resources.map((r) => r.name).sort(), ['c1', 'c3']);
    c.ack(fixed);
  } finally {
    unsubscribe('trustmesh:xds:nack', onNack);
  }
});

test('a stream without node.id is refused with INVALID_ARGUMENT', async () => {
  const c = client(tcpTarget, '');
  c.send({ type_url: T.cluster });
  await assert.rejects(c.next(1500));
});
