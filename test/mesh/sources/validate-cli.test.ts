/**
 * `trustmesh mesh validate -f …` as a real child process: the color-app fixture validates; a broken
 * copy prints every error as `file:line: <kind>/<ns>/<name>: <field path>: <rule>` and exits 1.
 * Expected lines are found by searching the manifest text, not taken from our output.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runTrustmesh } from '../../support/cli.js';

const FIXTURE = join(repoRoot, 'test/fixtures/mesh/color-app');
const NS = 'howto-k8s-mtls-sds-based';

/** 1-based line of the n-th (0-based) line containing `needle`. */
function lineOf(text: string, needle: string, nth = 0): number {
  const lines = text.split('\n');
  let seen = 0;
  for (let i = 0; i < lines.length; i++) if (lines[i]!.includes(needle) && seen++ === nth) return i + 1;
  throw new Error(`${needle} not found`);
}

describe('trustmesh mesh validate', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tm-mesh-validate-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the color-app fixture is valid; the blog-era clientPolicy mode is a located warning', async () => {
    const { code, stdout } = await runTrustmesh(['mesh', 'validate', '-f', FIXTURE]);
    const text = await readFile(join(FIXTURE, 'virtual-nodes.yaml'), 'utf8');
    const line = lineOf(text, 'mode: STRICT');
    assert.match(
      stdout,
      new RegExp(
        `virtual-nodes\\.yaml:${line}: warning: VirtualNode/${NS}/front: spec\\.backendDefaults\\.clientPolicy\\.tls\\.mode: unknown field "mode"`,
      ),
    );
    assert.match(stdout, /^valid: 4 file\(s\), 17 object\(s\), 0 error\(s\), 1 warning\(s\)$/m);
    assert.equal(code, 0);
  });

  it('a broken copy: every error with file:line, object, field path and rule; exit 1', async () => {
    const work = join(dir, 'broken');
    await cp(FIXTURE, work, { recursive: true });
    const nodesPath = join(work, 'virtual-nodes.yaml');
    let nodes = await readFile(nodesPath, 'utf8');
    // blue: listener TLS mode in lower case (enum is STRICT | PERMISSIVE | DISABLED).
    nodes = nodes.replace(
      '        mode: STRICT\n        certificate:\n          sds:\n            secretName: spiffe://howto-k8s-mtls-sds-based.aws/colorblue',
      '        mode: strict\n        certificate:\n          sds:\n            secretName: spiffe://howto-k8s-mtls-sds-based.aws/colorblue',
    );
    // red: listeners without serviceDiscovery.
    nodes = nodes.replace(/ {2}serviceDiscovery:\n {4}dns:\n {6}hostname: color-red[^\n]*\n/, '');
    await writeFile(nodesPath, nodes);
    const routerPath = join(work, 'virtual-router.yaml');
    const router = (await readFile(routerPath, 'utf8')).replace(
      '- name: color-route-red',
      '- name: color-route-green',
    );
    await writeFile(routerPath, router);

    const { code, stdout } = await runTrustmesh(['mesh', 'validate', '-f', work]);
    assert.equal(code, 1, stdout);
    const blueLine = lineOf(nodes, 'mode: strict');
    const redName = lineOf(nodes, 'name: red');
    const redSpec = nodes.split('\n').findIndex((l, i) => i + 1 > redName && l === 'spec:') + 1;
    const dupLine = lineOf(router, '- name: color-route-green', 1);
    const expected = [
      `virtual-nodes.yaml:${blueLine}: VirtualNode/${NS}/blue: spec.listeners[0].tls.mode: must be one of STRICT, PERMISSIVE, DISABLED (found string "strict")`,
      `virtual-nodes.yaml:${redSpec}: VirtualNode/${NS}/red: spec.serviceDiscovery: ServiceDiscovery missing for VirtualNode-red. ServiceDiscovery must be specified when a listener is specified.`,
      `virtual-router.yaml:${dupLine}: VirtualRouter/${NS}/color: spec.routes[2].name: VirtualRouter-color has duplicate route entries for color-route-green`,
    ];
    for (const e of expected)
      assert.ok(
        stdout.split('\n').some((l) => l.endsWith(e)),
        `missing line:\n${e}\nin:\n${stdout}`,
      );
    // blue and red are rejected, so their deployments match no virtual node in an injected namespace.
    assert.match(
      stdout,
      new RegExp(
        `apps\\.yaml:\\d+: Deployment/${NS}/blue: spec\\.template\\.metadata\\.labels: sidecarInject enabled but no matching`,
      ),
    );
    assert.match(stdout, /^invalid: 4 file\(s\), 14 object\(s\), \d+ error\(s\), 1 warning\(s\)$/m);
  });

  it('takes several files after -f; --no-warnings prints errors only', async () => {
    const files = ['virtual-nodes.yaml', 'mesh.yaml', 'virtual-router.yaml'].map((f) => join(FIXTURE, f));
    const { code, stdout } = await runTrustmesh(['mesh', 'validate', '--no-warnings', '-f', ...files]);
    assert.equal(code, 0, stdout);
    assert.doesNotMatch(stdout, /warning:/);
    assert.match(stdout, /^valid: 3 file\(s\), 8 object\(s\), 0 error\(s\), 0 warning\(s\)$/m);
  });
});
