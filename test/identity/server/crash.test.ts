/**
 * Durability: `kill -9` during a burst of entry creation loses no acknowledged entry and leaves a
 * consistent database; the restarted server serves them all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { adminCall } from '../../../src/identity/server/index.js';
import { cliOk, startServer, tempDir } from './support.js';

test('kill -9 during a burst of entry create loses no committed entry', async () => {
  const tmp = tempDir();
  let s = await startServer(tmp.dir);
  try {
    const acknowledged: string[] = [];
    let stop = false;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await adminCall<{ results: { status: { code: number }; value?: { id: string } }[] }>(
            s.socketPath,
            'entry.create',
            {
              entries: [
                {
                  spiffe_id: `spiffe://example.org/burst/${w}/${i}`,
                  parent_id: 'spiffe://example.org/agent',
                  selectors: [{ type: 'unix', value: `uid:${i}` }],
                },
              ],
            },
          );
          if (r.results[0]?.status.code === 0) acknowledged.push(r.results[0].value!.id);
        } catch {
          return; // the server died mid-call: this one was never acknowledged
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    // Bounded: a server that died early would otherwise leave this loop spinning until CI's timeout.
    const deadline = Date.now() + 60_000;
    while (acknowledged.length < 150 && Date.now() < deadline && s.proc.exitCode === null)
      await new Promise((r) => setTimeout(r, 5));
    assert.ok(acknowledged.length >= 150, `only ${acknowledged.length} creates acknowledged:\n${s.logs()}`);
    await s.kill();
    stop = true;
    await Promise.all(workers);

    const db = new Database(path.join(s.dataDir, 'datastore.sqlite3'));
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    db.close();

    s = await startServer(tmp.dir);
    const { entries } = await adminCall<{ entries: { id: string }[] }>(s.socketPath, 'entry.list', {});
    const stored = new Set(entries.map((e) => e.id));
    const lost = acknowledged.filter((id) => !stored.has(id));
    assert.deepEqual(lost, []);
    assert.match(await cliOk(s, ['healthcheck']), /healthy/);
  } finally {
    await s.stop();
    tmp.cleanup();
  }
});
