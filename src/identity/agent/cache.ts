/**
 * The agent's in-memory SVID cache (SPIRE `pkg/agent/manager/cache`): registration entries
 * authorized for this agent, one X509-SVID per entry (private keys live only here, in memory), and
 * the bundles. Every change bumps {@link SvidCache.version} and wakes waiters, so each open stream
 * re-reads the whole state it needs: a slow reader simply skips intermediate states (updates are
 * coalesced, never queued).
 *
 * Matching is indexed, as SPIRE's cache does: entries are posted under each of their selectors, so a
 * caller's entries come from the postings of its own (few) selectors, and the sorted match of each
 * distinct caller selector set is memoised until the entry set changes (SVID rotations don't change
 * which entries match). A fetch or push then costs O(matched entries), not O(cached entries).
 */
import type { KeyObject } from 'node:crypto';
import type { EntryMessage } from '../api/index.js';
import { parseCertFields, type SpiffeBundle, type TrustDomain } from '../../spiffe/index.js';
import { selectorString } from './selectors.js';
import { AgentClosedError } from './errors.js';

/**
 * An X.509 certificate chain as the agent keeps it: DER, leaf first, with the leaf's validity and
 * serial read once (a node:crypto X509Certificate per SVID cost more than minting its key).
 */
export interface CertificateChain {
  /** DER certificates, leaf first, then intermediates */
  certChainDer: Buffer[];
  /** the leaf's notBefore, ms since the epoch */
  notBefore: number;
  /** the leaf's notAfter, ms since the epoch */
  notAfter: number;
  /** the leaf's serial number (upper-case hex, as X509Certificate prints it) */
  serialNumber: string;
}

/**
 * Reads a DER chain (leaf first) into a {@link CertificateChain}.
 * @throws DerError when the leaf does not parse (RFC 5280 §4.1).
 */
export function certificateChain(certChainDer: Buffer[]): CertificateChain {
  const leaf = parseCertFields(certChainDer[0] ?? Buffer.alloc(0));
  return {
    certChainDer,
    notBefore: leaf.notBefore.getTime(),
    notAfter: leaf.notAfter.getTime(),
    serialNumber: leaf.serialNumber,
  };
}

/** An X509-SVID the agent holds for one entry: its chain (DER, leaf first) and key, in memory. */
export interface CachedSvid extends CertificateChain {
  spiffeId: string;
  privateKey: KeyObject;
  /** the entry revision the SVID was minted for (a changed entry forces a new SVID) */
  entryRevision: number;
  /** rotation jitter fraction drawn for this SVID (see rotation.ts) */
  jitter: number;
}

/** One identity of a caller: the matched entry and its current SVID. */
export interface WorkloadIdentity {
  entry: EntryMessage;
  svid: CachedSvid;
}

/** What a caller with a given selector set may see, at one cache version. */
export interface WorkloadSnapshot {
  version: number;
  /** matched entries that have an SVID, oldest entry first (svids[0] = default identity) */
  identities: WorkloadIdentity[];
  /** the agent's own trust domain */
  trustDomain: TrustDomain;
  /** bundle of the own trust domain; undefined until the first bundle arrived */
  bundle: SpiffeBundle | undefined;
  /** `spiffe://<td>` → bundle, for the trust domains the matched entries federate with */
  federatedBundles: Map<string, SpiffeBundle>;
}

/** Distinct caller selector sets whose match is kept at once. */
const MAX_MEMOISED_MATCHES = 4096;

/** See the module docstring. */
export class SvidCache {
  readonly trustDomain: TrustDomain;
  #version = 0;
  #entries = new Map<string, EntryMessage>();
  #svids = new Map<string, CachedSvid>();
  #bundle: SpiffeBundle | undefined;
  #federated = new Map<string, SpiffeBundle>();
  /** `type:value` → ids of the entries carrying that selector */
  #bySelector = new Map<string, Set<string>>();
  /** entry id → number of distinct selectors it carries (all must be among the caller's) */
  #selectorCounts = new Map<string, number>();
  /** caller selector set (sorted, joined) → its matching entries in snapshot order; cleared on entry changes */
  #matches = new Map<string, EntryMessage[]>();
  /** pending {@link waitForChange} calls → the caller's selectors, or undefined to wake on every change */
  #waiters = new Map<() => void, ReadonlySet<string> | undefined>();
  #closed = false;

  constructor(trustDomain: TrustDomain) {
    this.trustDomain = trustDomain;
  }

  /** Monotonic change counter; starts at 0 (nothing loaded). */
  get version(): number {
    return this.#version;
  }

  /** All cached entries by entry id. */
  entries(): ReadonlyMap<string, EntryMessage> {
    return this.#entries;
  }

  /** The SVID of an entry, if one was issued. */
  svid(entryId: string): CachedSvid | undefined {
    return this.#svids.get(entryId);
  }

  /** Number of cached SVIDs. */
  svidCount(): number {
    return this.#svids.size;
  }

  /** The own trust domain's bundle. */
  bundle(): SpiffeBundle | undefined {
    return this.#bundle;
  }

  /** Every federated bundle the server gave, keyed `spiffe://<td>`. */
  federatedBundles(): ReadonlyMap<string, SpiffeBundle> {
    return this.#federated;
  }

  /**
   * Applies an entry sync: `changed` entries are upserted, `removedIds` dropped, and with `full` every
   * entry not in `changed` is dropped too. SVIDs of dropped entries are forgotten.
   */
  applyEntries(changed: EntryMessage[], removedIds: string[], full: boolean): void {
    let dirty = false;
    if (full) {
      const keep = new Set(changed.map((e) => e.id));
      for (const id of this.#entries.keys()) if (!keep.has(id)) removedIds = [...removedIds, id];
    }
    for (const id of removedIds) {
      const old = this.#entries.get(id);
      if (old) this.#unindex(old);
      dirty = this.#entries.delete(id) || dirty;
      dirty = this.#svids.delete(id) || dirty;
    }
    for (const e of changed) {
      const old = this.#entries.get(e.id);
      if (!old || old.revision_number !== e.revision_number || JSON.stringify(old) !== JSON.stringify(e)) {
        if (old) this.#unindex(old);
        this.#entries.set(e.id, e);
        this.#index(e);
        dirty = true;
      }
    }
    if (dirty) {
      this.#matches.clear();
      this.#bump();
    }
  }

  /** Stores new SVIDs (one change for the whole batch). Ignored for entries no longer cached. */
  setSvids(svids: Array<{ entryId: string; svid: CachedSvid }>): void {
    const changed = new Set<string>();
    for (const { entryId, svid } of svids) {
      if (!this.#entries.has(entryId)) continue;
      this.#svids.set(entryId, svid);
      changed.add(entryId);
    }
    if (changed.size > 0) this.#bump(changed);
  }

  /** Replaces the bundles; `federated` is keyed `spiffe://<td>`. Wakes streams only when they changed. */
  setBundles(bundle: SpiffeBundle, federated: Map<string, SpiffeBundle>): void {
    const same =
      this.#bundle !== undefined &&
      this.#bundle.toJson() === bundle.toJson() &&
      this.#federated.size === federated.size &&
      [...federated].every(([k, b]) => this.#federated.get(k)?.toJson() === b.toJson());
    if (same) return;
    this.#bundle = bundle;
    this.#federated = federated;
    this.#bump();
  }

  /**
   * The state visible to a caller with `selectors` (a set of `type:value` strings): the entries whose
   * selectors are all among the caller's and that have an SVID, ordered by (created_at, id).
   */
  snapshotFor(selectors: ReadonlySet<string>): WorkloadSnapshot {
    const identities: WorkloadIdentity[] = [];
    const federatedBundles = new Map<string, SpiffeBundle>();
    for (const entry of this.#matching(selectors)) {
      const svid = this.#svids.get(entry.id);
      if (!svid) continue;
      identities.push({ entry, svid });
      for (const td of entry.federates_with) {
        const b = this.#federated.get(td);
        if (b) federatedBundles.set(td, b);
      }
    }
    return {
      version: this.#version,
      identities,
      trustDomain: this.trustDomain,
      bundle: this.#bundle,
      federatedBundles,
    };
  }

  /** True when some cached entry matches `selectors`, with or without an SVID yet. */
  hasEntryFor(selectors: ReadonlySet<string>): boolean {
    return this.#matching(selectors).length > 0;
  }

  /**
   * Resolves once {@link version} is greater than `seen` (at once if it already is). With `selectors`
   * (the waiting caller's), SVIDs stored for entries the caller does not match don't wake it: only
   * its own SVIDs, entry changes and bundle changes do. Rejects with the signal's reason when `signal`
   * aborts, and with {@link AgentClosedError} after {@link close}.
   */
  waitForChange(seen: number, signal?: AbortSignal, selectors?: ReadonlySet<string>): Promise<void> {
    if (this.#closed) return Promise.reject(new AgentClosedError('the SVID cache'));
    if (this.#version > seen) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters.delete(wake);
        reject(signal!.reason);
      };
      const wake = (): void => {
        this.#waiters.delete(wake);
        signal?.removeEventListener('abort', onAbort);
        if (this.#closed) reject(new AgentClosedError('the SVID cache'));
        else resolve();
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.set(wake, selectors);
    });
  }

  /** Number of pending {@link waitForChange} calls (open streams waiting for an update). */
  waiterCount(): number {
    return this.#waiters.size;
  }

  /** Wakes every waiter with {@link AgentClosedError}. */
  close(): void {
    this.#closed = true;
    for (const w of [...this.#waiters.keys()]) w();
  }

  /** Bumps the version and wakes waiters; with `svidsOf`, only those matching one of these entries. */
  #bump(svidsOf?: ReadonlySet<string>): void {
    this.#version++;
    for (const [wake, selectors] of [...this.#waiters]) {
      if (!svidsOf || !selectors || this.#matching(selectors).some((e) => svidsOf.has(e.id))) wake();
    }
  }

  /** The entries matching a caller's selectors, in snapshot order (memoised; do not mutate). */
  #matching(selectors: ReadonlySet<string>): EntryMessage[] {
    const key = JSON.stringify([...selectors].sort());
    let matched = this.#matches.get(key);
    if (matched) return matched;
    const hits = new Map<string, number>();
    for (const s of selectors) {
      for (const id of this.#bySelector.get(s) ?? []) hits.set(id, (hits.get(id) ?? 0) + 1);
    }
    matched = [];
    for (const [id, n] of hits) if (n === this.#selectorCounts.get(id)) matched.push(this.#entries.get(id)!);
    matched.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // Caller selector sets are few (one per workload kind); the bound only guards against churn.
    if (this.#matches.size >= MAX_MEMOISED_MATCHES) this.#matches.clear();
    this.#matches.set(key, matched);
    return matched;
  }

  #index(entry: EntryMessage): void {
    const distinct = new Set(entry.selectors.map(selectorString));
    for (const s of distinct) {
      let ids = this.#bySelector.get(s);
      if (!ids) this.#bySelector.set(s, (ids = new Set()));
      ids.add(entry.id);
    }
    this.#selectorCounts.set(entry.id, distinct.size);
  }

  #unindex(entry: EntryMessage): void {
    for (const selector of entry.selectors) {
      const s = selectorString(selector);
      const ids = this.#bySelector.get(s);
      ids?.delete(entry.id);
      if (ids?.size === 0) this.#bySelector.delete(s);
    }
    this.#selectorCounts.delete(entry.id);
  }
}
