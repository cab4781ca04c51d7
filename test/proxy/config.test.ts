/**
 * The config edge and the route table, row by row from Envoy's documented semantics: every
 * problem of a resource is named with its field path (what a NACK's error_detail carries), proto3
 * JSON and protobuf-decoded shapes parse alike, and RouteMatch / virtual host selection follow
 * Envoy (domain precedence, full-match regex, header matcher kinds, invert_match).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runTrustmesh } from '../support/cli.js';
import {
  ConfigError,
  RouteTable,
  TypeUrl,
  decodeAny,
  encodeAny,
  parseCluster,
  parseListener,
  parseRouteConfiguration,
} from '../../src/proxy/index.js';

const HCM =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

test('a listener with several problems is rejected naming each field', () => {
  const bad = {
    name: 'l',
    address: { socket_address: { address: '0.0.0.0', port_value: 70000 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'x',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy',
            },
          },
        ],
      },
    ],
    listener_filters: [{ name: 'envoy.filters.listener.proxy_protocol' }],
  };
  assert.throws(
    () => parseListener(bad),
    (e: ConfigError) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, 'TM_ERR_PROXY_CONFIG');
      const text = e.problems.join('\n');
      assert.match(text, /address\.socket_address\.port_value: port 70000 is not 0–65535/);
      assert.match(text, /filter_chains\[0\]\.filters\[0\]\.typed_config: unsupported network filter/);
      assert.match(text, /listener_filters\[0\]: unsupported listener filter/);
      return true;
    },
  );
});

test('route problems carry their path; RE2-incompatible regexes are refused', () => {
  assert.throws(
    () =>
      parseRouteConfiguration({
        name: 'r',
        virtual_hosts: [
          {
            name: 'v',
            domains: [],
            routes: [
              { match: { safe_regex: { regex: '(a)\\1' } }, route: { cluster: 'c', timeout: 'soon' } },
            ],
          },
        ],
      }),
    (e: ConfigError) => {
      const text = e.problems.join('\n');
      assert.match(text, /virtual_hosts\[0\]\.domains: at least one domain is required/);
      assert.match(text, /virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex: regex .* RE2/);
      assert.match(text, /virtual_hosts\[0\]\.routes\[0\]\.route\.timeout: duration "soon"/);
      return true;
    },
  );
});

test('camelCase proto3 JSON, snake_case and protobuf-decoded clusters parse alike', () => {
  const snake = {
    name: 'c',
    type: 'STATIC',
    connect_timeout: '0.25s',
    load_assignment: {
      cluster_name: 'c',
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 8080 } } } },
          ],
        },
      ],
    },
    circuit_breakers: { thresholds: [{ max_requests: 7 }] },
  };
  const camel = {
    name: 'c',
    type: 'STATIC',
    connectTimeout: '0.25s',
    loadAssignment: {
      clusterName: 'c',
      endpoints: [
        {
          lbEndpoints: [
            { endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: 8080 } } } },
          ],
        },
      ],
    },
    circuitBreakers: { thresholds: [{ maxRequests: 7 }] },
  };
  const decoded = decodeAny(encodeAny(TypeUrl.cluster, snake));
  for (const c of [parseCluster(snake), parseCluster(camel), parseCluster(decoded)]) {
    assert.equal(c.connectTimeoutMs, 250);
    assert.equal(c.circuitBreakers.maxRequests, 7);
    assert.deepEqual(
      c.loadAssignment?.endpoints.map((e) => `${e.address}:${e.port}`),
      ['10.0.0.1:8080'],
    );
  }
});

test('listener round trip through protobuf keeps the http_connection_manager (nested Any)', () => {
  const l = {
    name: 'lds_ingress_0.0.0.0_15000',
    address: { socket_address: { address: '0.0.0.0', port_value: 15000 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'hcm',
            typed_config: {
              '@type': HCM,
              stat_prefix: 'ingress',
              rds: { route_config_name: 'r' },
              http_filters: [{ name: 'envoy.filters.http.router' }],
            },
          },
        ],
      },
    ],
  };
  const parsed = parseListener(decodeAny(encodeAny(TypeUrl.listener, l)));
  assert.equal(parsed.statName, '0.0.0.0_15000');
  const f = parsed.filterChains[0]!.filter;
  assert.equal(f.kind, 'http');
  assert.equal(f.kind === 'http' && f.rdsName, 'r');
});

function table(vhosts: { domains: string[]; routes: unknown[] }[]): RouteTable {
  return new RouteTable(
    parseRouteConfiguration({ name: 't', virtual_hosts: vhosts.map((v, i) => ({ name: `vh${i}`, ...v })) }),
  );
}

const to = (cluster: string, match: Record<string, unknown> = { prefix: '/' }): Record<string, unknown> => ({
  match,
  route: { cluster },
});

test('virtual host precedence: exact, longest suffix wildcard, longest prefix wildcard, then *', () => {
  const t = table([
    { domains: ['*'], routes: [to('any')] },
    { domains: ['*.example.com'], routes: [to('suffix')] },
    { domains: ['*.b.example.com'], routes: [to('longer-suffix')] },
    { domains: ['api.*'], routes: [to('prefix')] },
    { domains: ['a.example.com', 'a.example.com:8080'], routes: [to('exact')] },
  ]);
  const rows: [string, string][] = [
    ['a.example.com', 'exact'],
    ['a.example.com:8080', 'exact'],
    ['x.b.example.com', 'longer-suffix'],
    ['x.example.com', 'suffix'],
    ['api.internal', 'prefix'],
    ['other', 'any'],
  ];
  for (const [host, want] of rows) {
    const r = t.route({ method: 'GET', path: '/', authority: host, scheme: 'http', headers: {} });
    assert.equal(r?.route.action.kind === 'route' && r.route.action.clusters[0]!.name, want, host);
  }
});

test('RouteMatch rows: path kinds, case, headers (exact/prefix/suffix/regex/range/present, invert), query', () => {
  const t = table([
    {
      domains: ['*'],
      routes: [
        to('path', { path: '/exact' }),
        to('nocase', { prefix: '/CaSe', case_sensitive: false }),
        to('regex', { safe_regex: { regex: '/items/[0-9]{2}' } }),
        to('range', { prefix: '/r', headers: [{ name: 'x-n', range_match: { start: 10, end: 20 } }] }),
        to('suffix', { prefix: '/h', headers: [{ name: 'x-a', suffix_match: '.svc' }] }),
        to('hregex', { prefix: '/h', headers: [{ name: 'x-a', safe_regex_match: { regex: 'v[0-9]' } }] }),
        to('notbeta', {
          prefix: '/h',
          headers: [{ name: 'x-a', string_match: { exact: 'beta' }, invert_match: true }],
        }),
        to('q', { prefix: '/q', query_parameters: [{ name: 'debug', present_match: true }] }),
        to('fallback'),
      ],
    },
  ]);
  const pick = (path: string, headers: Record<string, string> = {}): string | false | undefined => {
    const r = t.route({ method: 'GET', path, authority: 'x', scheme: 'http', headers });
    return r?.route.action.kind === 'route' && r.route.action.clusters[0]!.name;
  };
  assert.equal(pick('/exact'), 'path');
  assert.equal(pick('/exact/more'), 'fallback', 'path is a full match');
  assert.equal(pick('/case/x'), 'nocase');
  assert.equal(pick('/items/42'), 'regex');
  assert.equal(pick('/items/421'), 'fallback', 'safe_regex matches the whole path');
  assert.equal(pick('/items/42?x=1'), 'regex', 'the query string is not part of the path');
  assert.equal(pick('/r', { 'x-n': '15' }), 'range');
  assert.equal(pick('/r', { 'x-n': '20' }), 'fallback', 'range end is exclusive');
  assert.equal(pick('/h', { 'x-a': 'db.svc' }), 'suffix');
  assert.equal(pick('/h', { 'x-a': 'v2' }), 'hregex');
  assert.equal(pick('/h', { 'x-a': 'alpha' }), 'notbeta');
  assert.equal(pick('/h', { 'x-a': 'beta' }), 'fallback');
  assert.equal(pick('/q?debug'), 'q');
  assert.equal(pick('/q?verbose=1'), 'fallback');
});

test('the L4 fast path is offered only for a trivial route table', () => {
  assert.equal(table([{ domains: ['*'], routes: [to('c')] }]).fastPathCluster, 'c');
  assert.equal(table([{ domains: ['svc'], routes: [to('c')] }]).fastPathCluster, undefined, 'Host decides');
  assert.equal(
    table([{ domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', timeout: '15s' } }] }])
      .fastPathCluster,
    undefined,
    'explicit timeout',
  );
  assert.equal(
    table([
      {
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster: 'c', retry_policy: { retry_on: '5xx' } } }],
      },
    ]).fastPathCluster,
    undefined,
    'retries',
  );
  assert.equal(
    table([{ domains: ['*'], routes: [to('c', { prefix: '/api' })] }]).fastPathCluster,
    undefined,
    'path match',
  );
});

test('`trustmesh proxy run` without a node id or config says what to set', async () => {
  const env = { ...process.env };
  delete env.APPMESH_RESOURCE_ARN;
  delete env.APPMESH_VIRTUAL_NODE_NAME;
  const r = await runTrustmesh(['proxy', 'run', '--admin-port', '0'], { env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /node id: set --node-id, APPMESH_RESOURCE_ARN or APPMESH_VIRTUAL_NODE_NAME/);
  const n = await runTrustmesh(['proxy', 'run', '--node-id', 'x', '--admin-port', '0'], { env });
  assert.equal(n.code, 1);
  assert.match(n.stderr, /--xds <unix:\/\/\/path \| host:port> or --config <bootstrap>/);
});
