/**
 * Bad input on the admin API: wrongly typed JSON fields and over-long SPIFFE IDs get InvalidArgument
 * naming the field (not INTERNAL), the daemon stays up, and stored entries survive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminCall } from '../../../src/identity/server/index.js';
import { startServer, tempDir } from './support.js';

type Results = { results: { status: { code: number; message: string }; value?: { id: string } }[] };
const INVALID_ARGUMENT = 3;

test('admin API rejects wrongly typed fields with InvalidArgument naming the field', async () => {
  const tmp = tempDir();
  const s = await startServer(tmp.dir);
  try {
    const good = await adminCall<Results>(s.socketPath, 'entry.create', {
      entries: [
        {
          spiffe_id: 'spiffe://example.org/good',
          parent_id: 'spiffe://example.org/agent',
          selectors: [{ type: 'unix', value: 'uid:1000' }],
        },
      ],
    });
    assert.equal(good.results[0]?.status.code, 0);
    const goodId = good.results[0]!.value!.id;

    for (const [field, value] of [
      ['dns_names', 'not-a-list'],
      ['federates_with', 5],
    ] as const) {
      const r = await adminCall<Results>(s.socketPath, 'entry.create', {
        entries: [
          {
            spiffe_id: 'spiffe://example.org/bad',
            parent_id: 'spiffe://example.org/agent',
            selectors: [{ type: 'unix', value: 'uid:1' }],
            [field]: value,
          },
        ],
      });
      assert.equal(r.results[0]?.status.code, INVALID_ARGUMENT, JSON.stringify(r));
      assert.match(r.results[0]!.status.message, new RegExp(`^${field}: must be a list`));
    }

    // SPIFFE-ID §2: the server generates SVIDs for entries, and does not generate IDs over 2048 bytes.
    const long = await adminCall<Results>(s.socketPath, 'entry.create', {
      entries: [
        {
          spiffe_id: `spiffe://example.org/${'a'.repeat(2028)}`,
          parent_id: 'spiffe://example.org/agent',
          selectors: [{ type: 'unix', value: 'uid:1' }],
        },
      ],
    });
    assert.equal(long.results[0]?.status.code, INVALID_ARGUMENT, JSON.stringify(long));
    assert.match(long.results[0]!.status.message, /^spiffe_id: .*longer than 2048 bytes/);
    assert.ok(long.results[0]!.status.message.length < 400, 'the message quotes the ID truncated');

    const del = await adminCall<Results>(s.socketPath, 'entry.delete', { ids: [{}] });
    assert.equal(del.results[0]?.status.code, INVALID_ARGUMENT, JSON.stringify(del));
    assert.match(del.results[0]!.status.message, /^ids\[0\]: /);

    await assert.rejects(adminCall(s.socketPath, 'token.generate', { ttl: 1e300 }), (err: Error) => {
      assert.equal((err as { code?: number }).code, INVALID_ARGUMENT);
      assert.match(err.message, /^ttl: /);
      return true;
    });

    const list = await adminCall<{ entries: { id: string }[] }>(s.socketPath, 'entry.list', {});
    assert.deepEqual(
      list.entries.map((e) => e.id),
      [goodId],
    );
    assert.equal(s.proc.exitCode, null, 'the server is still running');
  } finally {
    await s.stop();
    tmp.cleanup();
  }
});
