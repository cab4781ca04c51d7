/**
 * The proxy configured only over ADS (a fake control plane serving the real
 * AggregatedDiscoveryService on a unix socket): CDS (EDS cluster) + EDS + LDS + RDS bring the
 * ingress path up and /ready turns LIVE; every update is ACKed with its version and nonce; a
 * listener the proxy cannot apply is NACKed with `error_detail` naming the problem and the last
 * good listener keeps serving; malformed resources of every type are NACKed per type while the proxy
 * keeps serving.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type net from 'node:net';
import { TypeUrl } from '../../src/proxy/index.js';
import { FakeAds } from './support/fake-xds.js';
import { startProxy, type ProxyProcess } from './support/envoy.js';

let dir: string;
let ads: FakeAds;
let app: http.Server;
let proxy: ProxyProcess;
let listenPort: number;

interface ListenerStatuses {
  listener_statuses: { name: string; local_address: { socket_address: { port_value: number } } }[];
}

function get(p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(
        { host: '127.0.0.1', port: listenPort, path: p, agent: false, headers: { host: 'app.local' } },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      )
      .on('error', reject);
  });
}

async function waitFor(cond: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const HCM =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function listener(filterType = HCM): Record<string, unknown> {
  return {
    name: 'lds_ingress_0.0.0.0_15000',
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': filterType,
              stat_prefix: 'ingress',
              rds: {
                route_config_name: 'rds_ingress_http_8080',
                config_source: { ads: {}, resource_api_version: 'V3' },
              },
              http_filters: [
                {
                  name: 'envoy.filters.http.router',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
                  },
                },
              ],
            },
          },
        ],
      },
    ],
  };
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-proxy-ads-'));
  app = http.createServer((req, res) => res.end(`app ${req.url}`));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as net.AddressInfo).port;
  ads = new FakeAds();
  const sock = path.join(dir, 'xds.sock');
  await ads.listen(sock);
  ads.set(TypeUrl.cluster, [
    {
      name: 'cds_ingress_mesh_app_http_8080',
      type: 'EDS',
      connect_timeout: '1s',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: 'app' },
    },
  ]);
  ads.set(TypeUrl.endpoint, [
    {
      cluster_name: 'app',
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: appPort } } } },
          ],
        },
      ],
    },
  ]);
  ads.set(TypeUrl.listener, [listener()]);
  ads.set(TypeUrl.route, [
    {
      name: 'rds_ingress_http_8080',
      virtual_hosts: [
        {
          name: 'app',
          domains: ['*'],
          routes: [{ match: { prefix: '/' }, route: { cluster: 'cds_ingress_mesh_app_http_8080' } }],
        },
      ],
    },
  ]);
  proxy = await startProxy(dir, 'ads', undefined, { APPMESH_RESOURCE_ARN: 'mesh/m/virtualNode/app' }, [
    '--xds',
    `unix://${sock}`,
  ]);
  // The listener binds port 0 (a probed port could be taken by a parallel test file); its bound
  // port is read back from the admin endpoint, as with Envoy's /listeners?format=json.
  await waitFor(async () => {
    const { body } = await proxy.admin('/listeners?format=json');
    const status = (JSON.parse(body) as ListenerStatuses).listener_statuses.find(
      (l) => l.name === 'lds_ingress_0.0.0.0_15000',
    );
    listenPort = status?.local_address.socket_address.port_value ?? 0;
    return listenPort > 0;
  }, 'the ADS listener bound');
});

after(async () => {
  await proxy?.stop();
  ads?.close();
  app?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('CDS + EDS + LDS + RDS over ADS bring the ingress path up; every update ACKed', async () => {
  await waitFor(async () => (await proxy.admin('/ready')).status === 200, '/ready LIVE');
  await waitFor(
    async () => (await get('/x').catch(() => ({ status: 0, body: '' }))).status === 200,
    'route to app',
  );
  assert.equal((await get('/hello')).body, 'app /hello');
  for (const t of [TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener, TypeUrl.route]) {
    assert.ok(
      ads.requests.some(
        (r) => r.type_url === t && r.version_info === '1' && r.response_nonce !== '' && !r.error_detail,
      ),
      `ACK for ${t}`,
    );
  }
  assert.equal(ads.requests[0]!.node?.id, 'mesh/m/virtualNode/app', 'node id from APPMESH_RESOURCE_ARN');
  assert.deepEqual(ads.requests.find((r) => r.type_url === TypeUrl.route)?.resource_names, [
    'rds_ingress_http_8080',
  ]);
  assert.match(
    (await proxy.admin('/clusters')).body,
    /cds_ingress_mesh_app_http_8080::127\.0\.0\.1:\d+::health_flags::healthy/,
  );
  assert.equal(await proxy.stat('control_plane.connected_state'), 1);
});

test('a listener the proxy cannot apply is NACKed with the reason; the last good config serves', async () => {
  ads.set(TypeUrl.listener, [
    listener('type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy'),
  ]);
  await waitFor(
    () => ads.requests.some((r) => r.type_url === TypeUrl.listener && r.error_detail?.message),
    'NACK',
  );
  const nack = ads.requests.find((r) => r.type_url === TypeUrl.listener && r.error_detail?.message)!;
  assert.equal(nack.version_info, '1', 'NACK carries the last good version');
  assert.equal(nack.error_detail!.code, 3);
  assert.match(nack.error_detail!.message, /lds_ingress_0\.0\.0\.0_15000/);
  assert.ok(
    /unknown resource type|unsupported network filter/.test(nack.error_detail!.message),
    nack.error_detail!.message,
  );
  assert.equal((await get('/still')).body, 'app /still');
  assert.equal(await proxy.stat('listener_manager.lds.update_rejected'), 1);
});

const bad: [string, string, Record<string, unknown>[]][] = [
  ['cluster without a name', TypeUrl.cluster, [{ type: 'EDS', connect_timeout: 'soon' }]],
  [
    'endpoint port out of range',
    TypeUrl.endpoint,
    [
      {
        cluster_name: 'app',
        endpoints: [
          {
            lb_endpoints: [
              { endpoint: { address: { socket_address: { address: 'x', port_value: 99999 } } } },
            ],
          },
        ],
      },
    ],
  ],
  [
    'route with zero-weight weighted clusters',
    TypeUrl.route,
    [
      {
        name: 'rds_ingress_http_8080',
        virtual_hosts: [
          {
            name: 'app',
            domains: ['*'],
            routes: [{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [] } } }],
          },
        ],
      },
    ],
  ],
  ['listener without an address', TypeUrl.listener, [{ name: 'lds_x', filter_chains: [] }]],
];

test('malformed resources over ADS are NACKed per type and the proxy keeps serving', async () => {
  await waitFor(
    async () => (await get('/x').catch(() => ({ status: 0, body: '' }))).status === 200,
    'route to app',
  );
  for (const [what, typeUrl, resources] of bad) {
    const before = ads.requests.length;
    ads.set(typeUrl, resources);
    await waitFor(
      () => ads.requests.slice(before).some((r) => r.type_url === typeUrl && r.error_detail?.message),
      `NACK for ${what}`,
    );
    assert.equal(proxy.child.exitCode, null, `proxy alive after ${what}`);
    assert.equal((await get('/still')).body, 'app /still', `still serving after ${what}`);
  }
});

test('an unknown cluster: RDS accepts it (validate_clusters default false) → 503 no_cluster; validated configs are NACKed', async () => {
  const routes = (extra: Record<string, unknown> = {}): Record<string, unknown>[] => [
    {
      name: 'rds_ingress_http_8080',
      ...extra,
      virtual_hosts: [
        {
          name: 'app',
          domains: ['*'],
          routes: [
            { name: 'gone', match: { prefix: '/nc' }, route: { cluster: 'cds_missing' } },
            { match: { prefix: '/' }, route: { cluster: 'cds_ingress_mesh_app_http_8080' } },
          ],
        },
      ],
    },
  ];
  ads.set(TypeUrl.route, routes());
  await waitFor(async () => (await get('/nc')).status === 503, 'RDS with an unknown cluster applied');
  assert.equal((await get('/ok')).body, 'app /ok');
  assert.ok((await proxy.stat('http.ingress.no_cluster')) >= 1, 'counted as no_cluster (NC)');

  const nackOf = async (typeUrl: string, set: () => void, what: string): Promise<string> => {
    const before = ads.requests.length;
    set();
    await waitFor(
      () => ads.requests.slice(before).some((r) => r.type_url === typeUrl && r.error_detail?.message),
      what,
    );
    return ads.requests.slice(before).find((r) => r.type_url === typeUrl && r.error_detail?.message)!
      .error_detail!.message;
  };
  assert.match(
    await nackOf(
      TypeUrl.route,
      () => ads.set(TypeUrl.route, routes({ validate_clusters: true })),
      'RDS NACK',
    ),
    /route "gone": unknown cluster "cds_missing" \(validate_clusters\)/,
  );
  const inline = listener();
  const hcm = (inline.filter_chains as { filters: { typed_config: Record<string, unknown> }[] }[])[0]!
    .filters[0]!.typed_config;
  delete hcm.rds;
  hcm.route_config = routes()[0];
  assert.match(
    await nackOf(TypeUrl.listener, () => ads.set(TypeUrl.listener, [inline]), 'LDS NACK'),
    /lds_ingress_0\.0\.0\.0_15000.*unknown cluster "cds_missing"/,
  );
  assert.equal((await get('/nc')).status, 503, 'the last good route config keeps serving');
  assert.equal((await get('/still')).body, 'app /still');
});
