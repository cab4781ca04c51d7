/**
 * The CLI as a real child process: `trustmesh mesh config-dump` and `trustmesh controlplane run` on a
 * unix socket, with a raw ADS client watching a node while the manifest file is edited.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { runTrustmesh, spawnTrustmesh } from '../../support/cli.js';
import type { JsonObject } from '../../../src/mesh/xds/index.js';
import { RawAdsClient, typeUrls as T } from './helpers.js';

const fixture = path.resolve(import.meta.dirname, '../compile/fixtures/mesh.yaml');
const dir = mkdtempSync(path.join(tmpdir(), 'tm-cp-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('mesh config-dump prints the node config as Envoy /config_dump; an unknown node exits 1', async () => {
  // Both CLI runs at once: each start of the CLI costs seconds on a shared machine.
  const [r, unknown] = await Promise.all([
    runTrustmesh(['mesh', 'config-dump', '--node', 'mesh/shop/virtualNode/front_shop', '-f', fixture]),
    runTrustmesh(['mesh', 'config-dump', '--node', 'mesh/shop/virtualNode/ghost', '-f', fixture]),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const dump = JSON.parse(r.stdout) as { configs: JsonObject[] };
  const listeners = dump.configs[0]!.dynamic_listeners as JsonObject[];
  assert.deepEqual(
    listeners.map((l) => l.name),
    ['lds_ingress_0.0.0.0_15000', 'lds_egress_0.0.0.0_15001'],
  );
  const clusters = dump.configs[1]!.dynamic_active_clusters as JsonObject[];
  assert.ok(clusters.some((c) => (c.cluster as JsonObject).name === 'cds_egress_shop_blue_shop_http_8080'));
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no virtual node with awsName ghost/);
});

test('controlplane run serves ADS on a unix socket and pushes manifest edits; a bad edit keeps the last good', async () => {
  const watched = path.join(dir, 'manifests');
  mkdirSync(watched);
  const manifest = path.join(watched, 'mesh.yaml');
  const original = readFileSync(fixture, 'utf8');
  writeFileSync(manifest, original);
  // Edits replace the file in one step: a writeFile truncates first, and a reload landing in
  // between would see an empty manifest and push its (empty) config.
  const edit = (text: string): void => {
    const next = path.join(dir, 'next.yaml');
    writeFileSync(next, text);
    renameSync(next, manifest);
  };
  const socket = path.join(dir, 'xds.sock');
  const child = spawnTrustmesh([
    'controlplane',
    'run',
    '-f',
    watched,
    '--listen',
    `unix://${socket}`,
    '--log-level',
    'warn',
  ]);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ads = () => new RawAdsClient(`unix://${socket}`, 'mesh/shop/virtualNode/front_shop');
  let client: RawAdsClient | undefined;
  try {
    for (let i = 0; i < 900 && !stdout.includes('xds listening on'); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(stdout, /xds listening on unix:\/\/.*xds\.sock \(8 nodes\)/, stderr);
    client = ads();
    client.send({ type_url: T.route, resource_names: ['rds_egress_http_8080'] });
    const first = await client.next();
    client.ack(first, ['rds_egress_http_8080']);
    const weights = (res: typeof first) => JSON.stringify(res.resources[0]).match(/"weight":(\d+)/g);
    assert.deepEqual(weights(first), ['"weight":75', '"weight":25']);

    edit(original.replace('weight: 75', 'weight: 10'));
    const edited = await client.next(20_000);
    assert.notEqual(edited.version_info, first.version_info);
    assert.deepEqual(weights(edited), ['"weight":10', '"weight":25']);
    client.ack(edited, ['rds_egress_http_8080']);

    edit(original.replace('weight: 75', 'weight: 700'));
    for (let i = 0; i < 200 && !/weight/.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(
      stderr,
      /mesh\.yaml:\d+: VirtualRouter\/shop\/color-router: spec\.routes\[0\]\.httpRoute\.action\.weightedTargets\[0\]\.weight/,
    );
    assert.equal(await client.quiet(500), true, 'the rejected edit must not be pushed');
  } finally {
    client?.close();
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
});
