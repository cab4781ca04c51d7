/**
 * Cross-object rules of `buildMeshState` (reference §a.0 membership and pod matching, §a.7 gateway route
 * matching, references, §c.4 sidecar injection), plus the lookups the compiler relies on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildMeshState,
  formatIssue,
  parseAppMeshArn,
  parseResourceOrThrow,
  type MeshState,
} from '../../../src/mesh/model/index.js';
import {
  NS,
  deployment,
  gatewayRoute,
  httpRoute,
  mesh,
  namespace,
  variant,
  virtualGateway,
  virtualNode,
  virtualRouter,
  virtualService,
} from './fixtures.js';

function state(...objs: unknown[]): MeshState {
  return buildMeshState(objs.map((o) => ({ resource: parseResourceOrThrow(o) })));
}

function only(s: MeshState, code: string) {
  return s.issues.filter((i) => i.code === code);
}

describe('mesh membership by namespaceSelector (§a.0)', () => {
  it('exactly one matching mesh: meshRef is filled in', () => {
    const s = state(namespace(), mesh(), virtualNode('blue'));
    assert.deepEqual(s.issues, []);
    const vn = s.get('VirtualNode', NS, 'blue')!;
    assert.deepEqual(vn.spec.meshRef, { name: NS, uid: '' });
    assert.equal(s.meshOf(vn)?.metadata.name, NS);
  });
  it('no matching mesh: rejected with the webhook message', () => {
    const s = state(namespace(NS, { mesh: 'other' }), mesh(), virtualNode('blue'));
    const [e] = only(s, 'TM_ERR_MESH_MEMBERSHIP');
    assert.equal(e!.rule, `failed to find matching mesh for namespace: ${NS}, expecting 1 but found 0`);
    assert.equal(e!.path, 'metadata.namespace');
    assert.equal(s.get('VirtualNode', NS, 'blue'), undefined);
  });
  it('two matching meshes: rejected, naming both', () => {
    const s = state(namespace(), mesh('a'), mesh('b', {}), virtualNode('blue'));
    const [e] = only(s, 'TM_ERR_MESH_MEMBERSHIP');
    assert.equal(
      e!.rule,
      `found multiple matching meshes for namespace: ${NS}, expecting 1 but found 2: a,b`,
    );
    assert.equal(s.list('VirtualNode').length, 0);
  });
  it('a nil namespaceSelector selects no namespace', () => {
    const s = state(namespace(), mesh('m', null), virtualNode('blue'));
    assert.equal(only(s, 'TM_ERR_MESH_MEMBERSHIP').length, 1);
  });
  it('an empty namespaceSelector {} selects every namespace, even one without a Namespace object', () => {
    const s = state(mesh('m', {}), virtualNode('blue', {}, 'anywhere'));
    assert.deepEqual(s.issues, []);
    assert.equal(s.get('VirtualNode', 'anywhere', 'blue')?.spec.meshRef?.name, 'm');
  });
  it('matchExpressions are honoured', () => {
    const sel = { matchExpressions: [{ key: 'mesh', operator: 'In', values: [NS, 'x'] }] };
    assert.deepEqual(state(namespace(), mesh('m', sel), virtualNode('b')).issues, []);
    const notIn = { matchExpressions: [{ key: 'mesh', operator: 'NotIn', values: [NS] }] };
    assert.equal(
      only(state(namespace(), mesh('m', notIn), virtualNode('b')), 'TM_ERR_MESH_MEMBERSHIP').length,
      1,
    );
  });
  it('the input resources are not modified', () => {
    const vn = parseResourceOrThrow(virtualNode('blue'));
    buildMeshState([{ resource: parseResourceOrThrow(mesh('m', {})) }, { resource: vn }]);
    assert.equal((vn as { spec: { meshRef?: unknown } }).spec.meshRef, undefined);
  });
});

describe('references (§a.0, §a.4, §a.5): dangling ones are errors, the object stays', () => {
  it('VirtualService → VirtualRouter → VirtualNode resolve', () => {
    const s = state(
      namespace(),
      mesh(),
      virtualNode('blue'),
      virtualRouter('color', [httpRoute('r', 'blue')]),
      virtualService('color', { virtualRouter: { virtualRouterRef: { name: 'color' } } }),
      virtualNode('front', { backends: [{ virtualService: { virtualServiceRef: { name: 'color' } } }] }),
    );
    assert.deepEqual(s.issues.map(formatIssue), []);
    const vs = s.resolveVirtualService({ virtualServiceRef: { name: 'color', namespace: NS } })!;
    const vr = s.resolveVirtualRouter(vs.spec.provider!.virtualRouter!)!;
    assert.equal(vr.metadata.name, 'color');
  });
  it('a route to a missing virtual node is reported; the router stays', () => {
    const s = state(
      namespace(),
      mesh(),
      virtualNode('blue'),
      virtualRouter('color', [httpRoute('r', 'blue'), httpRoute('s', 'purple')]),
    );
    const errs = only(s, 'TM_ERR_MESH_REFERENCE');
    assert.equal(errs.length, 1);
    assert.equal(errs[0]!.path, 'spec.routes[1].httpRoute.action.weightedTargets[0]');
    assert.match(errs[0]!.rule, /VirtualNode .*\/purple not found/);
    assert.ok(s.get('VirtualRouter', NS, 'color'));
  });
  it('missing backend VirtualService and missing provider are reported', () => {
    const s = state(
      namespace(),
      mesh(),
      virtualNode('front', { backends: [{ virtualService: { virtualServiceRef: { name: 'nope' } } }] }),
      virtualService('color', { virtualNode: { virtualNodeRef: { name: 'ghost' } } }),
    );
    assert.deepEqual(
      only(s, 'TM_ERR_MESH_REFERENCE')
        .map((e) => e.path)
        .sort(),
      ['spec.backends[0].virtualService', 'spec.provider.virtualNode'],
    );
  });
  it('a reference into another mesh is an error', () => {
    const s = state(
      namespace('a', { mesh: 'a' }),
      namespace('b', { mesh: 'b' }),
      mesh('a', { matchLabels: { mesh: 'a' } }),
      mesh('b', { matchLabels: { mesh: 'b' } }),
      virtualNode('blue', {}, 'b'),
      virtualService('s', { virtualNode: { virtualNodeRef: { name: 'blue', namespace: 'b' } } }, 'a'),
    );
    assert.match(only(s, 'TM_ERR_MESH_REFERENCE')[0]!.rule, /is in mesh b, not in a/);
  });
  it('ARN references resolve by mesh and awsName', () => {
    const arn = `arn:aws:appmesh:eu-west-1:123456789012:mesh/${NS}/virtualNode/blue_${NS}`;
    assert.deepEqual(parseAppMeshArn(arn), { mesh: NS, resourceType: 'virtualNode', name: `blue_${NS}` });
    const s = state(
      namespace(),
      mesh(),
      virtualNode('blue'),
      virtualService('s', { virtualNode: { virtualNodeARN: arn } }),
    );
    assert.deepEqual(s.issues, []);
    assert.equal(s.byAwsName('VirtualNode', NS, `blue_${NS}`)?.metadata.name, 'blue');
  });
  it('route protocol must match a listener of the target virtual node', () => {
    const tcpNode = variant(virtualNode('blue'), (o) => (o.spec.listeners[0].portMapping.protocol = 'tcp'));
    const s = state(namespace(), mesh(), tcpNode, virtualRouter('color', [httpRoute('r', 'blue')]));
    assert.match(
      only(s, 'TM_ERR_MESH_RULE')[0]!.rule,
      /route protocol http does not match a listener of VirtualNode/,
    );
  });
  it('two objects of one kind may not share an awsName in a mesh', () => {
    const s = state(
      namespace(),
      mesh(),
      virtualNode('a', { awsName: 'same' }),
      virtualNode('b', { awsName: 'same' }),
    );
    const [e] = only(s, 'TM_ERR_MESH_DUPLICATE');
    assert.equal(e!.name, 'b');
    assert.equal(s.list('VirtualNode').length, 1);
  });
});

describe('gateway route ↔ virtual gateway (§a.7)', () => {
  const nsGw = namespace(NS, { mesh: NS, gateway: 'gw' });
  it('one gateway selecting the namespace: virtualGatewayRef is filled in', () => {
    const s = state(
      nsGw,
      mesh(),
      virtualGateway('gw'),
      virtualService('color', undefined),
      gatewayRoute('gr'),
    );
    assert.deepEqual(s.issues.map(formatIssue), []);
    assert.deepEqual(s.get('GatewayRoute', NS, 'gr')?.spec.virtualGatewayRef, {
      name: 'gw',
      namespace: NS,
      uid: '',
    });
  });
  it('no gateway: rejected with the webhook message', () => {
    const s = state(
      namespace(),
      mesh(),
      virtualGateway('gw'),
      virtualService('color', undefined),
      gatewayRoute('gr'),
    );
    const [e] = only(s, 'TM_ERR_MESH_GATEWAY_MATCH');
    assert.equal(
      e!.rule,
      'failed to find matching virtualGateway for gatewayRoute: gr, expecting 1 but found 0',
    );
    assert.equal(s.get('GatewayRoute', NS, 'gr'), undefined);
  });
  it('gatewayRouteSelector narrows the gateway routes; nil selects all', () => {
    const picky = virtualGateway('gw', { gatewayRouteSelector: { matchLabels: { gateway: 'gw' } } });
    const s1 = state(nsGw, mesh(), picky, virtualService('color', undefined), gatewayRoute('gr'));
    assert.equal(only(s1, 'TM_ERR_MESH_GATEWAY_MATCH').length, 1);
    const s2 = state(
      nsGw,
      mesh(),
      picky,
      virtualService('color', undefined),
      gatewayRoute('gr', {}, NS, { gateway: 'gw' }),
    );
    assert.deepEqual(s2.issues, []);
  });
  it('two gateways: rejected, naming both', () => {
    const both = namespace(NS, { mesh: NS, gateway: 'gw' });
    const g2 = virtualGateway('gw2', { namespaceSelector: {} });
    const s = state(
      both,
      mesh(),
      virtualGateway('gw'),
      g2,
      virtualService('color', undefined),
      gatewayRoute('gr'),
    );
    assert.match(only(s, 'TM_ERR_MESH_GATEWAY_MATCH')[0]!.rule, /expecting 1 but found 2/);
  });
  it('the target virtual service must exist', () => {
    const s = state(nsGw, mesh(), virtualGateway('gw'), gatewayRoute('gr'));
    assert.equal(only(s, 'TM_ERR_MESH_REFERENCE')[0]!.path, 'spec.httpRoute.action.target.virtualService');
  });
});

describe('pod ↔ virtual node (§a.0, §c.4)', () => {
  const injected = namespace(NS, { mesh: NS, 'appmesh.k8s.aws/sidecarInjectorWebhook': 'enabled' });
  it('one matching virtual node', () => {
    const s = state(
      injected,
      mesh(),
      virtualNode('blue', { podSelector: { matchLabels: { app: 'color', version: 'blue' } } }),
      deployment('blue', { app: 'color', version: 'blue' }),
    );
    assert.deepEqual(s.issues, []);
    assert.equal(
      s.virtualNodeForPod(NS, { app: 'color', version: 'blue', extra: 'x' })?.metadata.name,
      'blue',
    );
    assert.equal(s.virtualNodeForPod('elsewhere', { app: 'color', version: 'blue' }), undefined);
  });
  it('a nil podSelector selects no pod; {} selects every pod of the namespace', () => {
    const nil = variant(virtualNode('blue'), (o) => delete o.spec.podSelector);
    assert.equal(state(namespace(), mesh(), nil).virtualNodeForPod(NS, { app: 'blue' }), undefined);
    const all = virtualNode('blue', { podSelector: {} });
    assert.equal(state(namespace(), mesh(), all).virtualNodeForPod(NS, {})?.metadata.name, 'blue');
  });
  it('two matching virtual nodes is an error on the pod', () => {
    const s = state(
      namespace(),
      mesh(),
      virtualNode('a', { podSelector: {} }),
      virtualNode('b', { podSelector: { matchLabels: { app: 'x' } } }),
      deployment('x', { app: 'x' }),
    );
    const [e] = only(s, 'TM_ERR_MESH_POD_MATCH');
    assert.equal(
      e!.rule,
      `found multiple matching VirtualNodes for pod ${NS}/x, expecting 0 or 1 but found 2: a,b`,
    );
    assert.equal(e!.kind, 'Deployment');
    assert.equal(e!.path, 'spec.template.metadata.labels');
    assert.equal(s.virtualNodeForPod(NS, { app: 'x' }), undefined);
  });
  it('a pod matching both a virtual node and a virtual gateway is an error', () => {
    const s = state(
      namespace(),
      mesh(),
      virtualNode('a', { podSelector: {} }),
      virtualGateway('gw', { podSelector: {} }),
      deployment('x', { app: 'x' }, NS, [{ name: 'envoy', image: 'e' }]),
    );
    assert.match(
      only(s, 'TM_ERR_MESH_POD_MATCH')[0]!.rule,
      /^sidecarInject enabled for both virtualNode a and virtualGateway gw$/,
    );
  });
  it('a virtual gateway pod needs a container named envoy', () => {
    const s = state(namespace(), mesh(), virtualGateway('gw'), deployment('gw', { app: 'gw' }));
    assert.match(only(s, 'TM_ERR_MESH_POD_MATCH')[0]!.rule, /no container named envoy/);
    assert.deepEqual(
      state(
        namespace(),
        mesh(),
        virtualGateway('gw'),
        deployment('gw', { app: 'gw' }, NS, [{ name: 'envoy', image: 'e' }]),
      ).issues,
      [],
    );
  });
  it('injection enabled on the namespace and no match is an error; not enabled is fine', () => {
    const s = state(injected, mesh(), deployment('lonely', { app: 'lonely' }));
    assert.match(
      only(s, 'TM_ERR_MESH_POD_MATCH')[0]!.rule,
      /^sidecarInject enabled but no matching VirtualNode or VirtualGateway found/,
    );
    assert.deepEqual(state(namespace(), mesh(), deployment('lonely', { app: 'lonely' })).issues, []);
  });
  it('a pod annotation disabled overrides the namespace label', () => {
    const d = variant(
      deployment('lonely', { app: 'lonely' }),
      (o) =>
        (o.spec.template.metadata.annotations = { 'appmesh.k8s.aws/sidecarInjectorWebhook': 'disabled' }),
    );
    assert.deepEqual(state(injected, mesh(), d).issues, []);
  });
});
