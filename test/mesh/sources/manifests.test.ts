/**
 * Reading manifests: multi-document YAML with file/document/line origins, directory walking
 * (non-YAML files and `images.yaml` skipped), YAML errors located, `kind: List` expanded.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifestText, readManifests, isManifestFile } from '../../../src/mesh/sources/index.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tm-mesh-sources-'));
  dirs.push(d);
  return d;
}

const TEXT = `# leading comment
apiVersion: v1
kind: Namespace
metadata:
  name: ns1
---
---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: blue
  namespace: ns1
spec:
  listeners:
    - portMapping:
        port: 8080
        protocol: http
`;

describe('parseManifestText', () => {
  it('keeps each document with its index, skipping empty documents', () => {
    const { documents, issues } = parseManifestText(TEXT, 'm.yaml');
    assert.deepEqual(issues, []);
    assert.equal(documents.length, 2);
    assert.deepEqual(
      documents.map((d) => [d.origin.file, d.origin.documentIndex, (d.object as { kind: string }).kind]),
      [
        ['m.yaml', 0, 'Namespace'],
        ['m.yaml', 2, 'VirtualNode'],
      ],
    );
  });
  it('locates field paths at their line (1-based), falling back to the nearest existing ancestor', () => {
    const { documents } = parseManifestText(TEXT, 'm.yaml');
    const locate = documents[1]!.origin.locate!;
    assert.equal(locate([]), 8);
    assert.equal(locate(['metadata', 'name']), 11);
    assert.equal(locate(['spec', 'listeners', 0, 'portMapping', 'protocol']), 17);
    assert.equal(locate(['spec', 'listeners', 0, 'portMapping', 'nope']), 15);
    assert.equal(locate(['spec', 'serviceDiscovery']), 13);
    assert.equal(documents[0]!.origin.locate!(['metadata', 'name']), 5);
  });
  it('reports YAML syntax errors with file, document and line; other documents still load', () => {
    const text = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkey: [unclosed\n  - x\n';
    const { documents, issues } = parseManifestText(text, 'bad.yaml');
    assert.equal(documents.length, 1);
    assert.ok(issues.length >= 1);
    assert.equal(issues[0]!.code, 'TM_ERR_MESH_YAML');
    assert.equal(issues[0]!.file, 'bad.yaml');
    assert.equal(issues[0]!.documentIndex, 1);
    assert.ok(issues[0]!.line! >= 5, `line ${issues[0]!.line}`);
  });
  it('expands kind: List into its items, located inside the list', () => {
    const text =
      'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Namespace\n    metadata:\n      name: a\n';
    const { documents } = parseManifestText(text, 'list.yaml');
    assert.equal(documents.length, 1);
    assert.equal(documents[0]!.origin.locate!(['metadata', 'name']), 7);
  });
  it('an empty file has no documents', () => {
    assert.deepEqual(parseManifestText('', 'e.yaml'), { documents: [], issues: [] });
    assert.deepEqual(parseManifestText('# only a comment\n', 'e.yaml').documents, []);
  });
});

describe('readManifests', () => {
  it('walks a directory for .yaml/.yml/.json, skipping images.yaml, non-YAML and hidden files', async () => {
    const d = await tempDir();
    await mkdir(join(d, 'sub'));
    await writeFile(join(d, 'a.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n');
    await writeFile(join(d, 'sub', 'b.yml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n');
    await writeFile(
      join(d, 'c.json'),
      '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}}',
    );
    await writeFile(join(d, 'images.yaml'), 'colorapp:\n  argv: [node, color.js]\n');
    await writeFile(join(d, 'README.md'), '# not a manifest\n');
    await writeFile(join(d, '.hidden.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: hidden}\n');
    const r = await readManifests([d]);
    assert.deepEqual(r.issues, []);
    assert.deepEqual(
      r.documents.map((x) => (x.object as { metadata: { name: string } }).metadata.name),
      ['a', 'c', 'b'],
    );
    assert.equal(r.files.length, 3);
    assert.equal(isManifestFile('images.yaml'), false);
    assert.equal(isManifestFile('x.YAML'), true);
  });
  it('takes files as given and reports the broken ones', async () => {
    const d = await tempDir();
    await writeFile(join(d, 'bad.yaml'), 'a: [\n');
    const r = await readManifests([join(d, 'bad.yaml')]);
    assert.equal(r.issues[0]!.code, 'TM_ERR_MESH_YAML');
    assert.deepEqual(r.brokenFiles, [join(d, 'bad.yaml')]);
  });
  it('a missing path throws ENOENT', async () => {
    await assert.rejects(readManifests(['/nonexistent/trustmesh-manifests']), { code: 'ENOENT' });
  });
});
