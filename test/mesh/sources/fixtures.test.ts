/**
 * The shared mesh fixtures load through the real sources into a valid mesh state; facts asserted are
 * the walkthrough's (color-app) and the reference's defaults (§a.0 awsNames, §a.3 enforce, §c.4 pods).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { formatIssue } from '../../../src/mesh/model/index.js';
import { validateManifests } from '../../../src/mesh/sources/index.js';
import { repoRoot } from '../../support/cli.js';

async function load(name: string) {
  const { state, store, issues, errorCount } = await validateManifests([
    join(repoRoot, 'test/fixtures/mesh', name),
  ]);
  assert.equal(errorCount, issues.filter((i) => i.severity === 'error').length);
  return { state, store, issues };
}

describe('fixture color-app (howto-k8s-mtls-sds-based)', () => {
  const NS = 'howto-k8s-mtls-sds-based';
  it('validates with the one expected warning (blog-era clientPolicy.tls.mode)', async () => {
    const { issues } = await load('color-app');
    assert.deepEqual(
      issues.map((i) => [i.severity, i.path]),
      [['warning', 'spec.backendDefaults.clientPolicy.tls.mode']],
      issues.map(formatIssue).join('\n'),
    );
  });
  it('names, membership, routes and TLS as the walkthrough has them', async () => {
    const { state } = await load('color-app');
    assert.deepEqual(
      state.list('VirtualNode').map((vn) => vn.spec.awsName),
      ['blue', 'front', 'green', 'red'].map((n) => `${n}_${NS}`),
    );
    for (const vn of state.list('VirtualNode')) assert.equal(vn.spec.meshRef?.name, NS);
    const vs = state.get('VirtualService', NS, 'color')!;
    assert.equal(vs.spec.awsName, `color.${NS}.svc.cluster.local`);
    const vr = state.resolveVirtualRouter(vs.spec.provider!.virtualRouter!)!;
    assert.deepEqual(
      vr.spec.routes!.map((r) => [r.name, r.priority]),
      [
        ['color-route-blue', 10],
        ['color-route-green', 20],
        ['color-route-red', 30],
        ['color-route', undefined],
      ],
    );
    const front = state.byAwsName('VirtualNode', NS, `front_${NS}`)!;
    const policy = front.spec.backendDefaults!.clientPolicy!.tls!;
    assert.equal(policy.enforce, true);
    assert.deepEqual(policy.certificate, { sds: { secretName: `spiffe://${NS}.aws/front` } });
    assert.deepEqual(policy.validation.subjectAlternativeNames!.match.exact, [
      `spiffe://${NS}.aws/colorblue`,
      `spiffe://${NS}.aws/colorred`,
    ]);
    const blue = state.get('VirtualNode', NS, 'blue')!;
    assert.equal(blue.spec.listeners![0]!.tls!.mode, 'STRICT');
    assert.deepEqual(blue.spec.listeners![0]!.tls!.validation!.subjectAlternativeNames!.match.exact, [
      `spiffe://${NS}.aws/front`,
    ]);
  });
  it('every deployment’s pods belong to exactly one virtual node', async () => {
    const { state } = await load('color-app');
    const owners = state
      .list('Deployment')
      .map((d) => [
        d.metadata.name,
        state.virtualNodeForPod(NS, d.spec.template.metadata?.labels)?.metadata.name,
      ]);
    assert.deepEqual(owners, [
      ['blue', 'blue'],
      ['front', 'front'],
      ['green', 'green'],
      ['red', 'red'],
    ]);
  });
});

describe('fixture gateway-multi-router', () => {
  it('validates without issues; gateway routes attach to ingress-gw; four routers of four protocols', async () => {
    const { state, issues } = await load('gateway-multi-router');
    assert.deepEqual(issues.map(formatIssue), []);
    for (const gr of state.list('GatewayRoute')) assert.equal(gr.spec.virtualGatewayRef?.name, 'ingress-gw');
    assert.deepEqual(
      state.list('VirtualRouter').map((vr) => [vr.metadata.name, vr.spec.listeners[0]!.portMapping.protocol]),
      [
        ['color-headers', 'http'],
        ['color-paths', 'http'],
        ['echo', 'tcp'],
        ['greeter', 'grpc'],
      ],
    );
    assert.equal(state.virtualGatewayForPod('shop', { app: 'ingress-gw' })?.spec.awsName, 'ingress-gw_shop');
  });
});
