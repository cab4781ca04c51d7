/**
 * Pure renderers of the runtime: Service DNAT rules, proxyinit rules, hosts files, address
 * pools, manifests and the image map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AddressExhaustedError,
  AddressPools,
  ManifestError,
  loadManifests,
  parseCidr,
  parseManifests,
  renderHosts,
  renderProxyInitRules,
  renderServiceRules,
  resolveImage,
} from '../../src/runtime/index.js';

test('Service rules: one DNAT per endpoint with probabilities 1/n, …, 1/2, then unconditional', () => {
  const text = renderServiceRules([
    {
      id: 'ns/a:80',
      clusterIp: '198.19.0.1',
      port: 80,
      protocol: 'tcp',
      endpoints: ['198.18.0.2:8080', '198.18.0.3:8080', '198.18.0.4:8080'],
    },
  ]);
  const dnat = text.split('\n').filter((l) => l.includes('DNAT'));
  assert.equal(dnat.length, 3);
  assert.match(dnat[0]!, /--probability 0\.3333333333 -j DNAT --to-destination 198\.18\.0\.2:8080$/);
  assert.match(dnat[1]!, /--probability 0\.5000000000 -j DNAT --to-destination 198\.18\.0\.3:8080$/);
  assert.doesNotMatch(dnat[2]!, /statistic/);
  assert.match(dnat[2]!, /-d 198\.19\.0\.1\/32 -p tcp -m tcp --dport 80 /);
});

test('Service rules: a port without endpoints is rejected with a TCP reset, not DNAT-ed', () => {
  const text = renderServiceRules([
    { id: 'ns/color:8080', clusterIp: '198.19.0.5', port: 8080, protocol: 'tcp', endpoints: [] },
  ]);
  assert.doesNotMatch(text, /DNAT/);
  assert.match(text, /-A TRUSTMESH-NO-ENDPOINTS -d 198\.19\.0\.5\/32 .* -j REJECT --reject-with tcp-reset/);
});

test('proxyinit rules: app ports to 15000, other outbound TCP to 15001, uid 1337 and ignored IPs/ports exempt', () => {
  const text = renderProxyInitRules({
    ignoreUid: 1337,
    ingressPort: 15000,
    egressPort: 15001,
    appPorts: [8080, 9090],
    egressIgnoredIps: ['169.254.169.254'],
    egressIgnoredPorts: [22],
  });
  const lines = text.split('\n');
  assert.ok(
    lines.includes(
      '-A TRUSTMESH-PROXY-INGRESS -p tcp -m multiport --dports 8080,9090 -j REDIRECT --to-ports 15000',
    ),
  );
  const egress = lines.filter((l) => l.startsWith('-A TRUSTMESH-PROXY-EGRESS'));
  assert.deepEqual(egress, [
    '-A TRUSTMESH-PROXY-EGRESS -m owner --uid-owner 1337 -j RETURN',
    '-A TRUSTMESH-PROXY-EGRESS -p tcp -m multiport --dports 22 -j RETURN',
    '-A TRUSTMESH-PROXY-EGRESS -p tcp -d 169.254.169.254 -j RETURN',
    '-A TRUSTMESH-PROXY-EGRESS -p tcp -j REDIRECT --to-ports 15001',
  ]);
  assert.ok(lines.includes('-A OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j TRUSTMESH-PROXY-EGRESS'));
});

test('hosts file: full, namespace-qualified and (same namespace only) short names', () => {
  const text = renderHosts({ name: 'p', namespace: 'a', ip: '198.18.0.9' }, [
    { name: 'x', namespace: 'a', clusterIp: '198.19.0.1' },
    { name: 'y', namespace: 'b', clusterIp: '198.19.0.2' },
  ]);
  assert.match(text, /^198\.19\.0\.1\tx\.a\.svc\.cluster\.local x\.a\.svc x\.a x$/m);
  assert.match(text, /^198\.19\.0\.2\ty\.b\.svc\.cluster\.local y\.b\.svc y\.b$/m);
  assert.match(text, /^198\.18\.0\.9\tp$/m);
});

test('address pools: bridge .1, pods from the lower half, services from the upper half, reuse after release', () => {
  const pools = new AddressPools(parseCidr('198.18.0.0/15'));
  assert.equal(pools.bridgeIp, '198.18.0.1');
  assert.equal(pools.allocatePod(), '198.18.0.2');
  assert.equal(pools.allocateService(), '198.19.0.1');
  const ip = pools.allocatePod();
  pools.release(ip);
  assert.equal(pools.allocatePod(), ip);
  const tiny = new AddressPools(parseCidr('10.0.0.0/28'));
  for (let i = 0; i < 5; i++) tiny.allocatePod();
  assert.throws(() => tiny.allocatePod(), AddressExhaustedError);
  assert.throws(() => parseCidr('198.18.0.0'), ManifestError);
});

test('manifests: documents with their errors located; images resolved with and without tag', async () => {
  assert.throws(() => parseManifests('kind: X\n', 'f.yaml'), /f\.yaml \(document 1\): apiVersion/);
  assert.throws(
    () =>
      parseManifests(
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: []}}}\n',
        'd.yaml',
      ),
    /containers: expected at least one container/,
  );
  const dir = mkdtempSync(path.join(tmpdir(), 'tm-manifests-'));
  try {
    writeFileSync(path.join(dir, 'images.yaml'), 'repo/app:\n  command: [python3, app.py]\n  workdir: src\n');
    writeFileSync(path.join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n---\n');
    const set = await loadManifests([dir]);
    assert.equal(set.docs.length, 1);
    assert.deepEqual(resolveImage(set.images, 'registry.example/repo/app:v2')?.command, undefined);
    assert.deepEqual(resolveImage(set.images, 'repo/app:v2'), {
      command: ['python3', 'app.py'],
      workdir: path.join(dir, 'src'),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
