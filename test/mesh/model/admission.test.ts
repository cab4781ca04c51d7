/**
 * Per-object admission rules of App Mesh's webhooks (reference §a.2–§a.7) and update rules (§a.0):
 * one accepting and one rejecting row per rule, asserting the code, the field path and the rule text.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkUpdate,
  formatIssue,
  parseResource,
  parseResourceOrThrow,
} from '../../../src/mesh/model/index.js';
import {
  NS,
  gatewayRoute,
  httpRoute,
  mesh,
  variant,
  virtualGateway,
  virtualNode,
  virtualRouter,
  virtualService,
} from './fixtures.js';

type Row = { name: string; obj: unknown; code?: string; path?: string; rule?: RegExp };

function expectAccepted(obj: unknown): void {
  const r = parseResource(obj);
  assert.equal(r.outcome, 'valid', r.outcome === 'invalid' ? r.errors.map(formatIssue).join('\n') : '');
}

function expectRejected({ obj, code, path, rule }: Row): void {
  const r = parseResource(obj);
  assert.ok(r.outcome === 'invalid', 'expected a rejection');
  const hit = r.errors.find(
    (e) => (code === undefined || e.code === code) && (path === undefined || e.path === path),
  );
  assert.ok(hit, `no ${code} at ${path}; got:\n${r.errors.map(formatIssue).join('\n')}`);
  if (rule) assert.match(hit.rule, rule);
}

const target = { virtualService: { virtualServiceRef: { name: 'color' } } };
const gwHttp = (match: Record<string, unknown>, rewrite?: Record<string, unknown>) =>
  gatewayRoute('gr', { httpRoute: { match, action: { target, ...(rewrite ? { rewrite } : {}) } } });
const trust = { sds: { secretName: 'spiffe://howto-k8s-mtls-sds-based.aws' } };

const accepted: [string, unknown][] = [
  ['VirtualNode with listeners and serviceDiscovery', virtualNode('blue')],
  [
    'VirtualNode without listeners needs no serviceDiscovery',
    variant(virtualNode('front'), (o) => (delete o.spec.listeners, delete o.spec.serviceDiscovery)),
  ],
  [
    'one connection pool type matching the listener protocol',
    variant(virtualNode('b'), (o) => (o.spec.listeners[0].connectionPool = { http: { maxConnections: 10 } })),
  ],
  [
    'listener certificate: exactly one of acm/file/sds',
    variant(
      virtualNode('b'),
      (o) =>
        (o.spec.listeners[0].tls = {
          mode: 'PERMISSIVE',
          certificate: { file: { certificateChain: '/c.pem', privateKey: '/k.pem' } },
        }),
    ),
  ],
  [
    'two backends with different refs',
    virtualNode('f', {
      backends: [
        { virtualService: { virtualServiceRef: { name: 'a' } } },
        { virtualService: { virtualServiceRef: { name: 'a', namespace: 'other' } } },
      ],
    }),
  ],
  [
    'VirtualService with a single provider',
    virtualService('s', {
      virtualNode: { virtualNodeARN: 'arn:aws:appmesh:eu-west-1:1:mesh/m/virtualNode/x' },
    }),
  ],
  [
    'VirtualService without a provider (optional in the CRD)',
    variant(virtualService('s', undefined), (o) => delete o.spec.provider),
  ],
  [
    'routes with distinct names, prefix only, path only',
    virtualRouter('color', [
      httpRoute('a', 'blue'),
      httpRoute('b', 'blue', { path: { exact: '/x' } }),
      httpRoute('c', 'blue', { path: { regex: '/x.*' } }),
    ]),
  ],
  [
    'weights totalling 100',
    virtualRouter('color', [
      variant(
        httpRoute('a', 'blue'),
        (r) =>
          (r.httpRoute.action.weightedTargets = [
            { virtualNodeRef: { name: 'b' }, weight: 50 },
            { virtualNodeRef: { name: 'g' }, weight: 50 },
          ]),
      ),
    ]),
  ],
  [
    'header match range with start < end, invert',
    virtualRouter('color', [
      httpRoute('a', 'blue', {
        prefix: '/',
        headers: [{ name: 'x', match: { range: { start: 1, end: 2 } }, invert: true }, { name: 'present' }],
      }),
    ]),
  ],
  [
    'grpc route on a grpc router, methodName with serviceName',
    variant(
      virtualRouter('g', [
        {
          name: 'a',
          grpcRoute: {
            match: { serviceName: 's', methodName: 'm' },
            action: { weightedTargets: [{ virtualNodeRef: { name: 'n' }, weight: 1 }] },
          },
        },
      ]),
      (o) => (o.spec.listeners[0].portMapping.protocol = 'grpc'),
    ),
  ],
  ['GatewayRoute with one route type and a prefix', gatewayRoute('gr')],
  ['GatewayRoute hostname-only match', gwHttp({ hostname: { suffix: '.example.com' } })],
  [
    'GatewayRoute prefix rewrite value starting and ending with /',
    gwHttp({ prefix: '/color/' }, { prefix: { value: '/paint/' } }),
  ],
  [
    'GatewayRoute hostname rewrite with a path match',
    gwHttp({ path: { exact: '/x' } }, { hostname: { defaultTargetHostname: 'DISABLED' } }),
  ],
  [
    'VirtualGateway listener with a file-trust validation',
    variant(
      virtualGateway('gw'),
      (o) =>
        (o.spec.listeners[0].tls = {
          mode: 'STRICT',
          certificate: { sds: { secretName: 'x' } },
          validation: { trust },
        }),
    ),
  ],
];

const rejected: Row[] = [
  {
    name: 'listeners without serviceDiscovery (§a.2 webhook message)',
    obj: variant(virtualNode('blue'), (o) => delete o.spec.serviceDiscovery),
    code: 'TM_ERR_MESH_SERVICE_DISCOVERY',
    path: 'spec.serviceDiscovery',
    rule: /^ServiceDiscovery missing for VirtualNode-blue\. ServiceDiscovery must be specified when a listener is specified\.$/,
  },
  {
    name: 'serviceDiscovery with both dns and awsCloudMap',
    obj: variant(
      virtualNode('b'),
      (o) => (o.spec.serviceDiscovery.awsCloudMap = { namespaceName: 'n', serviceName: 's' }),
    ),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.serviceDiscovery',
  },
  {
    name: 'serviceDiscovery empty',
    obj: variant(virtualNode('b'), (o) => (o.spec.serviceDiscovery = {})),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.serviceDiscovery',
  },
  {
    name: 'two connection pool types',
    obj: variant(
      virtualNode('b'),
      (o) =>
        (o.spec.listeners[0].connectionPool = { http: { maxConnections: 1 }, tcp: { maxConnections: 1 } }),
    ),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.listeners[0].connectionPool',
    rule: /^Only one type of Virtual Node Connection Pool is allowed$/,
  },
  {
    name: 'connection pool type not matching the listener protocol',
    obj: variant(
      virtualNode('b'),
      (o) => (o.spec.listeners[0].connectionPool = { tcp: { maxConnections: 1 } }),
    ),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.listeners[0].connectionPool.tcp',
  },
  {
    name: 'listener certificate with sds and file',
    obj: variant(
      virtualNode('b'),
      (o) =>
        (o.spec.listeners[0].tls = {
          mode: 'STRICT',
          certificate: { sds: { secretName: 'a' }, file: { certificateChain: '/c', privateKey: '/k' } },
        }),
    ),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.listeners[0].tls.certificate',
  },
  {
    name: 'listener certificate empty',
    obj: variant(virtualNode('b'), (o) => (o.spec.listeners[0].tls = { mode: 'STRICT', certificate: {} })),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.listeners[0].tls.certificate',
  },
  {
    name: 'listener validation trust acm (no ACM for listener validation: pruned, then none left)',
    obj: variant(
      virtualNode('b'),
      (o) =>
        (o.spec.listeners[0].tls = {
          mode: 'STRICT',
          certificate: { sds: { secretName: 'a' } },
          validation: { trust: { acm: { certificateAuthorityARNs: ['arn'] } } },
        }),
    ),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.listeners[0].tls.validation.trust',
  },
  {
    name: 'client policy trust with sds and file',
    obj: virtualNode('f', {
      backendDefaults: {
        clientPolicy: { tls: { validation: { trust: { ...trust, file: { certificateChain: '/ca' } } } } },
      },
    }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.backendDefaults.clientPolicy.tls.validation.trust',
  },
  {
    name: 'client policy certificate empty',
    obj: virtualNode('f', {
      backends: [
        {
          virtualService: {
            virtualServiceRef: { name: 'c' },
            clientPolicy: { tls: { certificate: {}, validation: { trust } } },
          },
        },
      ],
    }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.backends[0].virtualService.clientPolicy.tls.certificate',
  },
  {
    name: 'duplicate backends (same ref ns/name)',
    obj: virtualNode('f', {
      backends: [
        { virtualService: { virtualServiceRef: { name: 'a' } } },
        { virtualService: { virtualServiceRef: { name: 'a', namespace: NS } } },
      ],
    }),
    code: 'TM_ERR_MESH_DUPLICATE',
    path: 'spec.backends[1].virtualService',
  },
  {
    name: 'duplicate backends (same ARN)',
    obj: virtualNode('f', {
      backends: [
        { virtualService: { virtualServiceARN: 'arn:x' } },
        { virtualService: { virtualServiceARN: 'arn:x' } },
      ],
    }),
    code: 'TM_ERR_MESH_DUPLICATE',
    path: 'spec.backends[1].virtualService',
  },
  {
    name: 'backend with both ref and ARN',
    obj: virtualNode('f', {
      backends: [{ virtualService: { virtualServiceRef: { name: 'a' }, virtualServiceARN: 'arn:x' } }],
    }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.backends[0].virtualService',
  },
  {
    name: 'backend with neither ref nor ARN',
    obj: virtualNode('f', { backends: [{ virtualService: {} }] }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.backends[0].virtualService',
  },
  {
    name: 'duplicate listener ports',
    obj: variant(virtualNode('b'), (o) =>
      o.spec.listeners.push({ portMapping: { port: 8080, protocol: 'tcp' } }),
    ),
    code: 'TM_ERR_MESH_DUPLICATE',
    path: 'spec.listeners[1].portMapping.port',
  },
  {
    name: 'meshRef set by the user on create (read-only)',
    obj: variant(virtualNode('b'), (o) => (o.spec.meshRef = { name: 'm', uid: 'u' })),
    code: 'TM_ERR_MESH_READ_ONLY',
    path: 'spec.meshRef',
    rule: /create may not specify read-only field: spec\.meshRef/,
  },
  {
    name: 'virtualGatewayRef set by the user (read-only)',
    obj: gatewayRoute('gr', { virtualGatewayRef: { name: 'gw', uid: 'u' } }),
    code: 'TM_ERR_MESH_READ_ONLY',
    path: 'spec.virtualGatewayRef',
  },
  {
    name: 'VirtualService with two providers',
    obj: virtualService('s', {
      virtualNode: { virtualNodeRef: { name: 'a' } },
      virtualRouter: { virtualRouterRef: { name: 'r' } },
    }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.provider',
  },
  {
    name: 'VirtualService provider with ref and ARN',
    obj: virtualService('s', {
      virtualRouter: { virtualRouterRef: { name: 'r' }, virtualRouterARN: 'arn:x' },
    }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.provider.virtualRouter',
  },
  {
    name: 'duplicate route names (§a.5 webhook message)',
    obj: virtualRouter('color', [httpRoute('a', 'blue'), httpRoute('a', 'green')]),
    code: 'TM_ERR_MESH_DUPLICATE',
    path: 'spec.routes[1].name',
    rule: /^VirtualRouter-color has duplicate route entries for a$/,
  },
  {
    name: 'neither prefix nor path',
    obj: virtualRouter('color', [httpRoute('a', 'blue', {})]),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.routes[0].httpRoute.match',
    rule: /^Either Prefix or Path must be specified$/,
  },
  {
    name: 'both prefix and path',
    obj: virtualRouter('color', [httpRoute('a', 'blue', { prefix: '/', path: { exact: '/x' } })]),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.routes[0].httpRoute.match',
    rule: /^Both Prefix and Path cannot be specified, only 1 allowed$/,
  },
  {
    name: 'path with both exact and regex',
    obj: virtualRouter('color', [httpRoute('a', 'blue', { path: { exact: '/x', regex: '/y' } })]),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.routes[0].httpRoute.match.path',
  },
  {
    name: 'route with two route types',
    obj: virtualRouter('color', [variant(httpRoute('a', 'blue'), (r) => (r.http2Route = r.httpRoute))]),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.routes[0]',
  },
  {
    name: 'route with no route type',
    obj: virtualRouter('color', [{ name: 'a', priority: 1 }]),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.routes[0]',
  },
  {
    name: 'weights totalling more than 100',
    obj: virtualRouter('color', [
      variant(
        httpRoute('a', 'blue'),
        (r) =>
          (r.httpRoute.action.weightedTargets = [
            { virtualNodeRef: { name: 'b' }, weight: 60 },
            { virtualNodeRef: { name: 'g' }, weight: 50 },
          ]),
      ),
    ]),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.routes[0].httpRoute.action.weightedTargets',
    rule: /≤ 100 \(found 110\)/,
  },
  {
    name: 'weighted target with ref and ARN',
    obj: virtualRouter('color', [
      variant(
        httpRoute('a', 'blue'),
        (r) => (r.httpRoute.action.weightedTargets[0].virtualNodeARN = 'arn:x'),
      ),
    ]),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.routes[0].httpRoute.action.weightedTargets[0]',
  },
  {
    name: 'header match with exact and prefix',
    obj: virtualRouter('color', [
      httpRoute('a', 'blue', { prefix: '/', headers: [{ name: 'x', match: { exact: 'a', prefix: 'b' } }] }),
    ]),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.routes[0].httpRoute.match.headers[0].match',
  },
  {
    name: 'header range start ≥ end',
    obj: virtualRouter('color', [
      httpRoute('a', 'blue', {
        prefix: '/',
        headers: [{ name: 'x', match: { range: { start: 5, end: 5 } } }],
      }),
    ]),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.routes[0].httpRoute.match.headers[0].match.range',
  },
  {
    name: 'http route on a tcp router (protocol must match)',
    obj: variant(
      virtualRouter('color', [httpRoute('a', 'blue')]),
      (o) => (o.spec.listeners[0].portMapping.protocol = 'tcp'),
    ),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.routes[0].httpRoute',
  },
  {
    name: 'route match port without a router listener on it',
    obj: virtualRouter('color', [httpRoute('a', 'blue', { prefix: '/', port: 9090 })]),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.routes[0].httpRoute.match.port',
  },
  {
    name: 'grpc methodName without serviceName',
    obj: variant(
      virtualRouter('g', [
        {
          name: 'a',
          grpcRoute: {
            match: { methodName: 'm' },
            action: { weightedTargets: [{ virtualNodeRef: { name: 'n' }, weight: 1 }] },
          },
        },
      ]),
      (o) => (o.spec.listeners[0].portMapping.protocol = 'grpc'),
    ),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.routes[0].grpcRoute.match.methodName',
  },
  {
    name: 'GatewayRoute with no route type',
    obj: variant(gatewayRoute('gr'), (o) => delete o.spec.httpRoute),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec',
    rule: /^Missing GatewayRoute Type/,
  },
  {
    name: 'GatewayRoute with two route types',
    obj: variant(gatewayRoute('gr'), (o) => (o.spec.http2Route = o.spec.httpRoute)),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec',
    rule: /Only 1 \(GRPC\/HTTP\/HTTP2\) allowed/,
  },
  {
    name: 'GatewayRoute match without prefix, path or hostname',
    obj: gwHttp({ method: 'GET' }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.httpRoute.match',
  },
  {
    name: 'GatewayRoute prefix and path',
    obj: gwHttp({ prefix: '/', path: { exact: '/x' } }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.httpRoute.match',
  },
  {
    name: 'GatewayRoute hostname exact and suffix',
    obj: gwHttp({ hostname: { exact: 'a.b', suffix: '.b' } }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.httpRoute.match.hostname',
  },
  {
    name: 'GatewayRoute reserved prefix /aws-appmesh',
    obj: gwHttp({ prefix: '/aws-appmesh-health' }),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.httpRoute.match.prefix',
  },
  {
    name: 'GatewayRoute reserved prefix /aws-app-mesh',
    obj: gwHttp({ prefix: '/aws-app-mesh' }),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.httpRoute.match.prefix',
  },
  {
    name: 'GatewayRoute query parameter match without exact',
    obj: gwHttp({ prefix: '/', queryParameters: [{ name: 'q', match: {} }] }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.httpRoute.match.queryParameters[0].match',
  },
  {
    name: 'GatewayRoute empty rewrite',
    obj: gwHttp({ prefix: '/' }, {}),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.httpRoute.action.rewrite',
  },
  {
    name: 'GatewayRoute prefix and path rewrite',
    obj: gwHttp({ prefix: '/' }, { prefix: { defaultPrefix: 'ENABLED' }, path: { exact: '/x' } }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.httpRoute.action.rewrite',
  },
  {
    name: 'GatewayRoute rewrite value not ending with /',
    obj: gwHttp({ prefix: '/color/' }, { prefix: { value: '/paint' } }),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.httpRoute.action.rewrite.prefix.value',
  },
  {
    name: 'GatewayRoute rewrite both defaultPrefix and value',
    obj: gwHttp({ prefix: '/color/' }, { prefix: { defaultPrefix: 'ENABLED', value: '/p/' } }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.httpRoute.action.rewrite.prefix',
  },
  {
    name: 'GatewayRoute prefix rewrite with a path match (needs a prefix starting with /)',
    obj: gwHttp({ path: { exact: '/x' } }, { prefix: { defaultPrefix: 'DISABLED' } }),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.httpRoute.match.prefix',
  },
  {
    name: 'GatewayRoute header range start ≥ end',
    obj: gwHttp({ prefix: '/', headers: [{ name: 'x', match: { range: { start: 9, end: 1 } } }] }),
    code: 'TM_ERR_MESH_RULE',
    path: 'spec.httpRoute.match.headers[0].match.range',
  },
  {
    name: 'GatewayRoute target with neither ref nor ARN',
    obj: gatewayRoute('gr', {
      httpRoute: { match: { prefix: '/' }, action: { target: { virtualService: {} } } },
    }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.httpRoute.action.target.virtualService',
  },
  {
    name: 'grpc GatewayRoute without serviceName or hostname',
    obj: gatewayRoute('gr', { httpRoute: undefined, grpcRoute: { match: {}, action: { target } } }),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.grpcRoute.match',
  },
  {
    name: 'VirtualGateway two connection pool types',
    obj: variant(
      virtualGateway('gw'),
      (o) => (o.spec.listeners[0].connectionPool = { http: { maxConnections: 1 }, grpc: { maxRequests: 1 } }),
    ),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.listeners[0].connectionPool',
  },
  {
    name: 'VirtualGateway listener certificate empty',
    obj: variant(
      virtualGateway('gw'),
      (o) => (o.spec.listeners[0].tls = { mode: 'STRICT', certificate: {} }),
    ),
    code: 'TM_ERR_MESH_EXACTLY_ONE',
    path: 'spec.listeners[0].tls.certificate',
  },
];

describe('admission rules: accepted', () => {
  for (const [name, obj] of accepted) it(name, () => expectAccepted(obj));
});

describe('admission rules: rejected', () => {
  for (const row of rejected) it(row.name, () => expectRejected(row));
  it('schema errors and admission errors of one object come together', () => {
    const r = parseResource(
      virtualRouter('color', [variant(httpRoute('a', 'blue', {}), (x) => (x.priority = 5000))]),
    );
    assert.ok(r.outcome === 'invalid');
    assert.deepEqual(r.errors.map((e) => e.code).sort(), ['TM_ERR_MESH_EXACTLY_ONE', 'TM_ERR_MESH_SCHEMA']);
  });
  it('a health check path on a tcp listener is a warning, not an error', () => {
    const r = parseResource(
      variant(virtualNode('b'), (o) => {
        o.spec.listeners[0].portMapping.protocol = 'tcp';
        o.spec.listeners[0].healthCheck = {
          healthyThreshold: 2,
          unhealthyThreshold: 2,
          intervalMillis: 5000,
          timeoutMillis: 2000,
          protocol: 'tcp',
          path: '/ping',
        };
      }),
    );
    assert.ok(r.outcome === 'valid');
    assert.deepEqual(
      r.warnings.map((w) => [w.code, w.path]),
      [['TM_WARN_MESH_SEMANTICS', 'spec.listeners[0].healthCheck.path']],
    );
  });
});

describe('immutable fields on update (§a.0)', () => {
  const parse = (o: unknown) => parseResourceOrThrow(o);
  it('an update keeping awsName (explicit or defaulted) is allowed', () => {
    assert.deepEqual(
      checkUpdate(
        parse(virtualNode('blue')),
        parse(variant(virtualNode('blue'), (o) => (o.spec.podSelector = {}))),
      ),
      [],
    );
    assert.deepEqual(
      checkUpdate(parse(virtualNode('blue')), parse(virtualNode('blue', { awsName: `blue_${NS}` }))),
      [],
    );
  });
  it('changing spec.awsName is rejected with the webhook message', () => {
    const [e, ...rest] = checkUpdate(
      parse(virtualNode('blue')),
      parse(virtualNode('blue', { awsName: 'azure' })),
    );
    assert.equal(rest.length, 0);
    assert.equal(e!.code, 'TM_ERR_MESH_IMMUTABLE');
    assert.equal(e!.path, 'spec.awsName');
    assert.equal(e!.rule, 'VirtualNode update may not change these fields: spec.awsName');
  });
  it('Mesh awsName is immutable too', () => {
    const [e] = checkUpdate(parse(mesh('m')), parse(variant(mesh('m'), (o) => (o.spec.awsName = 'other'))));
    assert.match(e!.rule, /^Mesh update may not change these fields: spec\.awsName$/);
  });
  it('serviceDiscovery.awsCloudMap may not change once set; dns may', () => {
    const cm = (service: string) =>
      variant(
        virtualNode('blue'),
        (o) => (o.spec.serviceDiscovery = { awsCloudMap: { namespaceName: 'ns', serviceName: service } }),
      );
    const [e] = checkUpdate(parse(cm('a')), parse(cm('b')));
    assert.equal(e!.path, 'spec.serviceDiscovery.awsCloudMap');
    assert.deepEqual(
      checkUpdate(
        parse(virtualNode('blue')),
        parse(variant(virtualNode('blue'), (o) => (o.spec.serviceDiscovery.dns.hostname = 'x'))),
      ),
      [],
    );
    assert.equal(checkUpdate(parse(cm('a')), parse(virtualNode('blue'))).length, 1);
  });
});
