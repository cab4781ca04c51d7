/**
 * The compiler on the fixture mesh: App Mesh's resource names (§c.2), service discovery → endpoints,
 * health checks / outlier detection / connection pools, the egress filter, and bad references.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileMesh,
  compileNode,
  meshNodeIds,
  UnknownNodeError,
  configDump,
} from '../../../src/mesh/compile/index.js';
import { encodeMessageJson, type JsonObject } from '../../../src/mesh/xds/index.js';
import { loadMesh, meshFromYaml, meshYaml, nsObject, virtualServiceYaml } from './support.js';

const byName = (list: JsonObject[], name: string) => {
  const found = list.find((r) => r.name === name);
  assert.ok(found, `${name} in [${list.map((r) => r.name).join(', ')}]`);
  return found;
};

test('node ids: mesh/<mesh>/virtualNode/<vn awsName> and …/virtualGateway/<vg awsName> (§c.1)', async () => {
  assert.deepEqual(meshNodeIds(await loadMesh()).sort(), [
    'mesh/shop/virtualGateway/ingress-gw_shop',
    'mesh/shop/virtualNode/blue_shop',
    'mesh/shop/virtualNode/catalog-v1_shop',
    'mesh/shop/virtualNode/catalog-v2_shop',
    'mesh/shop/virtualNode/front_shop',
    'mesh/shop/virtualNode/green_shop',
    'mesh/shop/virtualNode/ledger_shop',
    'mesh/shop/virtualNode/red_shop',
  ]);
});

test('front: App Mesh names for listeners, clusters and routes (§c.2)', async () => {
  const cfg = compileNode(await loadMesh(), 'mesh/shop/virtualNode/front_shop');
  assert.deepEqual(cfg.issues, []);
  assert.deepEqual(
    cfg.listeners.map((l) => l.name),
    ['lds_ingress_0.0.0.0_15000', 'lds_egress_0.0.0.0_15001'],
  );
  assert.deepEqual(cfg.clusters.map((c) => c.name).sort(), [
    'cds_egress_shop_blue_shop_http_8080',
    'cds_egress_shop_catalog-v1_shop_grpc_9090',
    'cds_egress_shop_catalog-v2_shop_grpc_9090',
    'cds_egress_shop_green_shop_http_8080',
    'cds_egress_shop_ledger_shop_tcp_5432',
    'cds_egress_shop_red_shop_http_8080',
    'cds_ingress_shop_front_shop_http_8080',
  ]);
  assert.deepEqual(
    cfg.routeConfigurations.map((r) => r.name),
    ['rds_egress_http_8080', 'rds_egress_http_9090'],
  );
  const egress = byName(cfg.listeners, 'lds_egress_0.0.0.0_15001');
  assert.deepEqual(egress.address, { socket_address: { address: '0.0.0.0', port_value: 15001 } });
  assert.deepEqual(
    (egress.listener_filters as JsonObject[]).map((f) => f.name),
    ['envoy.filters.listener.original_dst'],
  );
  const chains = egress.filter_chains as JsonObject[];
  assert.deepEqual(
    chains.map((c) => [c.name, (c.filter_chain_match as JsonObject).destination_port]),
    [
      ['egress_tcp_5432', 5432],
      ['egress_http_8080', 8080],
      ['egress_http_9090', 9090],
    ],
  );
  assert.equal(egress.default_filter_chain, undefined, 'DROP_ALL (the default) has no passthrough');
  const tcp = (chains[0]!.filters as JsonObject[])[0]!.typed_config as JsonObject;
  assert.equal(tcp.cluster, 'cds_egress_shop_ledger_shop_tcp_5432');
  assert.equal(tcp.idle_timeout, '300s');
  const hcm = (chains[1]!.filters as JsonObject[])[0]!.typed_config as JsonObject;
  assert.deepEqual(hcm.rds, {
    config_source: { ads: {}, resource_api_version: 'V3' },
    route_config_name: 'rds_egress_http_8080',
  });
  assert.equal((hcm.access_log as JsonObject[])[0]!.name, 'envoy.access_loggers.file');
});

test('per-backend client policy limited to ports: catalog on 9090 uses file trust and a file client cert', async () => {
  const cfg = compileNode(await loadMesh(), 'mesh/shop/virtualNode/front_shop');
  const c = byName(cfg.clusters, 'cds_egress_shop_catalog-v1_shop_grpc_9090');
  const ctx = (c.transport_socket as JsonObject).typed_config as JsonObject;
  const common = ctx.common_tls_context as JsonObject;
  assert.deepEqual(common.tls_certificates, [
    { certificate_chain: { filename: '/certs/front.pem' }, private_key: { filename: '/certs/front.key' } },
  ]);
  // No SAN list on the policy: the server's DNS name is expected (§a.3 rule 3).
  assert.deepEqual(common.validation_context, {
    trusted_ca: { filename: '/certs/ca.pem' },
    match_typed_subject_alt_names: [
      { san_type: 'DNS', matcher: { exact: 'catalog-v1.shop.svc.cluster.local' } },
    ],
  });
  assert.deepEqual(common.alpn_protocols, ['h2']);
  assert.ok(c.typed_extension_protocol_options, 'gRPC upstream speaks HTTP/2');
});

test('egress clusters carry the target listener health check and outlier detection; DNS discovery → DNS clusters', async () => {
  const cfg = compileNode(await loadMesh(), 'mesh/shop/virtualNode/front_shop');
  const blue = byName(cfg.clusters, 'cds_egress_shop_blue_shop_http_8080');
  assert.equal(blue.type, 'STRICT_DNS');
  assert.deepEqual(blue.health_checks, [
    {
      timeout: '2s',
      interval: '5s',
      unhealthy_threshold: 3,
      healthy_threshold: 2,
      http_health_check: { path: '/ping' },
    },
  ]);
  assert.deepEqual(blue.outlier_detection, {
    consecutive_5xx: 5,
    interval: '10s',
    base_ejection_time: '30s',
    max_ejection_percent: 50,
  });
  assert.equal(
    byName(cfg.clusters, 'cds_egress_shop_red_shop_http_8080').type,
    'LOGICAL_DNS',
    'responseType LOADBALANCER',
  );
  const ledger = byName(cfg.clusters, 'cds_egress_shop_ledger_shop_tcp_5432');
  assert.deepEqual((ledger.health_checks as JsonObject[])[0]!.tcp_health_check, {});
  // red is DISABLED, ledger has no TLS: front's default policy has no ports, so it applies to every
  // backend port and the client originates TLS anyway (§a.3 rule 1).
  assert.ok(byName(cfg.clusters, 'cds_egress_shop_red_shop_http_8080').transport_socket);
  assert.ok(ledger.transport_socket);
});

test('ingress: local app cluster with the listener connection pool as circuit breakers and route timeout', async () => {
  const cfg = compileNode(await loadMesh(), 'mesh/shop/virtualNode/blue_shop');
  const local = byName(cfg.clusters, 'cds_ingress_shop_blue_shop_http_8080');
  assert.equal(local.type, 'STATIC');
  assert.deepEqual((local.circuit_breakers as JsonObject).thresholds, [
    { max_connections: 100, max_pending_requests: 10, max_requests: 2147483647, max_retries: 2147483647 },
  ]);
  const chain = (byName(cfg.listeners, 'lds_ingress_0.0.0.0_15000').filter_chains as JsonObject[])[0]!;
  const hcm = (chain.filters as JsonObject[])[0]!.typed_config as JsonObject;
  const route = (
    ((hcm.route_config as JsonObject).virtual_hosts as JsonObject[])[0]!.routes as JsonObject[]
  )[0]!.route as JsonObject;
  assert.deepEqual(route, {
    cluster: 'cds_ingress_shop_blue_shop_http_8080',
    timeout: '30s',
    idle_timeout: '60s',
  });
});

test('ALLOW_ALL: a * virtual host and a default chain to the original destination', async () => {
  const state = await loadMesh();
  state.meshByAwsName('shop')!.spec.egressFilter = { type: 'ALLOW_ALL' };
  const cfg = compileNode(state, 'mesh/shop/virtualNode/front_shop');
  const egress = byName(cfg.listeners, 'lds_egress_0.0.0.0_15001');
  const passthrough = byName(cfg.clusters, 'cds_egress_shop_allow_all');
  assert.equal(passthrough.type, 'ORIGINAL_DST');
  assert.equal(passthrough.lb_policy, 'CLUSTER_PROVIDED');
  const def = ((egress.default_filter_chain as JsonObject).filters as JsonObject[])[0]!
    .typed_config as JsonObject;
  assert.equal(def.cluster, 'cds_egress_shop_allow_all');
  const rc = byName(cfg.routeConfigurations, 'rds_egress_http_8080');
  assert.deepEqual((rc.virtual_hosts as JsonObject[]).at(-1)!.domains, ['*']);
});

test('a route to an unknown virtual node is reported; the rest of the mesh still compiles', () => {
  const state = meshFromYaml(
    meshYaml(
      nsObject(
        'VirtualNode',
        'a',
        `
spec:
  listeners: [{ portMapping: { port: 80, protocol: http } }]
  serviceDiscovery: { dns: { hostname: a.ns } }`,
      ),
      nsObject(
        'VirtualRouter',
        'r',
        `
spec:
  listeners: [{ portMapping: { port: 80, protocol: http } }]
  routes:
    - name: good
      priority: 1
      httpRoute:
        match: { prefix: /a }
        action: { weightedTargets: [{ virtualNodeRef: { name: a }, weight: 1 }] }
    - name: dangling
      priority: 2
      httpRoute:
        match: { prefix: / }
        action: { weightedTargets: [{ virtualNodeRef: { name: ghost }, weight: 1 }] }`,
      ),
      virtualServiceYaml('s', { virtualRouter: 'r' }),
      nsObject(
        'VirtualNode',
        'client',
        `
spec:
  backends: [{ virtualService: { virtualServiceRef: { name: s } } }]`,
      ),
    ),
  );
  assert.ok(
    state.errors.some((i) => /ghost/.test(i.rule)),
    'the model reports the dangling reference',
  );
  const all = compileMesh(state);
  const client = all.get('mesh/m/virtualNode/client_ns')!;
  assert.deepEqual(
    client.issues.map((i) => [i.code, i.object, i.path]),
    [
      [
        'TM_ERR_COMPILE_REFERENCE',
        'VirtualRouter ns/r',
        'spec.routes[1].httpRoute.action.weightedTargets[0]',
      ],
    ],
  );
  const routes = (byName(client.routeConfigurations, 'rds_egress_http_80').virtual_hosts as JsonObject[])[0]!
    .routes as JsonObject[];
  assert.deepEqual(
    routes.map((r) => r.name),
    ['good'],
  );
  assert.ok(all.get('mesh/m/virtualNode/a_ns')!.listeners.length > 0);
});

test('unknown or malformed node ids throw UnknownNodeError', async () => {
  const state = await loadMesh();
  for (const id of ['mesh/shop/virtualNode/nope', 'mesh/other/virtualNode/front_shop', 'front_shop'])
    assert.throws(() => compileNode(state, id), UnknownNodeError, id);
});

test('config dump: Envoy admin ConfigDump shape that the admin protos accept', async () => {
  const cfg = compileNode(await loadMesh(), 'mesh/shop/virtualNode/front_shop');
  const dump = configDump(cfg, { listeners: 'v1', clusters: 'v2' });
  const types = (dump.configs as JsonObject[]).map((c) => String(c['@type']).split('.').at(-1));
  assert.deepEqual(types, [
    'ListenersConfigDump',
    'ClustersConfigDump',
    'RoutesConfigDump',
    'EndpointsConfigDump',
    'SecretsConfigDump',
  ]);
  assert.ok(encodeMessageJson('envoy.admin.v3.ConfigDump', dump).length > 0);
});
