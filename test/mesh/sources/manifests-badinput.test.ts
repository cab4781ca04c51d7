/** Bad input to the manifest reader: decoding failures become issues naming the file, never throws. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifestText } from '../../../src/mesh/sources/index.js';

const level = (name: string, alias: string): string =>
  `${name}: &${name} [${Array(9).fill(alias).join(',')}]`;

it('an alias bomb is an invalid-YAML issue on its document; the next document still decodes', () => {
  const bomb = [
    level('a', '"x"'),
    ...['b', 'c', 'd', 'e', 'f', 'g', 'h'].map((n, i) => level(n, `*${'abcdefg'[i]}`)),
  ].join('\n');
  const text = `${bomb}\n---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: {name: m}\nspec: {}\n`;
  const { documents, issues } = parseManifestText(text, 'bomb.yaml');
  assert.equal(issues.length, 1);
  assert.equal(issues[0]!.code, 'TM_ERR_MESH_YAML');
  assert.equal(issues[0]!.file, 'bomb.yaml');
  assert.equal(issues[0]!.documentIndex, 0);
  assert.match(issues[0]!.rule, /^invalid YAML: .*alias/i);
  assert.deepEqual(
    documents.map((d) => (d.object as { kind: string }).kind),
    ['Mesh'],
  );
});
