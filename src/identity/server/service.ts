/**
 * The identity server's domain layer: registration entries, agents, join tokens, bundles, SVID
 * minting, node attestation and the agent-facing operations. Transports (admin API on the unix
 * socket, agent API over gRPC/TLS) call into this and map its typed errors to statuses.
 */
import { EventEmitter } from 'node:events';
import { randomUUID, type KeyObject, type X509Certificate } from 'node:crypto';
import {
  SpiffeBundle,
  SpiffeId,
  TrustDomain,
  X509Bundle,
  parseCertificates,
  parseCsr,
  verifyX509Svid,
} from '../../spiffe/index.js';
import type { EntryMessage, SelectorMessage } from '../api/index.js';
import type { AttestationResult, NodeAttestor } from './attestation/index.js';
import { serialHex, type CaManager } from './ca/manager.js';
import type { ServerConfig } from './config/index.js';
import type {
  AttestedAgent,
  DataStore,
  RegistrationEntry,
  Selector,
  StoredBundle,
} from './datastore/types.js';
import {
  EntryIndex,
  entryToMessage,
  parseIdInTd,
  parseSpiffeIdArg,
  selectorsSubset,
  serverSpiffeId,
  validateEntryInput,
  type EntryInput,
} from './entries.js';
import {
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ServerError,
  UnauthenticatedError,
  toStatus,
} from './errors.js';

/** Default and maximum entries per SyncAuthorizedEntries page (SPIRE hit 4 MiB at ~17k entries). */
export const SYNC_PAGE_SIZE_DEFAULT = 1000;
export const SYNC_PAGE_SIZE_MAX = 5000;

/** Per-item outcome of a batch admin call (SPIRE Batch* responses). */
export interface BatchResult<T> {
  status: { code: number; message: string };
  value?: T;
}

/** Admin view of an attested agent. */
export interface AgentInfo {
  spiffe_id: string;
  attestation_type: string;
  selectors: SelectorMessage[];
  /** decimal serial number of the current agent SVID ('' when banned) */
  serial_number: string;
  /** unix seconds */
  expires_at: number;
  banned: boolean;
  can_reattest: boolean;
}

/** Filter of `entry show` / `entry count` (AND of the fields set). */
export interface EntryFilter {
  entry_id?: string;
  spiffe_id?: string;
  parent_id?: string;
  /** entries holding all of these selectors */
  selectors?: Selector[];
  federates_with?: string[];
  downstream?: boolean;
}

/** The calling agent, authenticated from its client certificate. */
export interface AuthenticatedAgent {
  agent: AttestedAgent;
  serialHex: string;
}

/** Options of {@link IdentityService}. */
export interface IdentityServiceOptions {
  config: ServerConfig;
  store: DataStore;
  ca: CaManager;
  attestors: NodeAttestor[];
  /** clock in ms since the epoch */
  now?: () => number;
}

/** Events: `revision` with `{ entryRevision, bundleSequence }` after any entry/agent/bundle change. */
export class IdentityService extends EventEmitter {
  readonly config: ServerConfig;
  readonly td: TrustDomain;
  readonly store: DataStore;
  readonly ca: CaManager;
  readonly index: EntryIndex;
  readonly #attestors: Map<string, NodeAttestor>;
  readonly #now: () => number;
  /** what the running daemon bound (filled by IdentityServer.start; reported by healthcheck) */
  readonly listening: { agentApiPort?: number; bundleEndpointPort?: number; metricsPort?: number } = {};
  /** counters for metrics */
  readonly stats = { x509SvidsSigned: 0, jwtSvidsSigned: 0, attestations: 0 };

  constructor(o: IdentityServiceOptions) {
    super();
    this.config = o.config;
    this.td = o.config.trustDomain;
    this.store = o.store;
    this.ca = o.ca;
    this.#now = o.now ?? Date.now;
    this.index = new EntryIndex(this.td, o.store.listEntries());
    // After a restart nothing is known about what changed before: the first sync of each agent is full.
    this.index.nodeEntriesChangedAt = o.store.currentChangeSeq();
    this.#attestors = new Map(o.attestors.map((a) => [a.type, a]));
  }

  nowSeconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  /** Current `{ entryRevision, bundleSequence }`. */
  revisions(): { entryRevision: number; bundleSequence: number } {
    return {
      entryRevision: this.store.currentChangeSeq(),
      bundleSequence: this.store.getBundle(this.td.idString())?.sequence ?? 0,
    };
  }

  /** Tells watchers (WatchRevisions streams) that something changed. */
  notifyChanged(): void {
    this.emit('revision', this.revisions());
  }

  // ---- registration entries -------------------------------------------------------------------

  #bundleExists = (tdId: string): boolean => this.store.getBundle(tdId) !== undefined;

  /**
   * Creates entries (SPIRE BatchCreateEntry); each result carries its own status. The batch is one
   * transaction (each entry a savepoint), so results are returned only once all of them are durable.
   */
  createEntries(inputs: EntryInput[]): BatchResult<EntryMessage>[] {
    return this.#writeBatch(inputs, (input) => {
      const { id, fields } = validateEntryInput(input, this.td, this.#bundleExists);
      return this.store.createEntry(id ?? randomUUID(), fields, this.nowSeconds());
    });
  }

  /** Updates entries by `id` (all fields replaced; revision + 1). */
  updateEntries(inputs: EntryInput[]): BatchResult<EntryMessage>[] {
    return this.#writeBatch(inputs, (input) => {
      if (!input?.id) throw new InvalidArgumentError('id', 'entry ID is required to update an entry');
      const { fields } = validateEntryInput(input, this.td, this.#bundleExists);
      return this.store.updateEntry(input.id, fields);
    });
  }

  #writeBatch(
    inputs: EntryInput[],
    write: (input: EntryInput) => RegistrationEntry,
  ): BatchResult<EntryMessage>[] {
    const written: RegistrationEntry[] = [];
    const out = this.store.transaction(() =>
      inputs.map((input) =>
        this.#batchItem(() => {
          const e = this.store.transaction(() => write(input));
          written.push(e);
          return entryToMessage(e);
        }),
      ),
    );
    for (const e of written) this.index.put(e);
    this.notifyChanged();
    return out;
  }

  /** Deletes entries by ID. */
  deleteEntries(ids: string[]): BatchResult<{ id: string }>[] {
    const out = ids.map((id, i) =>
      this.#batchItem(() => {
        if (typeof id !== 'string') throw new InvalidArgumentError(`ids[${i}]`, 'entry ID must be a string');
        this.store.deleteEntry(id);
        this.index.delete(id, this.store.currentChangeSeq());
        return { id };
      }),
    );
    this.notifyChanged();
    return out;
  }

  #batchItem<T>(fn: () => T): BatchResult<T> {
    try {
      return { status: { code: 0, message: 'OK' }, value: fn() };
    } catch (err) {
      if (!(err instanceof ServerError)) throw err;
      return { status: toStatus(err) };
    }
  }

  /** Entries matching `filter`, sorted by SPIFFE ID then entry ID. */
  listEntries(filter: EntryFilter = {}): EntryMessage[] {
    const out: RegistrationEntry[] = [];
    const selectorSet = (e: RegistrationEntry): Set<string> =>
      new Set(e.selectors.map((s) => `${s.type}:${s.value}`));
    for (const e of this.index.all()) {
      if (filter.entry_id && e.id !== filter.entry_id) continue;
      if (filter.spiffe_id && e.spiffeId !== filter.spiffe_id) continue;
      if (filter.parent_id && e.parentId !== filter.parent_id) continue;
      if (filter.downstream !== undefined && e.downstream !== filter.downstream) continue;
      if (filter.selectors?.length && !selectorsSubset(filter.selectors, selectorSet(e))) continue;
      if (
        filter.federates_with?.length &&
        !filter.federates_with.every((f) => e.federatesWith.includes(TrustDomain.parse(f).idString()))
      ) {
        continue;
      }
      out.push(e);
    }
    if (filter.entry_id && out.length === 0) throw new NotFoundError(`entry ID ${filter.entry_id} not found`);
    out.sort((a, b) => a.spiffeId.localeCompare(b.spiffeId) || a.id.localeCompare(b.id));
    return out.map(entryToMessage);
  }

  /** Removes entries whose `expires_at` passed (SPIRE prunes registration entries). Returns the count. */
  pruneExpiredEntries(): number {
    const now = this.nowSeconds();
    const expired = [...this.index.all()]
      .filter((e) => e.expiresAt !== 0 && e.expiresAt <= now)
      .map((e) => e.id);
    if (expired.length > 0) this.deleteEntries(expired);
    return expired.length;
  }

  // ---- agents and join tokens -----------------------------------------------------------------

  #agentInfo(a: AttestedAgent): AgentInfo {
    return {
      spiffe_id: a.spiffeId,
      attestation_type: a.attestationType,
      selectors: a.selectors,
      serial_number: a.serialNumber ? BigInt(`0x${a.serialNumber}`).toString(10) : '',
      expires_at: a.expiresAt,
      banned: a.banned,
      can_reattest: a.canReattest,
    };
  }

  listAgents(
    filter: { attestation_type?: string; banned?: boolean; selectors?: Selector[] } = {},
  ): AgentInfo[] {
    return this.store
      .listAgents()
      .filter((a) => !filter.attestation_type || a.attestationType === filter.attestation_type)
      .filter((a) => filter.banned === undefined || a.banned === filter.banned)
      .filter(
        (a) =>
          !filter.selectors?.length ||
          selectorsSubset(filter.selectors, new Set(a.selectors.map((s) => `${s.type}:${s.value}`))),
      )
      .map((a) => this.#agentInfo(a));
  }

  getAgent(spiffeId: string): AgentInfo {
    const a = this.store.getAgent(this.#agentIdArg(spiffeId));
    if (!a) throw new NotFoundError(`agent ${spiffeId} not found`);
    return this.#agentInfo(a);
  }

  #agentIdArg(raw: string): string {
    const id = parseSpiffeIdArg('spiffe_id', raw);
    if (!id.memberOf(this.td) || !id.path.startsWith('/spire/agent/')) {
      throw new InvalidArgumentError(
        'spiffe_id',
        `${raw} is not an agent ID of trust domain ${this.td.name}`,
      );
    }
    return id.toString();
  }

  /** Deletes the agent record; the agent must attest again (SPIRE `agent evict`). */
  evictAgent(spiffeId: string): void {
    if (!this.store.deleteAgent(this.#agentIdArg(spiffeId)))
      throw new NotFoundError(`agent ${spiffeId} not found`);
    this.notifyChanged();
  }

  /** Bans the agent: its SVID stops working and it can't attest again with the same ID (`agent ban`). */
  banAgent(spiffeId: string): void {
    const a = this.store.getAgent(this.#agentIdArg(spiffeId));
    if (!a) throw new NotFoundError(`agent ${spiffeId} not found`);
    this.store.putAgent({ ...a, banned: true, serialNumber: '', newSerialNumber: '' });
    this.notifyChanged();
  }

  /**
   * Creates a join token (UUIDv4, `ttlSeconds` default 600). With `spiffeId`, also creates the alias
   * entry SPIRE creates: parent = the token's agent ID, selector `spiffe_id:<agent ID>`.
   */
  generateJoinToken(o: { spiffe_id?: string; ttl?: number }): { token: string; expires_at: number } {
    const ttl = o.ttl ?? 600;
    if (!Number.isInteger(ttl) || ttl <= 0 || ttl > 2 ** 31 - 1)
      throw new InvalidArgumentError(
        'ttl',
        `must be a positive integer number of seconds ≤ ${2 ** 31 - 1}, got ${JSON.stringify(o.ttl)}`,
      );
    const token = randomUUID();
    const expiresAt = this.nowSeconds() + ttl;
    if (o.spiffe_id) {
      const agentId = `${this.td.idString()}/spire/agent/join_token/${token}`;
      const [r] = this.createEntries([
        { spiffe_id: o.spiffe_id, parent_id: agentId, selectors: [{ type: 'spiffe_id', value: agentId }] },
      ]);
      if (r && r.status.code !== 0) throw new InvalidArgumentError('spiffe_id', r.status.message);
    }
    this.store.createJoinToken(token, expiresAt);
    return { token, expires_at: expiresAt };
  }

  // ---- bundles --------------------------------------------------------------------------------

  /** The own trust domain's bundle. */
  ownBundle(): StoredBundle {
    const b = this.store.getBundle(this.td.idString());
    if (!b) throw new NotFoundError('bundle of the server trust domain not found');
    return b;
  }

  /** Own bundle roots as X509Certificates. */
  ownRoots(): X509Certificate[] {
    return SpiffeBundle.parse(this.td, this.ownBundle().json).x509.authorities();
  }

  listBundles(id?: string): StoredBundle[] {
    if (id) {
      const tdId = this.#tdArg(id);
      const b = this.store.getBundle(tdId);
      if (!b) throw new NotFoundError(`no bundle for ${tdId}`);
      return [b];
    }
    return this.store.listBundles();
  }

  #tdArg(raw: string): string {
    try {
      return TrustDomain.parse(raw).idString();
    } catch (err) {
      throw new InvalidArgumentError(
        'id',
        `invalid trust domain ${JSON.stringify(raw)}: ${(err as Error).message}`,
      );
    }
  }

  /** Stores a federated bundle given as PEM (`format` pem) or SPIFFE bundle JSON. Not the own TD. */
  setFederatedBundle(o: { id: string; data: string; format?: 'pem' | 'spiffe' }): StoredBundle {
    const tdId = this.#tdArg(o.id);
    const td = TrustDomain.parse(tdId);
    if (td.equals(this.td))
      throw new InvalidArgumentError(
        'id',
        `cannot set the bundle of the server's own trust domain ${this.td.name}`,
      );
    let json: string;
    let sequence: number;
    try {
      if ((o.format ?? 'pem') === 'pem') {
        const certs = parseCertificates(o.data);
        if (certs.length === 0) throw new Error('no certificates found');
        const prev = this.store.getBundle(tdId);
        sequence = (prev?.sequence ?? 0) + 1;
        json = JSON.stringify(
          {
            spiffe_sequence: sequence,
            keys: certs.map((c) => ({
              use: 'x509-svid',
              ...c.publicKey.export({ format: 'jwk' }),
              x5c: [c.raw.toString('base64')],
            })),
          },
          null,
          4,
        );
        X509Bundle.parse(td, o.data);
      } else {
        const b = SpiffeBundle.parse(td, o.data);
        sequence = b.sequence ?? (this.store.getBundle(tdId)?.sequence ?? 0) + 1;
        json = o.data;
      }
    } catch (err) {
      throw new InvalidArgumentError(
        'bundle',
        `cannot parse ${o.format ?? 'pem'} bundle for ${tdId}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const stored = { trustDomainId: tdId, json, sequence };
    this.store.putBundle(stored);
    this.notifyChanged();
    return stored;
  }

  /** Deletes a federated bundle (`-mode restrict`: refused while entries federate with it). */
  deleteFederatedBundle(o: { id: string; mode?: 'restrict' | 'delete' | 'dissociate' }): void {
    const tdId = this.#tdArg(o.id);
    if (tdId === this.td.idString())
      throw new InvalidArgumentError('id', 'cannot delete the bundle of the server trust domain');
    const users = [...this.index.all()].filter((e) => e.federatesWith.includes(tdId));
    const mode = o.mode ?? 'restrict';
    if (users.length > 0 && mode === 'restrict') {
      throw new InvalidArgumentError(
        'mode',
        `${users.length} registration entries federate with ${tdId}; use -mode delete or dissociate`,
      );
    }
    if (!this.store.getBundle(tdId)) throw new NotFoundError(`no bundle for ${tdId}`);
    this.store.transaction(() => {
      for (const e of users) {
        if (mode === 'delete') {
          this.store.deleteEntry(e.id);
          this.index.delete(e.id, this.store.currentChangeSeq());
        } else {
          const { id: _id, revisionNumber: _r, createdAt: _c, changeSeq: _s, ...fields } = e;
          this.index.put(
            this.store.updateEntry(e.id, {
              ...fields,
              federatesWith: e.federatesWith.filter((f) => f !== tdId),
            }),
          );
        }
      }
      this.store.deleteBundle(tdId);
    });
    this.notifyChanged();
  }

  // ---- minting (admin) ------------------------------------------------------------------------

  /** `x509 mint`: signs `csr` (PKCS#10 DER) for `spiffe_id`; TTL default `default_x509_svid_ttl`. */
  async mintX509(o: { spiffe_id: string; csr: Buffer; ttl?: number; dns_names?: string[] }): Promise<{
    cert_chain: Buffer[];
    expires_at: number;
    capped: boolean;
  }> {
    const spiffeId = parseIdInTd('spiffe_id', o.spiffe_id, this.td);
    const { publicKeyDer } = await this.#parseCsrField('csr', o.csr);
    const ttl = o.ttl || this.config.defaultX509SvidTtlSeconds;
    const r = this.ca.signX509Svid({
      spiffeId,
      publicKey: publicKeyDer,
      ttlSeconds: ttl,
      dnsNames: o.dns_names,
    });
    this.stats.x509SvidsSigned++;
    return { cert_chain: r.certChainDer, expires_at: r.expiresAt, capped: r.capped };
  }

  /** `jwt mint`: a JWT-SVID for `spiffe_id` and `audience` (≥ 1). */
  async mintJwt(o: {
    spiffe_id: string;
    audience: string[];
    ttl?: number;
  }): Promise<{ token: string; expires_at: number }> {
    const spiffeId = parseIdInTd('spiffe_id', o.spiffe_id, this.td);
    if (
      !Array.isArray(o.audience) ||
      o.audience.length === 0 ||
      o.audience.some((a) => typeof a !== 'string' || a === '')
    ) {
      throw new InvalidArgumentError('audience', 'at least one non-empty audience is required');
    }
    const r = await this.ca.signJwtSvid({
      spiffeId,
      audience: o.audience,
      ttlSeconds: o.ttl || this.config.defaultJwtSvidTtlSeconds,
    });
    this.stats.jwtSvidsSigned++;
    return { token: r.token, expires_at: r.expiresAt };
  }

  /**
   * Parses and checks a CSR: self-signature valid, key EC P-256/P-384 or RSA ≥ 2048 bits.
   * Throws InvalidArgumentError naming `field`.
   */
  async #parseCsrField(
    field: string,
    der: unknown,
  ): Promise<{ publicKey: KeyObject; publicKeyDer: Buffer; uris: string[]; dnsNames: string[] }> {
    if (!Buffer.isBuffer(der) && !(der instanceof Uint8Array))
      throw new InvalidArgumentError(field, 'CSR is required');
    if (der.length === 0) throw new InvalidArgumentError(field, 'CSR is empty');
    let csr: { publicKey: KeyObject; publicKeyDer: Buffer; uris: string[]; dnsNames: string[] };
    try {
      csr = await parseCsr(der);
    } catch (err) {
      throw new InvalidArgumentError(field, `malformed CSR: ${(err as Error).message}`, { cause: err });
    }
    const k = csr.publicKey;
    const d = k.asymmetricKeyDetails ?? {};
    const ok =
      (k.asymmetricKeyType === 'ec' && (d.namedCurve === 'prime256v1' || d.namedCurve === 'secp384r1')) ||
      (k.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048);
    if (!ok) {
      const what =
        k.asymmetricKeyType === 'ec'
          ? `ec ${d.namedCurve}`
          : `${k.asymmetricKeyType}${d.modulusLength ? `-${d.modulusLength}` : ''}`;
      throw new InvalidArgumentError(
        field,
        `unsupported CSR key type ${what} (want ec-p256, ec-p384 or rsa ≥ 2048)`,
      );
    }
    return csr;
  }

  // ---- agent API ------------------------------------------------------------------------------

  /**
   * Node attestation (agent.proto AttestAgent): verifies the evidence, records the agent, signs the
   * agent SVID for the CSR's key (TTL `agent_ttl`). Errors: InvalidArgument (unknown type,
   * malformed evidence/CSR), PermissionDenied (refused evidence, banned agent).
   */
  async attestAgent(o: { attestation_type: string; payload: Buffer; csr: Buffer }): Promise<{
    spiffe_id: string;
    cert_chain: Buffer[];
    expires_at: number;
    selectors: Selector[];
  }> {
    const attestor = this.#attestors.get(o.attestation_type);
    if (!attestor) {
      throw new InvalidArgumentError(
        'attestation_type',
        `unsupported attestation type ${JSON.stringify(o.attestation_type)} (configured: ${[...this.#attestors.keys()].join(', ')})`,
      );
    }
    const { publicKeyDer } = await this.#parseCsrField('csr', o.csr);
    const result: AttestationResult = await attestor.attest(Buffer.from(o.payload ?? []));
    const existing = this.store.getAgent(result.agentId);
    if (existing?.banned) throw new PermissionDeniedError(`agent ${result.agentId} is banned`);
    const agentId = SpiffeId.parse(result.agentId);
    const svid = this.ca.signX509Svid({
      spiffeId: agentId,
      publicKey: publicKeyDer,
      ttlSeconds: this.config.agentTtlSeconds,
    });
    this.store.putAgent({
      spiffeId: result.agentId,
      attestationType: attestor.type,
      selectors: result.selectors,
      serialNumber: svid.serialHex,
      newSerialNumber: '',
      expiresAt: svid.expiresAt,
      banned: false,
      canReattest: result.canReattest,
      createdAt: existing?.createdAt ?? this.nowSeconds(),
    });
    this.stats.attestations++;
    this.stats.x509SvidsSigned++;
    this.notifyChanged();
    return {
      spiffe_id: result.agentId,
      cert_chain: svid.certChainDer,
      expires_at: svid.expiresAt,
      selectors: result.selectors,
    };
  }

  /**
   * Authenticates an agent from its TLS client certificate (DER leaf): verifies it as an X509-SVID
   * against our own bundle, then requires an attested, unbanned agent whose current (or just renewed)
   * serial number matches. Throws Unauthenticated / PermissionDenied.
   */
  authenticateAgent(leafDer: Buffer | undefined): AuthenticatedAgent {
    if (!leafDer || leafDer.length === 0)
      throw new UnauthenticatedError('an agent X509-SVID client certificate is required');
    let leaf: X509Certificate;
    try {
      [leaf] = parseCertificates(leafDer) as [X509Certificate];
    } catch (err) {
      throw new UnauthenticatedError('client certificate is malformed', { cause: err });
    }
    const { issuers, bundle } = this.#verificationMaterial();
    const issuer = issuers.find((c) => leaf.checkIssued(c) && leaf.verify(c.publicKey));
    const chain = issuer && this.config.upstreamAuthority ? [leaf, issuer] : [leaf];
    let spiffeId: SpiffeId;
    try {
      ({ spiffeId } = verifyX509Svid(chain, bundle, { now: new Date(this.#now()) }));
    } catch (err) {
      throw new UnauthenticatedError(
        `client certificate is not a valid X509-SVID of ${this.td.name}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const id = spiffeId.toString();
    if (!id.startsWith(`${this.td.idString()}/spire/agent/`))
      throw new PermissionDeniedError(`${id} is not an agent ID`);
    const agent = this.store.getAgent(id);
    if (!agent) throw new PermissionDeniedError(`agent ${id} is not attested (evicted?); attest again`);
    // Keep this wording: the agent recognizes a ban by it and then does not attest again (manager.ts).
    if (agent.banned) throw new PermissionDeniedError(`agent ${id} is banned`);
    const leafSerial = serialHex(leaf.serialNumber);
    if (leafSerial === agent.newSerialNumber) {
      // First call with a renewed SVID: it becomes the current one, the old one stops working.
      return {
        agent: this.store.putAgent({ ...agent, serialNumber: leafSerial, newSerialNumber: '' }),
        serialHex: leafSerial,
      };
    }
    if (leafSerial !== agent.serialNumber)
      throw new PermissionDeniedError(
        `agent ${id}: SVID serial ${leafSerial} is not the agent's active SVID`,
      );
    return { agent, serialHex: leafSerial };
  }

  #verification: { sequence: number; issuers: X509Certificate[]; bundle: X509Bundle } | undefined;

  /** Our CA certificates and bundle, parsed once per bundle sequence (parsing certificates is costly). */
  #verificationMaterial(): { issuers: X509Certificate[]; bundle: X509Bundle } {
    const sequence = this.ownBundle().sequence;
    if (this.#verification?.sequence !== sequence) {
      this.#verification = {
        sequence,
        issuers: this.ca.slots().map((s) => parseCertificates(s.certDer)[0]!),
        bundle: new X509Bundle(this.td, this.ownRoots()),
      };
    }
    return this.#verification;
  }

  /** RenewAgent: a new agent SVID for the CSR's key (the ID stays). */
  async renewAgent(
    caller: AuthenticatedAgent,
    csr: Buffer,
  ): Promise<{ spiffe_id: string; cert_chain: Buffer[]; expires_at: number }> {
    const { publicKeyDer } = await this.#parseCsrField('csr', csr);
    const svid = this.ca.signX509Svid({
      spiffeId: SpiffeId.parse(caller.agent.spiffeId),
      publicKey: publicKeyDer,
      ttlSeconds: this.config.agentTtlSeconds,
    });
    this.store.putAgent({ ...caller.agent, newSerialNumber: svid.serialHex, expiresAt: svid.expiresAt });
    this.stats.x509SvidsSigned++;
    return { spiffe_id: caller.agent.spiffeId, cert_chain: svid.certChainDer, expires_at: svid.expiresAt };
  }

  /**
   * SyncAuthorizedEntries: entries authorized for the caller changed after `since_revision`, plus
   * removed IDs; `full` when the answer is the complete set (first sync, aliases or agent changed).
   * Paged by entry ID; the page token pins the revision and the mode of the first page.
   */
  syncAuthorizedEntries(
    caller: AuthenticatedAgent,
    req: { since_revision?: number; page_token?: string; page_size?: number },
  ): {
    entries: EntryMessage[];
    removed_entry_ids: string[];
    revision: number;
    next_page_token: string;
    full: boolean;
  } {
    const pageSize = Math.min(
      req.page_size && req.page_size > 0 ? req.page_size : SYNC_PAGE_SIZE_DEFAULT,
      SYNC_PAGE_SIZE_MAX,
    );
    let since = Math.max(0, req.since_revision ?? 0);
    let revision: number;
    let full: boolean;
    let after = '';
    if (req.page_token) {
      try {
        const t = JSON.parse(Buffer.from(req.page_token, 'base64url').toString('utf8')) as {
          r: number;
          s: number;
          f: boolean;
          a: string;
        };
        if (typeof t.r !== 'number' || typeof t.s !== 'number' || typeof t.a !== 'string')
          throw new Error('bad token');
        ({ r: revision, s: since, f: full, a: after } = t);
      } catch {
        throw new InvalidArgumentError('page_token', 'malformed page token');
      }
    } else {
      revision = this.store.currentChangeSeq();
      full = since === 0 || since > revision || this.index.nodeEntriesChangedAt > since;
    }
    const authorized = this.index.authorizedFor(
      caller.agent.spiffeId,
      caller.agent.selectors,
      this.nowSeconds(),
    );
    // `authorized` is sorted by entry ID: start after the last ID the previous page ended with.
    let lo = 0;
    for (let hi = authorized.length; lo < hi;) {
      const mid = (lo + hi) >>> 1;
      if (authorized[mid]!.id <= after) lo = mid + 1;
      else hi = mid;
    }
    const page: RegistrationEntry[] = [];
    let more = false;
    for (let i = lo; i < authorized.length; i++) {
      const e = authorized[i]!;
      if (!full && e.changeSeq <= since) continue;
      if (page.length === pageSize) {
        more = true;
        break;
      }
      page.push(e);
    }
    let removed: string[] = [];
    if (!full && !req.page_token) {
      const ids = new Set(authorized.map((e) => e.id));
      const changedElsewhere = [...this.index.all()]
        .filter((e) => e.changeSeq > since && !ids.has(e.id))
        .map((e) => e.id);
      removed = [...new Set([...this.store.listDeletedEntryIdsSince(since), ...changedElsewhere])];
    }
    return {
      entries: page.map(entryToMessage),
      removed_entry_ids: removed,
      revision,
      next_page_token: more
        ? Buffer.from(
            JSON.stringify({ r: revision, s: since, f: full, a: page[page.length - 1]!.id }),
          ).toString('base64url')
        : '',
      full,
    };
  }

  /** The entry if authorized for the caller, else PermissionDenied (no hint whether it exists). */
  #authorizedEntry(
    caller: AuthenticatedAgent,
    entryId: string,
    authorized?: Map<string, RegistrationEntry>,
  ): RegistrationEntry {
    const set =
      authorized ??
      new Map(
        this.index
          .authorizedFor(caller.agent.spiffeId, caller.agent.selectors, this.nowSeconds())
          .map((e) => [e.id, e]),
      );
    const e = set.get(entryId);
    if (!e)
      throw new PermissionDeniedError(
        `entry ${JSON.stringify(entryId)} does not exist or is not authorized for ${caller.agent.spiffeId}`,
      );
    return e;
  }

  /**
   * BatchNewX509Svid: one result per param, in order. The SPIFFE ID and DNS names come from the
   * entry; the CSR only supplies the key. A CSR naming other SANs is refused (InvalidArgument `csr`).
   */
  async batchNewX509Svid(
    caller: AuthenticatedAgent,
    params: { entry_id: string; csr: Buffer }[],
  ): Promise<
    BatchResult<{ entry_id: string; spiffe_id: string; cert_chain: Buffer[]; expires_at: number }>[]
  > {
    const authorized = new Map(
      this.index
        .authorizedFor(caller.agent.spiffeId, caller.agent.selectors, this.nowSeconds())
        .map((e) => [e.id, e]),
    );
    const out: BatchResult<{
      entry_id: string;
      spiffe_id: string;
      cert_chain: Buffer[];
      expires_at: number;
    }>[] = [];
    for (const [i, p] of (params ?? []).entries()) {
      try {
        if (!p?.entry_id) throw new InvalidArgumentError(`params[${i}].entry_id`, 'entry ID is required');
        const e = this.#authorizedEntry(caller, p.entry_id, authorized);
        const csr = await this.#parseCsrField(`params[${i}].csr`, p.csr);
        const extraUri = csr.uris.find((u) => u !== e.spiffeId);
        if (extraUri)
          throw new InvalidArgumentError(
            `params[${i}].csr`,
            `URI SAN ${extraUri} does not match the entry's SPIFFE ID ${e.spiffeId}`,
          );
        const extraDns = csr.dnsNames.find((d) => !e.dnsNames.includes(d));
        if (extraDns)
          throw new InvalidArgumentError(
            `params[${i}].csr`,
            `DNS SAN ${extraDns} is not among the entry's DNS names`,
          );
        const svid = this.ca.signX509Svid({
          spiffeId: SpiffeId.parse(e.spiffeId),
          publicKey: csr.publicKeyDer,
          ttlSeconds: e.x509SvidTtlSeconds || this.config.defaultX509SvidTtlSeconds,
          dnsNames: e.dnsNames,
        });
        this.stats.x509SvidsSigned++;
        out.push({
          status: { code: 0, message: 'OK' },
          value: {
            entry_id: e.id,
            spiffe_id: e.spiffeId,
            cert_chain: svid.certChainDer,
            expires_at: svid.expiresAt,
          },
        });
      } catch (err) {
        if (!(err instanceof ServerError)) throw err;
        out.push({
          status: toStatus(err),
          value: { entry_id: p?.entry_id ?? '', spiffe_id: '', cert_chain: [], expires_at: 0 },
        });
      }
    }
    return out;
  }

  /** NewJwtSvid for an authorized entry (TTL entry `jwt_svid_ttl` → `default_jwt_svid_ttl`). */
  async newJwtSvid(
    caller: AuthenticatedAgent,
    o: { entry_id: string; audience: string[] },
  ): Promise<{ spiffe_id: string; token: string; expires_at: number }> {
    const e = this.#authorizedEntry(caller, o.entry_id);
    const r = await this.mintJwt({ spiffe_id: e.spiffeId, audience: o.audience, ttl: e.jwtSvidTtlSeconds });
    return { spiffe_id: e.spiffeId, ...r };
  }

  /** GetBundles: own bundle + federated bundles named by the caller's authorized entries. */
  getBundlesFor(caller: AuthenticatedAgent): {
    bundle: Buffer;
    federated_bundles: Record<string, Buffer>;
    sequence: number;
  } {
    const own = this.ownBundle();
    const wanted = new Set<string>();
    for (const e of this.index.authorizedFor(
      caller.agent.spiffeId,
      caller.agent.selectors,
      this.nowSeconds(),
    )) {
      for (const f of e.federatesWith) wanted.add(f);
    }
    const federated: Record<string, Buffer> = {};
    for (const tdId of wanted) {
      const b = this.store.getBundle(tdId);
      if (b) federated[tdId] = Buffer.from(b.json);
    }
    return { bundle: Buffer.from(own.json), federated_bundles: federated, sequence: own.sequence };
  }

  /** The server's own SPIFFE ID (`spiffe://<td>/spire/server`). */
  serverId(): SpiffeId {
    return SpiffeId.parse(serverSpiffeId(this.td));
  }
}
