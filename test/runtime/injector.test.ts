/**
 * Sidecar injection decisions, one row per rule of App Mesh's pod webhook (appmesh-api §c.4).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideInjection, InjectionError, selectorMatches, type Manifest } from '../../src/runtime/index.js';

const ns = 'shop';
const nsLabels = { mesh: 'm1', 'appmesh.k8s.aws/sidecarInjectorWebhook': 'enabled' };
const mesh: Manifest = {
  apiVersion: 'appmesh.k8s.aws/v1beta2',
  kind: 'Mesh',
  metadata: { name: 'm1' },
  spec: { namespaceSelector: { matchLabels: { mesh: 'm1' } } },
};
function vn(
  name: string,
  podSelector: unknown,
  ports = [8080],
  extra: Record<string, unknown> = {},
): Manifest {
  return {
    apiVersion: 'appmesh.k8s.aws/v1beta2',
    kind: 'VirtualNode',
    metadata: { name, namespace: ns },
    spec: {
      podSelector,
      listeners: ports.map((port) => ({ portMapping: { port, protocol: 'http' } })),
      ...extra,
    },
  };
}
const pod = (labels: Record<string, string>, annotations: Record<string, string> = {}) => ({
  name: 'p-1',
  namespace: ns,
  labels,
  annotations,
  containerNames: ['app'],
});
const opts = { sdsSocketPath: '/run/x/agent.sock' };

test('a pod matched by one virtual node gets envoy with the ARN, SDS socket and proxyinit defaults', () => {
  const inj = decideInjection(
    pod({ app: 'front' }),
    nsLabels,
    [mesh, vn('front', { matchLabels: { app: 'front' } })],
    opts,
  );
  assert.ok(inj);
  assert.equal(inj.resourceArn, 'mesh/m1/virtualNode/front_shop');
  assert.equal(inj.env['APPMESH_RESOURCE_ARN'], 'mesh/m1/virtualNode/front_shop');
  assert.equal(inj.env['APPMESH_SDS_SOCKET_PATH'], '/run/x/agent.sock');
  assert.equal(inj.env['ENVOY_ADMIN_ACCESS_PORT'], '9901');
  assert.equal(inj.addEnvoyContainer, true);
  assert.deepEqual(inj.proxyInit, {
    ignoreUid: 1337,
    ingressPort: 15000,
    egressPort: 15001,
    appPorts: [8080],
    egressIgnoredIps: ['169.254.169.254'],
    egressIgnoredPorts: [22],
  });
});

test('awsName of the mesh and the virtual node wins over the defaults', () => {
  const m = { ...mesh, spec: { ...(mesh.spec as object), awsName: 'aws-mesh' } };
  const inj = decideInjection(
    pod({ app: 'a' }),
    nsLabels,
    [m, vn('a', { matchLabels: { app: 'a' } }, [80], { awsName: 'aws-a' })],
    opts,
  );
  assert.equal(inj?.resourceArn, 'mesh/aws-mesh/virtualNode/aws-a');
});

test('namespace without the injector label: nothing injected', () => {
  assert.equal(decideInjection(pod({ app: 'a' }), { mesh: 'm1' }, [mesh, vn('a', {})], opts), null);
});

test('pod annotation disabled overrides the namespace label', () => {
  const p = pod({ app: 'a' }, { 'appmesh.k8s.aws/sidecarInjectorWebhook': 'disabled' });
  assert.equal(decideInjection(p, nsLabels, [mesh, vn('a', {})], opts), null);
});

test('enabled with no matching virtual node rejects the pod with the webhook message', () => {
  assert.throws(
    () => decideInjection(pod({ app: 'x' }), nsLabels, [mesh, vn('a', { matchLabels: { app: 'a' } })], opts),
    (err: unknown) =>
      err instanceof InjectionError &&
      /sidecarInject enabled but no matching VirtualNode or VirtualGateway found/.test(err.message),
  );
});

test('two matching virtual nodes reject the pod', () => {
  assert.throws(
    () => decideInjection(pod({ app: 'a' }), nsLabels, [mesh, vn('a', {}), vn('b', {})], opts),
    /found multiple matching VirtualNodes for pod: a,b/,
  );
});

test('a nil podSelector selects nothing; an empty one selects every pod', () => {
  assert.equal(selectorMatches(undefined, { a: 'b' }), false);
  assert.equal(selectorMatches(null, { a: 'b' }), false);
  assert.equal(selectorMatches({}, { a: 'b' }), true);
  assert.equal(
    selectorMatches({ matchExpressions: [{ key: 'a', operator: 'In', values: ['b'] }] }, { a: 'b' }),
    true,
  );
  assert.equal(
    selectorMatches({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: 'b' }),
    false,
  );
});

test('no mesh selecting the namespace rejects the pod', () => {
  assert.throws(
    () => decideInjection(pod({ app: 'a' }), { ...nsLabels, mesh: 'other' }, [mesh, vn('a', {})], opts),
    /failed to find matching mesh for namespace: shop, expecting 1 but found 0/,
  );
});

test('annotations override app ports, egress ignored IPs and ports, SDS and sidecar env', () => {
  const inj = decideInjection(
    pod(
      { app: 'a' },
      {
        'appmesh.k8s.aws/ports': '9000, 9001',
        'appmesh.k8s.aws/egressIgnoredIPs': '10.0.0.1',
        'appmesh.k8s.aws/egressIgnoredPorts': '22,3306',
        'appmesh.k8s.aws/sds': 'disabled',
        'appmesh.k8s.aws/sidecarEnv': 'FOO=bar, APPMESH_RESOURCE_ARN=hijack',
      },
    ),
    nsLabels,
    [mesh, vn('a', {})],
    opts,
  );
  assert.deepEqual(inj?.proxyInit?.appPorts, [9000, 9001]);
  assert.deepEqual(inj?.proxyInit?.egressIgnoredIps, ['10.0.0.1']);
  assert.deepEqual(inj?.proxyInit?.egressIgnoredPorts, [22, 3306]);
  assert.equal(inj?.env['APPMESH_SDS_SOCKET_PATH'], undefined);
  assert.equal(inj?.env['FOO'], 'bar');
  assert.equal(
    inj?.env['APPMESH_RESOURCE_ARN'],
    'mesh/m1/virtualNode/a_shop',
    'controller-managed env cannot be overridden',
  );
});

test('a pod that already has an envoy container gets proxyinit but no second envoy', () => {
  const inj = decideInjection(
    { ...pod({ app: 'a' }), containerNames: ['app', 'envoy'] },
    nsLabels,
    [mesh, vn('a', {})],
    opts,
  );
  assert.equal(inj?.addEnvoyContainer, false);
  assert.ok(inj?.proxyInit);
});

test('a virtual gateway pod gets the gateway ARN and no proxyinit', () => {
  const vg: Manifest = { ...vn('gw', { matchLabels: { app: 'gw' } }), kind: 'VirtualGateway' };
  const inj = decideInjection(
    { ...pod({ app: 'gw' }), containerNames: ['envoy'] },
    nsLabels,
    [mesh, vg],
    opts,
  );
  assert.equal(inj?.resourceArn, 'mesh/m1/virtualGateway/gw_shop');
  assert.equal(inj?.proxyInit, null);
});
