/**
 * Registration entries: validation of author input exactly as spiffe.md §g.1 (SPIRE
 * `api/entry/v1` + `api.ProtoToEntry`), the wire/JSON shape, and an in-memory index that answers
 * "which entries may this agent get" (recursively through node aliases) without touching the store.
 */
import { SpiffeId, TrustDomain, assertGeneratableSpiffeId } from '../../spiffe/index.js';
import type { EntryMessage } from '../api/index.js';
import { InvalidArgumentError } from './errors.js';
import type { EntryFields, RegistrationEntry, Selector } from './datastore/types.js';

/** Reserved path prefix for server and agent IDs (SPIRE `idutil`). */
const RESERVED_PATH = '/spire';
const INT32_MAX = 2 ** 31 - 1;

/** The parent ID of node entries: `spiffe://<td>/spire/server`. */
export function serverSpiffeId(td: TrustDomain): string {
  return `${td.idString()}/spire/server`;
}

/**
 * Parses `type:value` (split at the first colon, so `k8s:pod-label:app:web` → type `k8s`,
 * value `pod-label:app:web`). Throws InvalidArgumentError naming `field`.
 */
export function parseSelector(field: string, s: string): Selector {
  const i = s.indexOf(':');
  if (i < 0) throw new InvalidArgumentError(field, `selector ${JSON.stringify(s)} must be "type:value"`);
  const sel = { type: s.slice(0, i), value: s.slice(i + 1) };
  validateSelector(field, sel);
  return sel;
}

/** Selector rules (§g.1): type non-empty without `:`, value non-empty. */
export function validateSelector(field: string, s: Selector): void {
  if (typeof s?.type !== 'string' || s.type === '')
    throw new InvalidArgumentError(`${field}.type`, 'selector type must not be empty');
  if (s.type.includes(':'))
    throw new InvalidArgumentError(
      `${field}.type`,
      `selector type ${JSON.stringify(s.type)} must not contain ":"`,
    );
  if (typeof s.value !== 'string' || s.value === '')
    throw new InvalidArgumentError(`${field}.value`, 'selector value must not be empty');
}

/**
 * Parses the SPIFFE ID in request field `field`. Throws {@link InvalidArgumentError} naming the field
 * when it is missing or breaks SPIFFE-ID §2 (the cause's message quotes the input, truncated).
 */
export function parseSpiffeIdArg(field: string, raw: unknown): SpiffeId {
  if (typeof raw !== 'string' || raw === '') throw new InvalidArgumentError(field, 'is required');
  try {
    return SpiffeId.parse(raw);
  } catch (err) {
    throw new InvalidArgumentError(field, `invalid SPIFFE ID ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Parses field `field` as a SPIFFE ID of trust domain `td` with a non-empty path and at most 2048
 * bytes (the server generates SVIDs for it), as registration entries and minted SVIDs need. Throws {@link InvalidArgumentError} naming the field.
 */
export function parseIdInTd(field: string, raw: unknown, td: TrustDomain): SpiffeId {
  const id = parseSpiffeIdArg(field, raw);
  try {
    assertGeneratableSpiffeId(id);
  } catch (err) {
    throw new InvalidArgumentError(field, (err as Error).message, { cause: err });
  }
  if (!id.memberOf(td))
    throw new InvalidArgumentError(field, `${id.toString()} is not a member of trust domain ${td.name}`);
  if (id.path === '') throw new InvalidArgumentError(field, `${id.toString()} must have a non-empty path`);
  return id;
}

const DNS_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** DNS SAN rules (SPIRE `x509util.ValidateLabel`): labels of [A-Za-z0-9-], optional leading `*.`, ≤ 253 chars. */
function validateDnsName(field: string, name: unknown): string {
  if (typeof name !== 'string' || name === '')
    throw new InvalidArgumentError(field, 'DNS name must not be empty');
  const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
  if (name.length > 253 || labels.some((l) => !DNS_LABEL.test(l))) {
    throw new InvalidArgumentError(field, `${JSON.stringify(name)} is not a valid DNS name`);
  }
  return name;
}

function ttl(field: string, v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > INT32_MAX) {
    throw new InvalidArgumentError(
      field,
      `must be an integer number of seconds 0–${INT32_MAX}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/** A repeated field as received: absent → [], anything but a JSON list → InvalidArgumentError. */
function listField(field: string, v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidArgumentError(field, `must be a list, got ${JSON.stringify(v)}`);
  return v;
}

/** Entry author input (wire/JSON shape; all fields optional as received). */
export type EntryInput = Partial<Omit<EntryMessage, 'revision_number' | 'created_at'>>;

/**
 * Validates author input into stored fields (spiffe.md §g.1). `bundleExists(tdId)` answers whether a
 * federated bundle for `spiffe://<td>` is stored. Throws InvalidArgumentError naming the field.
 */
export function validateEntryInput(
  input: EntryInput,
  td: TrustDomain,
  bundleExists: (trustDomainId: string) => boolean,
): { id?: string; fields: EntryFields } {
  if (input === null || typeof input !== 'object')
    throw new InvalidArgumentError('entry', 'must be an object');
  let id: string | undefined;
  if (input.id !== undefined && input.id !== '') {
    if (typeof input.id !== 'string' || input.id.length > 255 || !/^[\x21-\x7e]+$/.test(input.id)) {
      throw new InvalidArgumentError(
        'id',
        'entry ID must be 1–255 printable ASCII characters without spaces',
      );
    }
    id = input.id;
  }
  const spiffeId = parseIdInTd('spiffe_id', input.spiffe_id, td);
  if (spiffeId.path === RESERVED_PATH || spiffeId.path.startsWith(`${RESERVED_PATH}/`)) {
    throw new InvalidArgumentError(
      'spiffe_id',
      `${spiffeId.toString()}: paths under "/spire" are reserved for servers and agents`,
    );
  }
  const parentId = parseIdInTd('parent_id', input.parent_id, td);
  const isNode = parentId.toString() === serverSpiffeId(td);

  if (!Array.isArray(input.selectors) || input.selectors.length === 0) {
    throw new InvalidArgumentError('selectors', 'at least one selector is required');
  }
  const selectors = input.selectors.map((s, i) => {
    validateSelector(`selectors[${i}]`, s);
    return { type: s.type, value: s.value };
  });

  const dnsNames = listField('dns_names', input.dns_names).map((n, i) =>
    validateDnsName(`dns_names[${i}]`, n),
  );
  const federatesWith = listField('federates_with', input.federates_with).map((f, i) => {
    const field = `federates_with[${i}]`;
    let ftd: TrustDomain;
    try {
      ftd = TrustDomain.parse(String(f));
    } catch (err) {
      throw new InvalidArgumentError(
        field,
        `invalid trust domain ${JSON.stringify(f)}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (ftd.equals(td))
      throw new InvalidArgumentError(field, `cannot federate with the server's own trust domain ${td.name}`);
    if (!bundleExists(ftd.idString())) {
      throw new InvalidArgumentError(
        field,
        `no bundle stored for ${ftd.idString()} (set it with "bundle set" first)`,
      );
    }
    return ftd.idString();
  });
  if (isNode && federatesWith.length > 0)
    throw new InvalidArgumentError('federates_with', 'node entries cannot federate');

  const hint = input.hint ?? '';
  if (typeof hint !== 'string' || hint.length > 1024)
    throw new InvalidArgumentError('hint', 'must be at most 1024 characters');
  const expiresAt = input.expires_at ?? 0;
  if (typeof expiresAt !== 'number' || !Number.isInteger(expiresAt) || expiresAt < 0) {
    throw new InvalidArgumentError('expires_at', 'must be unix seconds ≥ 0');
  }
  return {
    id,
    fields: {
      spiffeId: spiffeId.toString(),
      parentId: parentId.toString(),
      selectors,
      x509SvidTtlSeconds: ttl('x509_svid_ttl', input.x509_svid_ttl),
      jwtSvidTtlSeconds: ttl('jwt_svid_ttl', input.jwt_svid_ttl),
      dnsNames: [...new Set(dnsNames)],
      federatesWith: [...new Set(federatesWith)],
      admin: input.admin === true,
      downstream: input.downstream === true,
      expiresAt,
      hint,
    },
  };
}

/** Stored entry → wire/JSON shape (agent.proto `Entry`, also the admin API's JSON). */
export function entryToMessage(e: RegistrationEntry): EntryMessage {
  return {
    id: e.id,
    spiffe_id: e.spiffeId,
    parent_id: e.parentId,
    selectors: e.selectors.map((s) => ({ type: s.type, value: s.value })),
    x509_svid_ttl: e.x509SvidTtlSeconds,
    jwt_svid_ttl: e.jwtSvidTtlSeconds,
    dns_names: e.dnsNames,
    federates_with: e.federatesWith,
    admin: e.admin,
    downstream: e.downstream,
    expires_at: e.expiresAt,
    hint: e.hint,
    revision_number: e.revisionNumber,
    created_at: e.createdAt,
  };
}

/** True when every selector of `subset` is in `set` (entry matching rule, §g.1). */
export function selectorsSubset(subset: readonly Selector[], set: ReadonlySet<string>): boolean {
  return subset.every((s) => set.has(`${s.type}:${s.value}`));
}

/**
 * In-memory index of all registration entries, kept in step with the store by the server.
 * `authorizedFor` implements SPIRE's rule: entries parented to the agent ID or to any node entry
 * whose selectors ⊆ the agent's selectors (alias), and recursively entries parented to those.
 */
export class EntryIndex {
  readonly #byId = new Map<string, RegistrationEntry>();
  readonly #byParent = new Map<string, Set<string>>();
  readonly #serverId: string;
  /** highest changeSeq of a node entry write/delete (aliases may have changed since) */
  nodeEntriesChangedAt = 0;
  /** bumped on every put/delete; invalidates {@link EntryIndex.authorizedFor} results */
  #version = 0;
  /** agent ID → last authorizedFor answer (paged syncs and batches of one agent reuse it) */
  readonly #authorizedCache = new Map<
    string,
    { version: number; selectors: string; validUntil: number; entries: RegistrationEntry[] }
  >();

  constructor(td: TrustDomain, entries: Iterable<RegistrationEntry> = []) {
    this.#serverId = serverSpiffeId(td);
    for (const e of entries) this.put(e);
  }

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): RegistrationEntry | undefined {
    return this.#byId.get(id);
  }

  all(): IterableIterator<RegistrationEntry> {
    return this.#byId.values();
  }

  /** Adds or replaces an entry. */
  put(e: RegistrationEntry): void {
    this.#version++;
    const old = this.#byId.get(e.id);
    if (old) this.#unlink(old);
    this.#byId.set(e.id, e);
    let set = this.#byParent.get(e.parentId);
    if (!set) this.#byParent.set(e.parentId, (set = new Set()));
    set.add(e.id);
    if (e.parentId === this.#serverId || old?.parentId === this.#serverId) {
      this.nodeEntriesChangedAt = Math.max(this.nodeEntriesChangedAt, e.changeSeq);
    }
  }

  /** Removes an entry; `changeSeq` is the sequence of the deletion. */
  delete(id: string, changeSeq: number): void {
    const old = this.#byId.get(id);
    if (!old) return;
    this.#version++;
    this.#unlink(old);
    this.#byId.delete(id);
    if (old.parentId === this.#serverId)
      this.nodeEntriesChangedAt = Math.max(this.nodeEntriesChangedAt, changeSeq);
  }

  #unlink(e: RegistrationEntry): void {
    const set = this.#byParent.get(e.parentId);
    set?.delete(e.id);
    if (set?.size === 0) this.#byParent.delete(e.parentId);
  }

  /** SPIFFE IDs of node entries whose selectors ⊆ `agentSelectors` (the agent's aliases). */
  aliasesFor(agentSelectors: readonly Selector[]): string[] {
    const have = new Set(agentSelectors.map((s) => `${s.type}:${s.value}`));
    const out = new Set<string>();
    for (const id of this.#byParent.get(this.#serverId) ?? []) {
      const e = this.#byId.get(id)!;
      if (selectorsSubset(e.selectors, have)) out.add(e.spiffeId);
    }
    return [...out];
  }

  /**
   * Entries the agent may obtain SVIDs for, sorted by entry ID. Node entries that are the agent's
   * aliases are included (SPIRE sends them too); expired entries (expires_at ≤ now) are left out.
   */
  authorizedFor(
    agentId: string,
    agentSelectors: readonly Selector[],
    nowSeconds: number,
  ): RegistrationEntry[] {
    const selectors = agentSelectors.map((s) => `${s.type}:${s.value}`).join('\n');
    const hit = this.#authorizedCache.get(agentId);
    if (hit && hit.version === this.#version && hit.selectors === selectors && nowSeconds < hit.validUntil) {
      return hit.entries;
    }
    const entries = this.#computeAuthorized(agentId, agentSelectors, nowSeconds);
    // The answer changes by itself when an entry expires: recompute from the next expiry on.
    let validUntil = Infinity;
    for (const e of this.#byId.values()) {
      if (e.expiresAt > nowSeconds && e.expiresAt < validUntil) validUntil = e.expiresAt;
    }
    if (this.#authorizedCache.size >= 4096)
      this.#authorizedCache.delete(this.#authorizedCache.keys().next().value!);
    this.#authorizedCache.set(agentId, { version: this.#version, selectors, validUntil, entries });
    return entries;
  }

  #computeAuthorized(
    agentId: string,
    agentSelectors: readonly Selector[],
    nowSeconds: number,
  ): RegistrationEntry[] {
    const result = new Map<string, RegistrationEntry>();
    const seenParents = new Set<string>();
    const queue = [agentId];
    const have = new Set(agentSelectors.map((s) => `${s.type}:${s.value}`));
    for (const id of this.#byParent.get(this.#serverId) ?? []) {
      const e = this.#byId.get(id)!;
      if (selectorsSubset(e.selectors, have) && (e.expiresAt === 0 || e.expiresAt > nowSeconds)) {
        result.set(e.id, e);
        queue.push(e.spiffeId);
      }
    }
    while (queue.length > 0) {
      const parent = queue.pop()!;
      if (seenParents.has(parent) || parent === this.#serverId) continue;
      seenParents.add(parent);
      for (const id of this.#byParent.get(parent) ?? []) {
        const e = this.#byId.get(id)!;
        if (result.has(e.id) || (e.expiresAt !== 0 && e.expiresAt <= nowSeconds)) continue;
        result.set(e.id, e);
        queue.push(e.spiffeId);
      }
    }
    return [...result.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
