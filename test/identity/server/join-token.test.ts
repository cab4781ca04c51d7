/**
 * `join_token` node attestation against the real SQLite store with an injected clock (spiffe.md
 * §g.2): single use, refused once expired, agent ID from the token, empty payload rejected.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { TrustDomain } from '../../../src/spiffe/index.js';
import {
  InvalidArgumentError,
  JoinTokenAttestor,
  PermissionDeniedError,
  openSqliteDataStore,
} from '../../../src/identity/server/index.js';
import { tempDir } from './support.js';

const tmp = tempDir('tm-join-token-');
const store = openSqliteDataStore({
  dataDir: tmp.dir,
  databasePath: path.join(tmp.dir, 'datastore.sqlite3'),
});
after(() => {
  store.close();
  tmp.cleanup();
});

let nowMs = 1_000_000_000_000;
const attestor = new JoinTokenAttestor({
  trustDomain: TrustDomain.parse('example.org'),
  tokens: store,
  now: () => nowMs,
});
const payload = (token: string) => Buffer.from(token);

test('a token attests once, as spiffe://<td>/spire/agent/join_token/<token>', async () => {
  store.createJoinToken('tok-once', nowMs / 1000 + 60);
  const r = await attestor.attest(payload('tok-once'));
  assert.equal(r.agentId, 'spiffe://example.org/spire/agent/join_token/tok-once');
  assert.deepEqual(r.selectors, []);
  await assert.rejects(
    attestor.attest(payload('tok-once')),
    (e: unknown) => e instanceof PermissionDeniedError && /has already been used/.test(e.message),
  );
});

test('a token is refused from its expiry on', async () => {
  store.createJoinToken('tok-live', nowMs / 1000 + 60);
  store.createJoinToken('tok-expiring', nowMs / 1000 + 60);
  nowMs += 59_999;
  assert.ok(await attestor.attest(payload('tok-live')), '1 ms before expiry: accepted');
  nowMs += 1;
  await assert.rejects(
    attestor.attest(payload('tok-expiring')),
    (e: unknown) => e instanceof PermissionDeniedError && /token expired/.test(e.message),
  );
});

test('an empty payload is an invalid argument, not a refusal', async () => {
  await assert.rejects(attestor.attest(payload('  ')), InvalidArgumentError);
});
