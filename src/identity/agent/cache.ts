/**
 * The agent's in-memory SVID cache (SPIRE `pkg/agent/manager/cache`): registration entries
 * authorized for this agent, one X509-SVID per entry (private keys live only here, in memory), and
 * the bundles. Every change bumps {@link SvidCache.version} and wakes waiters, so each open stream
 * re-reads the whole state it needs: a slow reader simply skips intermediate states (updates are
 * coalesced, never queued).
 */
import type { X509Certificate, KeyObject } from 'node:crypto';
import type { EntryMessage } from '../api/index.js';
import type { SpiffeBundle, TrustDomain } from '../../spiffe/index.js';
import { selectorsMatch } from './selectors.js';
import { AgentClosedError } from './errors.js';

/** An X509-SVID the agent holds for one entry: chain leaf first (DER-backed certificates), key in memory. */
export interface CachedSvid {
  spiffeId: string;
  /** leaf first, then intermediates */
  certificates: X509Certificate[];
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

/** See the module docstring. */
export class SvidCache {
  readonly trustDomain: TrustDomain;
  #version = 0;
  #entries = new Map<string, EntryMessage>();
  #svids = new Map<string, CachedSvid>();
  #bundle: SpiffeBundle | undefined;
  #federated = new Map<string, SpiffeBundle>();
  #waiters = new Set<() => void>();
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
      dirty = this.#entries.delete(id) || dirty;
      dirty = this.#svids.delete(id) || dirty;
    }
    for (const e of changed) {
      const old = this.#entries.get(e.id);
      if (!old || old.revision_number !== e.revision_number || JSON.stringify(old) !== JSON.stringify(e)) {
        this.#entries.set(e.id, e);
        dirty = true;
      }
    }
    if (dirty) this.#bump();
  }

  /** Stores new SVIDs (one change for the whole batch). Ignored for entries no longer cached. */
  setSvids(svids: Array<{ entryId: string; svid: CachedSvid }>): void {
    let dirty = false;
    for (const { entryId, svid } of svids) {
      if (!this.#entries.has(entryId)) continue;
      this.#svids.set(entryId, svid);
      dirty = true;
    }
    if (dirty) this.#bump();
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

  /** The state visible to a caller with `selectors` (a set of `type:value` strings). */
  snapshotFor(selectors: ReadonlySet<string>): WorkloadSnapshot {
    const identities: WorkloadIdentity[] = [];
    for (const entry of this.#entries.values()) {
      const svid = this.#svids.get(entry.id);
      if (svid && selectorsMatch(entry.selectors, selectors)) identities.push({ entry, svid });
    }
    identities.sort((a, b) => a.entry.created_at - b.entry.created_at || (a.entry.id < b.entry.id ? -1 : 1));
    const federatedBundles = new Map<string, SpiffeBundle>();
    for (const { entry } of identities) {
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
    for (const e of this.#entries.values()) if (selectorsMatch(e.selectors, selectors)) return true;
    return false;
  }

  /**
   * Resolves once {@link version} is greater than `seen` (at once if it already is). Rejects with the
   * signal's reason when `signal` aborts, and with {@link AgentClosedError} after {@link close}.
   */
  waitForChange(seen: number, signal?: AbortSignal): Promise<void> {
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
      this.#waiters.add(wake);
    });
  }

  /** Number of pending {@link waitForChange} calls (open streams waiting for an update). */
  waiterCount(): number {
    return this.#waiters.size;
  }

  /** Wakes every waiter with {@link AgentClosedError}. */
  close(): void {
    this.#closed = true;
    for (const w of [...this.#waiters]) w();
  }

  #bump(): void {
    this.#version++;
    for (const w of [...this.#waiters]) w();
  }
}
