/**
 * `server x509 mint` / `server jwt mint` with a bad `-ttl`: the message names the flag and the
 * rule, not the server's config file (nothing is sent: the flag is checked before the admin call).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTrustmesh } from '../support/cli.js';

test('a bad -ttl on x509 mint and jwt mint is blamed on the flag', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-mint-flags-'));
  try {
    const socket = ['-socketPath', join(dir, 'none.sock')];
    const id = ['-spiffeID', 'spiffe://example.org/w'];
    // All at once: each CLI start costs seconds of tsx on a shared machine.
    const runs = await Promise.all([
      runTrustmesh(['server', 'x509', 'mint', ...id, '-ttl', '-1', ...socket]),
      runTrustmesh(['server', 'x509', 'mint', ...id, '-ttl', '0s', ...socket]),
      runTrustmesh(['server', 'jwt', 'mint', ...id, '-audience', 'a', '-ttl', 'soon', ...socket]),
    ]);
    for (const [i, want] of [
      /-ttl: expected a duration/,
      /-ttl: duration must be positive/,
      /-ttl: expected/,
    ].entries()) {
      const r = runs[i]!;
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stderr, /config/, 'a command-line flag is not the server config');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
