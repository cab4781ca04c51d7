import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTrustmesh } from '../support/cli.js';

test('entry create -data rejects malformed files naming the file and the item', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-data-'));
  try {
    const cases: [string, RegExp][] = [
      ['null', /has no "entries" list/],
      ['{"entries":[{"spiffe_id":"spiffe://td/a"},null]}', /entries\[1\] must be an object/],
      ['{bad', /is not JSON/],
    ];
    for (const [i, [body, want]] of cases.entries()) {
      const file = join(dir, `${i}.json`);
      writeFileSync(file, body);
      const r = await runTrustmesh([
        'server',
        'entry',
        'create',
        '-socketPath',
        join(dir, 'none.sock'),
        '-data',
        file,
      ]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, want);
      assert.ok(r.stderr.includes(file), r.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
