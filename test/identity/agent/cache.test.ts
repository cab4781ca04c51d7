import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import { SvidCache, selectorsMatch, type CachedSvid } from '../../../src/identity/agent/index.js';
import type { EntryMessage } from '../../../src/identity/api/index.js';
import { bundleOf, cachedSvid, entry, testCa } from './support.js';

type Ca = Awaited<ReturnType<typeof testCa>>;

const ids = (c: SvidCache, selectors: string[]): string[] =>
  c.snapshotFor(new Set(selectors)).identities.map((i) => i.entry.id);

/** Resolves to whether `p` settled within a few event-loop turns. */
async function settled(p: Promise<void>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 5; i++) await tick();
  return done;
}

describe('SvidCache matching (selector index)', () => {
  let ca: Ca;
  let other: Ca;
  let svid: CachedSvid;
  before(async () => {
    ca = await testCa();
    other = await testCa('other.org');
    svid = cachedSvid(ca, 'spiffe://example.org/w');
  });

  function populated(entries: EntryMessage[]): SvidCache {
    const c = new SvidCache(ca.trustDomain);
    c.applyEntries(entries, [], true);
    c.setSvids(entries.map((e) => ({ entryId: e.id, svid })));
    return c;
  }

  it('an entry matches when all its selectors are among the caller’s; order is (created_at, id)', () => {
    const c = populated([
      entry('e-late', 'spiffe://example.org/late', ['unix:uid:1000'], { created_at: 30 }),
      entry('e-b', 'spiffe://example.org/b', ['unix:uid:1000', 'unix:gid:50'], { created_at: 10 }),
      entry('e-a', 'spiffe://example.org/a', ['unix:uid:1000'], { created_at: 10 }),
      entry('e-other', 'spiffe://example.org/other', ['unix:uid:2000'], { created_at: 1 }),
      entry('e-dup', 'spiffe://example.org/dup', ['unix:gid:50', 'unix:gid:50'], { created_at: 20 }),
    ]);
    assert.deepEqual(ids(c, ['unix:uid:1000']), ['e-a', 'e-late']);
    assert.deepEqual(ids(c, ['unix:uid:1000', 'unix:gid:50', 'unix:user:x']), [
      'e-a',
      'e-b',
      'e-dup',
      'e-late',
    ]);
    assert.deepEqual(ids(c, ['unix:gid:50']), ['e-dup']);
    assert.deepEqual(ids(c, ['unix:uid:2000']), ['e-other']);
    assert.deepEqual(ids(c, ['unix:uid:3000', 'unix:gid:51']), []);
    assert.deepEqual(ids(c, []), []);
    assert.equal(c.hasEntryFor(new Set(['unix:uid:3000'])), false);
    assert.equal(c.hasEntryFor(new Set(['unix:gid:50'])), true);
  });

  it('carries the bundle and only the federated bundles the matched entries federate with', () => {
    const c = populated([
      entry('e-fed', 'spiffe://example.org/fed', ['unix:uid:1'], { federates_with: ['spiffe://other.org'] }),
      entry('e-plain', 'spiffe://example.org/plain', ['unix:uid:2']),
    ]);
    c.setBundles(bundleOf(ca), new Map([['spiffe://other.org', bundleOf(other)]]));
    const fed = c.snapshotFor(new Set(['unix:uid:1']));
    assert.deepEqual([...fed.federatedBundles.keys()], ['spiffe://other.org']);
    assert.equal(fed.bundle?.toJson(), bundleOf(ca).toJson());
    assert.equal(fed.version, c.version);
    assert.equal(fed.trustDomain, ca.trustDomain);
    assert.deepEqual([...c.snapshotFor(new Set(['unix:uid:2'])).federatedBundles.keys()], []);
  });

  it('an entry without an SVID yet is matched but not in the snapshot', () => {
    const c = new SvidCache(ca.trustDomain);
    c.applyEntries([entry('e1', 'spiffe://example.org/1', ['unix:uid:1'])], [], false);
    assert.equal(c.hasEntryFor(new Set(['unix:uid:1'])), true);
    assert.deepEqual(ids(c, ['unix:uid:1']), []);
    c.setSvids([{ entryId: 'e1', svid }]);
    assert.deepEqual(ids(c, ['unix:uid:1']), ['e1']);
  });

  it('entry changes, removals and full syncs reach callers whose match was already computed', () => {
    const c = populated([
      entry('e1', 'spiffe://example.org/1', ['unix:uid:1']),
      entry('e2', 'spiffe://example.org/2', ['unix:uid:2']),
    ]);
    assert.deepEqual(ids(c, ['unix:uid:1']), ['e1']);
    assert.deepEqual(ids(c, ['unix:uid:9']), []);
    c.applyEntries(
      [entry('e1', 'spiffe://example.org/1', ['unix:uid:9'], { revision_number: 2 })],
      [],
      false,
    );
    assert.deepEqual(ids(c, ['unix:uid:1']), []);
    assert.deepEqual(ids(c, ['unix:uid:9']), ['e1']);
    c.applyEntries([], ['e1'], false);
    assert.deepEqual(ids(c, ['unix:uid:9']), []);
    c.applyEntries([entry('e3', 'spiffe://example.org/3', ['unix:uid:2'], { created_at: 0 })], [], true);
    c.setSvids([{ entryId: 'e3', svid }]);
    assert.deepEqual(ids(c, ['unix:uid:2']), ['e3'], 'the full sync dropped e2');
  });

  it('a rotated SVID shows in the next snapshot of an already matched caller', () => {
    const c = populated([entry('e1', 'spiffe://example.org/1', ['unix:uid:1'])]);
    assert.equal(c.snapshotFor(new Set(['unix:uid:1'])).identities[0]!.svid, svid);
    const rotated = cachedSvid(ca, 'spiffe://example.org/1');
    c.setSvids([{ entryId: 'e1', svid: rotated }]);
    assert.equal(c.snapshotFor(new Set(['unix:uid:1'])).identities[0]!.svid, rotated);
  });

  it('agrees with the plain subset rule on random entries and callers', () => {
    let seed = 7;
    const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const pool = ['unix:uid:1', 'unix:uid:2', 'unix:gid:1', 'unix:gid:2', 'k8s:ns:a', 'k8s:ns:b', 'k8s:sa:x'];
    const pick = (): string[] => Array.from({ length: 1 + rand(3) }, () => pool[rand(pool.length)]!);
    const entries = Array.from({ length: 300 }, (_, i) =>
      entry(`e${i}`, `spiffe://example.org/${i}`, pick(), { created_at: rand(20) }),
    );
    const c = populated(entries);
    for (let k = 0; k < 200; k++) {
      const caller = new Set(Array.from({ length: rand(6) }, () => pool[rand(pool.length)]!));
      const expected = entries
        .filter((e) => selectorsMatch(e.selectors, caller))
        .sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1))
        .map((e) => e.id);
      assert.deepEqual(ids(c, [...caller]), expected, [...caller].join(','));
      if (k === 100)
        c.applyEntries(
          [],
          entries.slice(0, 50).map((e) => e.id),
          false,
        );
      if (k === 100) entries.splice(0, 50);
    }
  });
});

describe('SvidCache wake-ups', () => {
  let ca: Ca;
  before(async () => {
    ca = await testCa();
  });

  it('stored SVIDs wake only the waiters they match; bundle and entry changes wake everyone', async () => {
    const c = new SvidCache(ca.trustDomain);
    c.applyEntries(
      [
        entry('e1', 'spiffe://example.org/1', ['unix:uid:1']),
        entry('e2', 'spiffe://example.org/2', ['unix:uid:2']),
      ],
      [],
      false,
    );
    const one = new Set(['unix:uid:1']);
    const two = new Set(['unix:uid:2']);
    let v = c.version;
    const w1 = c.waitForChange(v, undefined, one);
    const w2 = c.waitForChange(v, undefined, two);
    const any = c.waitForChange(v);
    c.setSvids([{ entryId: 'e2', svid: cachedSvid(ca, 'spiffe://example.org/2') }]);
    assert.equal(await settled(w2), true, 'the caller whose SVID was stored');
    assert.equal(await settled(any), true, 'a waiter without selectors');
    assert.equal(await settled(w1), false, 'a caller whose SVIDs did not change');
    assert.equal(c.waiterCount(), 1);
    c.setBundles(bundleOf(ca), new Map());
    assert.equal(await settled(w1), true, 'a bundle change reaches every stream');

    v = c.version;
    const w1b = c.waitForChange(v, undefined, one);
    c.applyEntries([entry('e3', 'spiffe://example.org/3', ['unix:uid:3'])], [], false);
    assert.equal(await settled(w1b), true, 'an entry change reaches every stream');

    v = c.version;
    const nobody = c.waitForChange(v, undefined, new Set(['unix:uid:9']));
    c.setSvids([{ entryId: 'e1', svid: cachedSvid(ca, 'spiffe://example.org/1') }]);
    assert.equal(await settled(nobody), false);
    c.close();
    await assert.rejects(nobody);
  });
});
