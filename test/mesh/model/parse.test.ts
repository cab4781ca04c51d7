/* eslint-disable @typescript-eslint/no-explicit-any -- test manifests are untyped JSON, edited row by row */
/**
 * parseResource: defaults, schema limits and enums, unknown-field pruning (reference §a.0–§a.8).
 * Every expectation is written from the reference tables, not from our output.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseResource,
  parseResourceOrThrow,
  InvalidResourceError,
  formatIssue,
} from '../../../src/mesh/model/index.js';
import {
  API,
  NS,
  gatewayRoute,
  mesh,
  strictSdsTls,
  variant,
  virtualGateway,
  virtualNode,
  virtualRouter,
  virtualService,
  httpRoute,
} from './fixtures.js';

function valid(obj: unknown): any {
  const r = parseResource(obj);
  assert.equal(r.outcome, 'valid', r.outcome === 'invalid' ? r.errors.map(formatIssue).join('\n') : '');
  return r.outcome === 'valid' ? r.resource : undefined;
}

function errors(obj: unknown) {
  const r = parseResource(obj);
  assert.equal(r.outcome, 'invalid', 'expected the object to be rejected');
  return r.outcome === 'invalid' ? r.errors : [];
}

describe('defaults (§a.0 awsName table, §a.1, §a.3, §a.7)', () => {
  it('Mesh awsName = metadata.name; egressFilter DROP_ALL when unspecified', () => {
    const m = valid(mesh('m1'));
    assert.equal(m.spec.awsName, 'm1');
    assert.deepEqual(m.spec.egressFilter, { type: 'DROP_ALL' });
    assert.deepEqual(
      valid(variant(mesh('m1'), (o) => (o.spec.egressFilter = { type: 'ALLOW_ALL' }))).spec.egressFilter,
      {
        type: 'ALLOW_ALL',
      },
    );
  });
  it('VirtualNode, VirtualRouter, VirtualGateway, GatewayRoute awsName = <name>_<namespace>', () => {
    assert.equal(valid(virtualNode('blue')).spec.awsName, `blue_${NS}`);
    assert.equal(valid(virtualRouter('color', [httpRoute('r', 'blue')])).spec.awsName, `color_${NS}`);
    assert.equal(valid(virtualGateway('gw')).spec.awsName, `gw_${NS}`);
    assert.equal(valid(gatewayRoute('gr')).spec.awsName, `gr_${NS}`);
  });
  it('VirtualService awsName = <name>.<namespace>; an explicit awsName (FQDN) is kept', () => {
    const provider = { virtualRouter: { virtualRouterRef: { name: 'color' } } };
    assert.equal(valid(virtualService('color', provider)).spec.awsName, `color.${NS}`);
    const fqdn = `color.${NS}.svc.cluster.local`;
    assert.equal(
      valid(variant(virtualService('color', provider), (o) => (o.spec.awsName = fqdn))).spec.awsName,
      fqdn,
    );
  });
  it('namespaced objects without a namespace get the default one; Mesh stays cluster-scoped', () => {
    const vn = valid(variant(virtualNode('blue'), (o) => delete o.metadata.namespace));
    assert.equal(vn.metadata.namespace, 'default');
    assert.equal(vn.spec.awsName, 'blue_default');
    const r = parseResource(
      variant(virtualNode('blue'), (o) => delete o.metadata.namespace),
      { defaultNamespace: 'apps' },
    );
    assert.equal(r.outcome === 'valid' && r.resource.metadata.namespace, 'apps');
    assert.equal(valid(mesh('m1')).metadata.namespace, undefined);
  });
  it('reference namespaces default to the referencing object namespace', () => {
    const vn = valid(
      virtualNode('front', { backends: [{ virtualService: { virtualServiceRef: { name: 'color' } } }] }),
    );
    assert.deepEqual(vn.spec.backends[0].virtualService.virtualServiceRef, { name: 'color', namespace: NS });
    const vr = valid(virtualRouter('color', [httpRoute('r', 'blue')]));
    assert.deepEqual(vr.spec.routes[0].httpRoute.action.weightedTargets[0].virtualNodeRef, {
      name: 'blue',
      namespace: NS,
    });
    const explicit = valid(
      virtualService('s', { virtualNode: { virtualNodeRef: { name: 'x', namespace: 'other' } } }),
    );
    assert.equal(explicit.spec.provider.virtualNode.virtualNodeRef.namespace, 'other');
  });
  it('client policy tls.enforce defaults to true; an explicit false is kept', () => {
    const policy = (tls: Record<string, unknown>) => ({
      backendDefaults: {
        clientPolicy: { tls: { validation: { trust: { sds: { secretName: 'ROOTCA' } } }, ...tls } },
      },
    });
    assert.equal(valid(virtualNode('front', policy({}))).spec.backendDefaults.clientPolicy.tls.enforce, true);
    assert.equal(
      valid(virtualNode('front', policy({ enforce: false }))).spec.backendDefaults.clientPolicy.tls.enforce,
      false,
    );
  });
  it('header invert defaults to false; GatewayRoute priority defaults to 1000 (lowest)', () => {
    const vr = valid(
      virtualRouter('color', [
        httpRoute('r', 'blue', {
          prefix: '/',
          headers: [{ name: 'color_header', match: { exact: 'blue' } }],
        }),
      ]),
    );
    assert.equal(vr.spec.routes[0].httpRoute.match.headers[0].invert, false);
    assert.equal(valid(gatewayRoute('gr')).spec.priority, 1000);
    assert.equal(valid(gatewayRoute('gr', { priority: 5 })).spec.priority, 5);
  });
  it('the input object is not modified', () => {
    const input = virtualNode('blue');
    const before = JSON.stringify(input);
    valid(input);
    assert.equal(JSON.stringify(input), before);
  });
});

describe('unknown nested fields are pruned with a warning naming the path (§a.0 Unknown fields)', () => {
  it('the blog-era clientPolicy.tls.mode is dropped, the object is accepted', () => {
    const obj = virtualNode('front', {
      backendDefaults: {
        clientPolicy: {
          tls: { mode: 'STRICT', enforce: true, validation: { trust: { sds: { secretName: 'ROOTCA' } } } },
        },
      },
    });
    const r = parseResource(obj);
    assert.equal(r.outcome, 'valid');
    assert.ok(r.outcome === 'valid');
    assert.equal('mode' in (r.resource as any).spec.backendDefaults.clientPolicy.tls, false);
    assert.equal(r.warnings.length, 1);
    assert.equal(r.warnings[0]!.code, 'TM_WARN_MESH_PRUNED');
    assert.equal(r.warnings[0]!.path, 'spec.backendDefaults.clientPolicy.tls.mode');
    assert.equal(r.warnings[0]!.severity, 'warning');
  });
  it('unknown fields in arrays of objects are named with their index', () => {
    const r = parseResource(
      variant(virtualNode('blue'), (o) => (o.spec.listeners[0].portMapping.name = 'web')),
    );
    assert.ok(r.outcome === 'valid');
    assert.deepEqual(
      r.warnings.map((w) => w.path),
      ['spec.listeners[0].portMapping.name'],
    );
  });
  it('root fields (status) and metadata fields are preserved without warnings', () => {
    const r = parseResource(
      variant(virtualNode('blue'), (o) => {
        o.status = { virtualNodeARN: 'arn:aws:appmesh:eu-west-1:1:mesh/m/virtualNode/blue' };
        o.metadata.creationTimestamp = '2021-02-10T11:44:03Z';
      }),
    );
    assert.ok(r.outcome === 'valid');
    assert.deepEqual(r.warnings, []);
    assert.equal((r.resource as any).metadata.creationTimestamp, '2021-02-10T11:44:03Z');
  });
  it('Kubernetes kinds keep fields the mesh does not model (no warnings)', () => {
    const r = parseResource({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'blue', namespace: NS },
      spec: {
        selector: { matchLabels: { app: 'color' } },
        template: {
          metadata: { labels: { app: 'color' } },
          spec: {
            containers: [{ name: 'app', image: 'colorapp', imagePullPolicy: 'Always', resources: {} }],
          },
        },
      },
    });
    assert.ok(r.outcome === 'valid');
    assert.deepEqual(r.warnings, []);
    assert.equal((r.resource as any).spec.template.spec.containers[0].imagePullPolicy, 'Always');
    assert.equal((r.resource as any).spec.replicas, 1);
  });
  it('kinds the mesh does not read are ignored with a warning; unknown App Mesh kinds/versions are errors', () => {
    const cm = parseResource({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } });
    assert.equal(cm.outcome, 'ignored');
    assert.equal(cm.warnings[0]!.code, 'TM_WARN_MESH_IGNORED');
    const old = parseResource({
      apiVersion: 'appmesh.k8s.aws/v1beta1',
      kind: 'VirtualNode',
      metadata: { name: 'x' },
    });
    assert.ok(old.outcome === 'invalid');
    assert.equal(old.errors[0]!.code, 'TM_ERR_MESH_UNSUPPORTED_KIND');
    const typo = parseResource({ apiVersion: API, kind: 'VirtualNodes', metadata: { name: 'x' } });
    assert.ok(typo.outcome === 'invalid');
    for (const notObject of [null, 'text', 42, [], { kind: 'Mesh' }]) {
      const r = parseResource(notObject);
      assert.ok(r.outcome === 'invalid');
      assert.equal(r.errors[0]!.code, 'TM_ERR_MESH_NOT_AN_OBJECT');
    }
  });
});

/** One row per schema limit of reference §a: [name, object, expected path, rule fragment]. */
const tlsNode = (tls: unknown) => variant(virtualNode('blue'), (o) => (o.spec.listeners[0].tls = tls));
const hc = {
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  intervalMillis: 5000,
  timeoutMillis: 2000,
  protocol: 'http',
};
const withHc = (patch: Record<string, unknown>) =>
  variant(virtualNode('blue'), (o) => (o.spec.listeners[0].healthCheck = { ...hc, ...patch }));
const od = {
  maxServerErrors: 1,
  interval: { unit: 's', value: 10 },
  baseEjectionDuration: { unit: 's', value: 10 },
  maxEjectionPercent: 10,
};
const route = (patch: (r: any) => void) => virtualRouter('color', [variant(httpRoute('r', 'blue'), patch)]);

const schemaRows: [string, unknown, string, RegExp][] = [
  [
    'port 0 (PortNumber 1–65535)',
    variant(virtualNode('b'), (o) => (o.spec.listeners[0].portMapping.port = 0)),
    'spec.listeners[0].portMapping.port',
    /≥ 1/,
  ],
  [
    'port 65536',
    variant(virtualNode('b'), (o) => (o.spec.listeners[0].portMapping.port = 65536)),
    'spec.listeners[0].portMapping.port',
    /≤ 65535/,
  ],
  [
    'port as a string',
    variant(virtualNode('b'), (o) => (o.spec.listeners[0].portMapping.port = '8080')),
    'spec.listeners[0].portMapping.port',
    /integer/,
  ],
  [
    'protocol not in http|http2|grpc|tcp',
    variant(virtualNode('b'), (o) => (o.spec.listeners[0].portMapping.protocol = 'https')),
    'spec.listeners[0].portMapping.protocol',
    /http, http2, grpc, tcp/,
  ],
  [
    'healthyThreshold 1 (2–10)',
    withHc({ healthyThreshold: 1 }),
    'spec.listeners[0].healthCheck.healthyThreshold',
    /≥ 2/,
  ],
  [
    'unhealthyThreshold 11',
    withHc({ unhealthyThreshold: 11 }),
    'spec.listeners[0].healthCheck.unhealthyThreshold',
    /≤ 10/,
  ],
  [
    'intervalMillis 4999 (5000–300000)',
    withHc({ intervalMillis: 4999 }),
    'spec.listeners[0].healthCheck.intervalMillis',
    /≥ 5000/,
  ],
  [
    'timeoutMillis 60001 (2000–60000)',
    withHc({ timeoutMillis: 60001 }),
    'spec.listeners[0].healthCheck.timeoutMillis',
    /≤ 60000/,
  ],
  [
    'healthCheck without protocol',
    variant(withHc({}), (o) => delete o.spec.listeners[0].healthCheck.protocol),
    'spec.listeners[0].healthCheck.protocol',
    /required/,
  ],
  [
    'outlierDetection maxServerErrors 0',
    variant(virtualNode('b'), (o) => (o.spec.listeners[0].outlierDetection = { ...od, maxServerErrors: 0 })),
    'spec.listeners[0].outlierDetection.maxServerErrors',
    /≥ 1/,
  ],
  [
    'outlierDetection maxEjectionPercent 101',
    variant(
      virtualNode('b'),
      (o) => (o.spec.listeners[0].outlierDetection = { ...od, maxEjectionPercent: 101 }),
    ),
    'spec.listeners[0].outlierDetection.maxEjectionPercent',
    /≤ 100/,
  ],
  [
    'outlierDetection without interval',
    variant(virtualNode('b'), (o) => {
      o.spec.listeners[0].outlierDetection = { ...od };
      delete o.spec.listeners[0].outlierDetection.interval;
    }),
    'spec.listeners[0].outlierDetection.interval',
    /required/,
  ],
  [
    'Duration unit m (s|ms)',
    variant(
      virtualNode('b'),
      (o) => (o.spec.listeners[0].outlierDetection = { ...od, interval: { unit: 'm', value: 1 } }),
    ),
    'spec.listeners[0].outlierDetection.interval.unit',
    /s, ms/,
  ],
  [
    'Duration value -1',
    variant(
      virtualNode('b'),
      (o) => (o.spec.listeners[0].outlierDetection = { ...od, interval: { unit: 's', value: -1 } }),
    ),
    'spec.listeners[0].outlierDetection.interval.value',
    /≥ 0/,
  ],
  [
    'listener tls without mode',
    tlsNode({ certificate: { sds: { secretName: 'x' } } }),
    'spec.listeners[0].tls.mode',
    /required/,
  ],
  [
    'listener tls mode strict (enum is upper case)',
    tlsNode({ mode: 'strict', certificate: { sds: { secretName: 'x' } } }),
    'spec.listeners[0].tls.mode',
    /STRICT, PERMISSIVE, DISABLED/,
  ],
  [
    'listener tls without certificate',
    tlsNode({ mode: 'STRICT' }),
    'spec.listeners[0].tls.certificate',
    /required/,
  ],
  [
    'file certificateChain longer than 255',
    tlsNode({
      mode: 'STRICT',
      certificate: { file: { certificateChain: 'x'.repeat(256), privateKey: '/k' } },
    }),
    'spec.listeners[0].tls.certificate.file.certificateChain',
    /≤ 255/,
  ],
  [
    'listener validation without trust',
    tlsNode({ mode: 'STRICT', certificate: { sds: { secretName: 'x' } }, validation: {} }),
    'spec.listeners[0].tls.validation.trust',
    /required/,
  ],
  [
    'client policy tls without validation',
    virtualNode('f', { backendDefaults: { clientPolicy: { tls: { enforce: true } } } }),
    'spec.backendDefaults.clientPolicy.tls.validation',
    /required/,
  ],
  [
    'client policy acm certificateAuthorityARNs: 4 (1..3)',
    virtualNode('f', {
      backendDefaults: {
        clientPolicy: {
          tls: { validation: { trust: { acm: { certificateAuthorityARNs: ['a', 'b', 'c', 'd'] } } } },
        },
      },
    }),
    'spec.backendDefaults.clientPolicy.tls.validation.trust.acm.certificateAuthorityARNs',
    /at most 3/,
  ],
  [
    'client policy port 0',
    virtualNode('f', {
      backendDefaults: {
        clientPolicy: { tls: { ports: [0], validation: { trust: { sds: { secretName: 'ROOTCA' } } } } },
      },
    }),
    'spec.backendDefaults.clientPolicy.tls.ports[0]',
    /≥ 1/,
  ],
  [
    'awsCloudMap namespaceName empty (1–1024)',
    variant(
      virtualNode('b'),
      (o) => (o.spec.serviceDiscovery = { awsCloudMap: { namespaceName: '', serviceName: 's' } }),
    ),
    'spec.serviceDiscovery.awsCloudMap.namespaceName',
    /≥ 1/,
  ],
  [
    'dns responseType not ENDPOINTS|LOADBALANCER',
    variant(virtualNode('b'), (o) => (o.spec.serviceDiscovery.dns.responseType = 'A')),
    'spec.serviceDiscovery.dns.responseType',
    /ENDPOINTS, LOADBALANCER/,
  ],
  [
    'access log path empty',
    virtualNode('b', { logging: { accessLog: { file: { path: '' } } } }),
    'spec.logging.accessLog.file.path',
    /≥ 1/,
  ],
  [
    'Mesh egressFilter type not ALLOW_ALL|DROP_ALL',
    variant(mesh('m'), (o) => (o.spec.egressFilter = { type: 'DENY' })),
    'spec.egressFilter.type',
    /ALLOW_ALL, DROP_ALL/,
  ],
  ['route priority 1001 (0–1000)', route((r) => (r.priority = 1001)), 'spec.routes[0].priority', /≤ 1000/],
  ['route priority -1', route((r) => (r.priority = -1)), 'spec.routes[0].priority', /≥ 0/],
  [
    'weight 101 (0–100)',
    route((r) => (r.httpRoute.action.weightedTargets[0].weight = 101)),
    'spec.routes[0].httpRoute.action.weightedTargets[0].weight',
    /≤ 100/,
  ],
  [
    'weight -1',
    route((r) => (r.httpRoute.action.weightedTargets[0].weight = -1)),
    'spec.routes[0].httpRoute.action.weightedTargets[0].weight',
    /≥ 0/,
  ],
  [
    '11 weighted targets (1–10)',
    route(
      (r) =>
        (r.httpRoute.action.weightedTargets = Array.from({ length: 11 }, (_, i) => ({
          virtualNodeRef: { name: `n${i}` },
          weight: 0,
        }))),
    ),
    'spec.routes[0].httpRoute.action.weightedTargets',
    /at most 10/,
  ],
  [
    '0 weighted targets',
    route((r) => (r.httpRoute.action.weightedTargets = [])),
    'spec.routes[0].httpRoute.action.weightedTargets',
    /at least 1/,
  ],
  [
    '11 headers (1–10)',
    route((r) => (r.httpRoute.match.headers = Array.from({ length: 11 }, (_, i) => ({ name: `h${i}` })))),
    'spec.routes[0].httpRoute.match.headers',
    /at most 10/,
  ],
  [
    'header name longer than 50',
    route((r) => (r.httpRoute.match.headers = [{ name: 'h'.repeat(51) }])),
    'spec.routes[0].httpRoute.match.headers[0].name',
    /≤ 50/,
  ],
  [
    'header exact longer than 255',
    route((r) => (r.httpRoute.match.headers = [{ name: 'h', match: { exact: 'v'.repeat(256) } }])),
    'spec.routes[0].httpRoute.match.headers[0].match.exact',
    /≤ 255/,
  ],
  [
    'method not an HTTP method',
    route((r) => (r.httpRoute.match.method = 'FETCH')),
    'spec.routes[0].httpRoute.match.method',
    /CONNECT, DELETE, GET/,
  ],
  [
    'scheme not http|https',
    route((r) => (r.httpRoute.match.scheme = 'ftp')),
    'spec.routes[0].httpRoute.match.scheme',
    /http, https/,
  ],
  [
    'httpRetryEvents value',
    route(
      (r) =>
        (r.httpRoute.retryPolicy = {
          maxRetries: 1,
          perRetryTimeout: { unit: 's', value: 1 },
          httpRetryEvents: ['5xx'],
        }),
    ),
    'spec.routes[0].httpRoute.retryPolicy.httpRetryEvents[0]',
    /server-error, gateway-error/,
  ],
  [
    'tcpRetryEvents: 2 items (max 1)',
    route(
      (r) =>
        (r.httpRoute.retryPolicy = {
          maxRetries: 1,
          perRetryTimeout: { unit: 's', value: 1 },
          tcpRetryEvents: ['connection-error', 'connection-error'],
        }),
    ),
    'spec.routes[0].httpRoute.retryPolicy.tcpRetryEvents',
    /at most 1/,
  ],
  [
    'retryPolicy without perRetryTimeout',
    route((r) => (r.httpRoute.retryPolicy = { maxRetries: 1 })),
    'spec.routes[0].httpRoute.retryPolicy.perRetryTimeout',
    /required/,
  ],
  [
    'VirtualRouter without listeners (min 1)',
    variant(virtualRouter('color', []), (o) => (o.spec.listeners = [])),
    'spec.listeners',
    /at least 1/,
  ],
  [
    'VirtualGateway listener protocol tcp (http|http2|grpc)',
    variant(virtualGateway('gw'), (o) => (o.spec.listeners[0].portMapping.protocol = 'tcp')),
    'spec.listeners[0].portMapping.protocol',
    /http, http2, grpc/,
  ],
  ['GatewayRoute priority 1001', gatewayRoute('gr', { priority: 1001 }), 'spec.priority', /≤ 1000/],
  [
    'GatewayRoute hostname exact longer than 253',
    gatewayRoute('gr', {
      httpRoute: {
        match: { hostname: { exact: 'h'.repeat(254) } },
        action: { target: { virtualService: { virtualServiceRef: { name: 'c' } } } },
      },
    }),
    'spec.httpRoute.match.hostname.exact',
    /≤ 253/,
  ],
  [
    'GatewayRoute rewrite defaultPrefix not ENABLED|DISABLED',
    gatewayRoute('gr', {
      httpRoute: {
        match: { prefix: '/' },
        action: {
          target: { virtualService: { virtualServiceRef: { name: 'c' } } },
          rewrite: { prefix: { defaultPrefix: 'ON' } },
        },
      },
    }),
    'spec.httpRoute.action.rewrite.prefix.defaultPrefix',
    /ENABLED, DISABLED/,
  ],
  [
    'metadata.name missing',
    variant(virtualNode('b'), (o) => delete o.metadata.name),
    'metadata.name',
    /required/,
  ],
  ['spec missing', variant(virtualNode('b'), (o) => delete o.spec), 'spec', /required/],
];

describe('schema limits and enums (§a tables): each row rejected with its field path', () => {
  for (const [name, obj, path, rule] of schemaRows) {
    it(name, () => {
      const errs = errors(obj);
      const hit = errs.find((e) => e.path === path);
      assert.ok(hit, `no error at ${path}; got:\n${errs.map(formatIssue).join('\n')}`);
      assert.match(hit.rule, rule);
      assert.equal(hit.severity, 'error');
    });
  }
  it('the limits themselves are accepted (boundaries)', () => {
    valid(
      withHc({ healthyThreshold: 10, unhealthyThreshold: 2, intervalMillis: 300000, timeoutMillis: 60000 }),
    );
    valid(route((r) => ((r.priority = 0), (r.httpRoute.action.weightedTargets[0].weight = 100))));
    valid(route((r) => (r.priority = 1000)));
    valid(
      route((r) => (r.httpRoute.match.headers = Array.from({ length: 10 }, (_, i) => ({ name: `h${i}` })))),
    );
    valid(
      tlsNode(
        strictSdsTls('spiffe://howto-k8s-mtls-sds-based.aws/colorblue', [
          'spiffe://howto-k8s-mtls-sds-based.aws/front',
        ]),
      ),
    );
    valid(variant(virtualNode('b'), (o) => (o.spec.listeners[0].portMapping.port = 65535)));
  });
  it('all errors of one object are reported at once', () => {
    const obj = variant(virtualNode('b'), (o) => {
      o.spec.listeners[0].portMapping.port = 0;
      o.spec.listeners[0].portMapping.protocol = 'udp';
      o.spec.listeners[0].healthCheck = { ...hc, healthyThreshold: 1 };
    });
    assert.deepEqual(
      errors(obj)
        .map((e) => e.path)
        .sort(),
      [
        'spec.listeners[0].healthCheck.healthyThreshold',
        'spec.listeners[0].portMapping.port',
        'spec.listeners[0].portMapping.protocol',
      ],
    );
  });
  it('parseResourceOrThrow throws InvalidResourceError carrying every issue', () => {
    assert.throws(
      () =>
        parseResourceOrThrow(variant(virtualNode('b'), (o) => (o.spec.listeners[0].portMapping.port = 0))),
      (err: unknown) =>
        err instanceof InvalidResourceError &&
        err.issues.length === 1 &&
        err.code === 'TM_ERR_MESH_INVALID_RESOURCE',
    );
    assert.equal(parseResourceOrThrow(mesh('m')).kind, 'Mesh');
  });
});

describe('errors', () => {
  it('instanceof: the base matches every mesh/model error, a subclass only its own', async () => {
    const { MeshModelError } = await import('../../../src/mesh/model/index.js');
    const base = new MeshModelError('TM_ERR_X', 'x');
    const invalid = new InvalidResourceError([]);
    assert.ok(invalid instanceof MeshModelError);
    assert.ok(invalid instanceof InvalidResourceError);
    assert.ok(!(base instanceof InvalidResourceError));
    assert.ok(!(new Error('x') instanceof MeshModelError));
    assert.match(base.message, /^mesh\/model: x$/);
  });
});
