/**
 * The import graph keeps ARCHITECTURE's layering: `spiffe/` imports nothing else of `src/`; the
 * identity agent and server never import each other (what both need lives in `identity/api` and
 * `identity/config`); other folders are reached through their `index.ts` only. Dynamic imports
 * count too. Read from the source text, so a forbidden edge fails here before any daemon runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../support/cli.js';

const src = path.join(repoRoot, 'src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? tsFiles(path.join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [path.join(dir, e.name)]
        : [],
  );
}

/** Every relative import of `file` (static, `export … from`, dynamic), resolved to a path under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((s) => path.relative(src, path.resolve(path.dirname(file), s)).replace(/\.js$/, '.ts'));
}

/** [importing folder (under src/), forbidden target prefix (under src/), why] */
const rules: Array<[string, (target: string) => boolean, string]> = [
  ['spiffe', (t) => !t.startsWith('spiffe/'), 'spiffe/ imports nothing else from src/'],
  ['identity/agent', (t) => t.startsWith('identity/server/'), 'the agent does not import the server'],
  ['identity/server', (t) => t.startsWith('identity/agent/'), 'the server does not import the agent'],
  [
    'identity/config',
    (t) => t.startsWith('identity/') && !t.startsWith('identity/config/'),
    'identity/config imports no daemon',
  ],
];

for (const [folder, forbidden, why] of rules) {
  test(why, () => {
    const edges = tsFiles(path.join(src, folder)).flatMap((f) =>
      importsOf(f)
        .filter(forbidden)
        .map((t) => `${path.relative(src, f)} → ${t}`),
    );
    assert.deepEqual(edges, []);
  });
}

test('identity/ and mesh/ reach other folders through their index.ts only', () => {
  const deep: string[] = [];
  for (const area of ['identity', 'mesh']) {
    for (const f of tsFiles(path.join(src, area))) {
      const own = path.relative(src, path.dirname(f)).split(path.sep).slice(0, 2).join('/');
      for (const t of importsOf(f)) {
        const target = t.split('/');
        const folder = target.slice(0, 2).join('/');
        const intoOtherTop = !t.startsWith(`${area}/`);
        // Another top-level area (spiffe/index.ts) or another sub-folder of this area (identity/api/index.ts).
        const outside = intoOtherTop ? target[0]! : folder;
        if (outside === own || (!intoOtherTop && folder === own)) continue;
        const viaIndex = intoOtherTop ? t === `${target[0]}/index.ts` : t === `${folder}/index.ts`;
        if (!viaIndex) deep.push(`${path.relative(src, f)} → ${t}`);
      }
    }
  }
  assert.deepEqual(deep, []);
});
