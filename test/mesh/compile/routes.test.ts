/**
 * Route ordering and matching (reference §a.5, §a.7, §e.8–9), rows written from the reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clusterSpecifier,
  compileNode,
  grpcRouteMatch,
  headerMatcher,
  orderGatewayRoutes,
  orderRoutes,
  retryPolicy,
} from '../../../src/mesh/compile/index.js';
import type { JsonObject } from '../../../src/mesh/xds/index.js';
import { loadMesh } from './support.js';

const names = (rs: { name: string }[]) => rs.map((r) => r.name);

test('§a.5: priority ascending, 0 is the highest', () => {
  assert.deepEqual(
    names(
      orderRoutes([
        { name: 'p1000', priority: 1000 },
        { name: 'p0', priority: 0 },
        { name: 'p5', priority: 5 },
      ]),
    ),
    ['p0', 'p5', 'p1000'],
  );
});

test('§a.5: unprioritized routes come after all prioritized ones (the catch-all `prefix: /` idiom)', () => {
  assert.deepEqual(
    names(orderRoutes([{ name: 'catch-all' }, { name: 'header', priority: 1000 }, { name: 'other' }])),
    ['header', 'catch-all', 'other'],
  );
});

test('§a.5: equal priority keeps declaration order (stable)', () => {
  assert.deepEqual(
    names(
      orderRoutes([
        { name: 'a', priority: 3 },
        { name: 'b', priority: 3 },
        { name: 'c', priority: 1 },
      ]),
    ),
    ['c', 'a', 'b'],
  );
});

test('§a.7: gateway routes by priority (default 1000), then the longest matching prefix', () => {
  const rs = [
    { name: 'short', prefixLength: 1 },
    { name: 'long', prefixLength: 8 },
    { name: 'prio', priority: 10, prefixLength: 1 },
    { name: 'explicit-1000', priority: 1000, prefixLength: 4 },
  ];
  assert.deepEqual(names(orderGatewayRoutes(rs)), ['prio', 'long', 'explicit-1000', 'short']);
});

test('§a.5 header matching: exact/prefix/suffix/regex/range, no match = present, invert', () => {
  const rows: [Parameters<typeof headerMatcher>, JsonObject][] = [
    [['h', { exact: 'v' }], { name: 'h', string_match: { exact: 'v' } }],
    [['h', { prefix: 'v' }], { name: 'h', string_match: { prefix: 'v' } }],
    [['h', { suffix: 'v' }], { name: 'h', string_match: { suffix: 'v' } }],
    [['h', { regex: '.*green.*' }], { name: 'h', string_match: { safe_regex: { regex: '.*green.*' } } }],
    [['h', { range: { start: 1, end: 10 } }], { name: 'h', range_match: { start: '1', end: '10' } }],
    [['h', undefined], { name: 'h', present_match: true }],
    [['h', { exact: 'v' }, true], { name: 'h', string_match: { exact: 'v' }, invert_match: true }],
  ];
  for (const [args, expected] of rows) assert.deepEqual(headerMatcher(...args), expected);
});

test('§a.5 gRPC match: service+method → exact path, service → prefix, none → /', () => {
  assert.deepEqual(grpcRouteMatch({ serviceName: 's.S', methodName: 'M' }), { path: '/s.S/M' });
  assert.deepEqual(grpcRouteMatch({ serviceName: 's.S' }), { prefix: '/s.S/' });
  assert.deepEqual(grpcRouteMatch({}), { prefix: '/' });
});

test('§a.5 weighted targets: relative weights kept, zero weights dropped, all zero → no route', () => {
  assert.deepEqual(
    clusterSpecifier([
      { cluster: 'a', weight: 50 },
      { cluster: 'b', weight: 10 },
      { cluster: 'c', weight: 0 },
    ]),
    {
      weighted_clusters: {
        clusters: [
          { name: 'a', weight: 50 },
          { name: 'b', weight: 10 },
        ],
      },
    },
  );
  assert.deepEqual(clusterSpecifier([{ cluster: 'a', weight: 100 }]), { cluster: 'a' });
  assert.equal(clusterSpecifier([{ cluster: 'a', weight: 0 }]), undefined);
});

test('§a.5 App Mesh default retry policy: 2 retries, HTTP on 503, gRPC on UNAVAILABLE, plus connect/reset', () => {
  const http = retryPolicy('http', undefined);
  assert.equal(http.num_retries, 2);
  assert.deepEqual(http.retriable_status_codes, [503]);
  assert.match(String(http.retry_on), /retriable-status-codes/);
  const grpc = retryPolicy('grpc', undefined);
  assert.equal(grpc.num_retries, 2);
  assert.match(String(grpc.retry_on), /(^|,)unavailable(,|$)/);
  for (const p of [http, grpc])
    for (const e of ['connect-failure', 'refused-stream', 'reset'])
      assert.ok(String(p.retry_on).split(',').includes(e));
});

test('the fixture router: Envoy routes follow App Mesh order; default timeout 15 s unless the route sets one', async () => {
  const cfg = compileNode(await loadMesh(), 'mesh/shop/virtualNode/front_shop');
  const rc = cfg.routeConfigurations.find((r) => r.name === 'rds_egress_http_8080')!;
  const vhost = (rc.virtual_hosts as JsonObject[]).find((v) =>
    (v.domains as string[]).includes('color.shop.svc.cluster.local'),
  )!;
  const routes = vhost.routes as JsonObject[];
  // green-path (priority 5), red-by-header (10), catch-all (no priority) — §a.5.
  assert.deepEqual(
    routes.map((r) => r.name),
    ['green-path', 'red-by-header', 'catch-all'],
  );
  assert.equal((routes[0]!.route as JsonObject).timeout, '5s');
  assert.equal((routes[2]!.route as JsonObject).timeout, '15s');
  assert.deepEqual((routes[2]!.route as JsonObject).weighted_clusters, {
    clusters: [
      { name: 'cds_egress_shop_blue_shop_http_8080', weight: 75 },
      { name: 'cds_egress_shop_green_shop_http_8080', weight: 25 },
    ],
  });
  assert.deepEqual(vhost.domains, ['color.shop.svc.cluster.local', 'color.shop.svc.cluster.local:8080']);
});

test('gateway: prefix rewritten to / and Host to the virtual service by default; hostname and priority', async () => {
  const cfg = compileNode(await loadMesh(), 'mesh/shop/virtualGateway/ingress-gw_shop');
  const rc = cfg.routeConfigurations.find((r) => r.name === 'rds_ingress_http_8088')!;
  const routes = (rc.virtual_hosts as JsonObject[])[0]!.routes as JsonObject[];
  assert.deepEqual(
    routes.map((r) => r.name),
    ['blue-route_shop', 'color-route_shop'],
  );
  const color = routes[1]!.route as JsonObject;
  assert.equal(color.prefix_rewrite, '/');
  assert.equal(color.host_rewrite_literal, 'color.shop.svc.cluster.local');
  assert.equal(color.cluster, 'cds_ingress_shop_ingress-gw_shop_self_redirect_http_8088');
  const blue = routes[0]!;
  assert.equal((blue.route as JsonObject).prefix_rewrite, undefined, 'defaultPrefix DISABLED');
  assert.equal((blue.route as JsonObject).cluster, 'cds_egress_shop_blue_shop_http_8080');
  assert.deepEqual((blue.match as JsonObject).headers, [
    { name: ':authority', string_match: { safe_regex: { regex: '.*\\.example\\.com(:[0-9]+)?' } } },
  ]);
  // The router-provided target is routed by the gateway's own egress listener.
  const egress = cfg.routeConfigurations.find((r) => r.name === 'rds_egress_http_15001')!;
  assert.ok(
    (egress.virtual_hosts as JsonObject[]).some((v) =>
      (v.domains as string[]).includes('color.shop.svc.cluster.local'),
    ),
  );
});
