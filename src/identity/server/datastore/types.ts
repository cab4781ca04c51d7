/**
 * Datastore contracts, one small interface per aggregate (registration entries, attested agents,
 * join tokens, bundles, CA journal), so a PostgreSQL implementation can follow the SQLite one.
 * All calls are synchronous and each write is one committed transaction when it returns.
 * Times are unix seconds unless the name says otherwise. SPIFFE IDs are canonical strings,
 * validated before they reach the store.
 */

/** A selector `type:value` (SPIRE `Selector`). */
export interface Selector {
  type: string;
  value: string;
}

/** Fields of a registration entry set by its author (spiffe.md §g.1). */
export interface EntryFields {
  spiffeId: string;
  parentId: string;
  /** non-empty; stored sorted by `type:value` */
  selectors: Selector[];
  /** 0 = server default */
  x509SvidTtlSeconds: number;
  /** 0 = server default */
  jwtSvidTtlSeconds: number;
  dnsNames: string[];
  /** `spiffe://<td>` */
  federatesWith: string[];
  admin: boolean;
  downstream: boolean;
  /** unix seconds; 0 = never */
  expiresAt: number;
  hint: string;
}

/** A stored registration entry. */
export interface RegistrationEntry extends EntryFields {
  id: string;
  /** SPIRE `revision_number`: 0 at creation, +1 per update */
  revisionNumber: number;
  /** unix seconds */
  createdAt: number;
  /** datastore-wide change sequence of the last write to this entry (drives incremental sync) */
  changeSeq: number;
}

/** Registration entries. Errors: AlreadyExistsError (same spiffe_id+parent_id+selectors or id), NotFoundError. */
export interface EntryStore {
  createEntry(id: string, fields: EntryFields, createdAt: number): RegistrationEntry;
  /** Replaces the fields; `revisionNumber` + 1. */
  updateEntry(id: string, fields: EntryFields): RegistrationEntry;
  deleteEntry(id: string): RegistrationEntry;
  getEntry(id: string): RegistrationEntry | undefined;
  listEntries(): RegistrationEntry[];
  /** Ids of entries deleted after change sequence `seq`. */
  listDeletedEntryIdsSince(seq: number): string[];
  /** The datastore-wide change sequence now (0 before any write). */
  currentChangeSeq(): number;
}

/** An attested agent (SPIRE `AttestedNode`). */
export interface AttestedAgent {
  spiffeId: string;
  attestationType: string;
  selectors: Selector[];
  /** decimal serial of the agent's current SVID; '' when banned */
  serialNumber: string;
  /** serial of an SVID issued by RenewAgent and not used yet */
  newSerialNumber: string;
  /** unix seconds: the current SVID's notAfter */
  expiresAt: number;
  banned: boolean;
  canReattest: boolean;
  createdAt: number;
  changeSeq: number;
}

/** Attested agents. Eviction deletes the record; banning keeps it with `banned`. */
export interface AgentStore {
  getAgent(spiffeId: string): AttestedAgent | undefined;
  listAgents(): AttestedAgent[];
  /** Inserts or replaces the record; returns it with its new `changeSeq`. */
  putAgent(agent: Omit<AttestedAgent, 'changeSeq'>): AttestedAgent;
  deleteAgent(spiffeId: string): boolean;
}

/** One-time join tokens. */
export interface JoinTokenStore {
  createJoinToken(token: string, expiresAt: number): void;
  /** Deletes and returns the token atomically (single use); undefined if unknown or already used. */
  consumeJoinToken(token: string): { expiresAt: number } | undefined;
  pruneJoinTokens(nowSeconds: number): number;
}

/** A stored bundle: SPIFFE bundle JSON (Trust Domain and Bundle §4) of one trust domain. */
export interface StoredBundle {
  /** `spiffe://<td>` */
  trustDomainId: string;
  json: string;
  sequence: number;
}

/** Own and federated bundles. */
export interface BundleStore {
  getBundle(trustDomainId: string): StoredBundle | undefined;
  listBundles(): StoredBundle[];
  putBundle(bundle: StoredBundle): void;
  deleteBundle(trustDomainId: string): boolean;
}

/** One CA slot: an X509 CA certificate with its JWT signing key, prepared/activated together. */
export interface CaSlot {
  id: string;
  status: 'prepared' | 'active' | 'old';
  /** DER of our CA certificate (root or intermediate) */
  certDer: Buffer;
  /** DER of upstream certificates to send after ours in chains (empty when self-signed) */
  upstreamChainDer: Buffer[];
  /** key manager ids */
  x509KeyId: string;
  jwtKeyId: string;
  jwtKid: string;
  /** SPKI DER of the JWT public key */
  jwtPublicKeyDer: Buffer;
  /** unix seconds */
  notAfter: number;
}

/** The CA journal: the slots the CA manager keeps across restarts. */
export interface CaJournalStore {
  loadCaSlots(): CaSlot[];
  /** Replaces the whole journal in one transaction. */
  saveCaSlots(slots: CaSlot[]): void;
}

/** The whole datastore. */
export interface DataStore extends EntryStore, AgentStore, JoinTokenStore, BundleStore, CaJournalStore {
  /** Runs `fn` in one transaction (nested calls join it). */
  transaction<T>(fn: () => T): T;
  close(): void;
}
