/**
 * The SQLite datastore (better-sqlite3): WAL journal, `synchronous=NORMAL` (a committed transaction
 * survives the process being killed; only an OS crash may lose the last ones), versioned schema
 * migrations tracked in `PRAGMA user_version`, and an exclusive lock on `<data_dir>/server.lock` so a
 * second server on the same data directory refuses to start (the kernel drops the lock when the
 * holder dies, even on `kill -9`).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { AlreadyExistsError, DataDirLockedError, DataStoreError, NotFoundError } from '../errors.js';
import type {
  AttestedAgent,
  CaSlot,
  DataStore,
  EntryFields,
  RegistrationEntry,
  Selector,
  StoredBundle,
} from './types.js';

/** Schema migrations; index + 1 = `user_version` after it runs. Append only. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT INTO meta (key, value) VALUES ('change_seq', 0);
   CREATE TABLE entries (
     id TEXT PRIMARY KEY,
     spiffe_id TEXT NOT NULL,
     parent_id TEXT NOT NULL,
     selectors_key TEXT NOT NULL,
     data TEXT NOT NULL,
     revision_number INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     change_seq INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX entries_similar ON entries (spiffe_id, parent_id, selectors_key);
   CREATE INDEX entries_parent ON entries (parent_id);
   CREATE TABLE deleted_entries (entry_id TEXT NOT NULL, change_seq INTEGER NOT NULL);
   CREATE INDEX deleted_entries_seq ON deleted_entries (change_seq);
   CREATE TABLE agents (
     spiffe_id TEXT PRIMARY KEY,
     attestation_type TEXT NOT NULL,
     selectors TEXT NOT NULL,
     serial_number TEXT NOT NULL,
     new_serial_number TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     banned INTEGER NOT NULL,
     can_reattest INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     change_seq INTEGER NOT NULL
   );
   CREATE TABLE join_tokens (token TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
   CREATE TABLE bundles (trust_domain_id TEXT PRIMARY KEY, json TEXT NOT NULL, sequence INTEGER NOT NULL);
   CREATE TABLE ca_journal (position INTEGER PRIMARY KEY, data TEXT NOT NULL);`,
];

/** Canonical selector set key: sorted, de-duplicated `type:value` lines. */
export function selectorsKey(selectors: readonly Selector[]): string {
  return [...new Set(selectors.map((s) => `${s.type}:${s.value}`))].sort().join('\n');
}

interface EntryRow {
  id: string;
  data: string;
  revision_number: number;
  created_at: number;
  change_seq: number;
}

interface AgentRow {
  spiffe_id: string;
  attestation_type: string;
  selectors: string;
  serial_number: string;
  new_serial_number: string;
  expires_at: number;
  banned: number;
  can_reattest: number;
  created_at: number;
  change_seq: number;
}

function entryFromRow(r: EntryRow): RegistrationEntry {
  const f = JSON.parse(r.data) as EntryFields;
  return {
    ...f,
    id: r.id,
    revisionNumber: r.revision_number,
    createdAt: r.created_at,
    changeSeq: r.change_seq,
  };
}

function agentFromRow(r: AgentRow): AttestedAgent {
  return {
    spiffeId: r.spiffe_id,
    attestationType: r.attestation_type,
    selectors: JSON.parse(r.selectors) as Selector[],
    serialNumber: r.serial_number,
    newSerialNumber: r.new_serial_number,
    expiresAt: r.expires_at,
    banned: r.banned !== 0,
    canReattest: r.can_reattest !== 0,
    createdAt: r.created_at,
    changeSeq: r.change_seq,
  };
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}

/**
 * Opens (creating if needed) the datastore. `dataDir` is locked for this process's lifetime.
 * Throws DataDirLockedError when another server holds `dataDir`, DataStoreError when the database
 * can't be opened or migrated (e.g. written by a newer version).
 */
export function openSqliteDataStore(o: { dataDir: string; databasePath: string }): DataStore {
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(dirname(o.databasePath), { recursive: true, mode: 0o700 });
  const lockPath = join(o.dataDir, 'server.lock');
  const pidPath = join(o.dataDir, 'server.pid');
  const lock = new Database(lockPath, { timeout: 0 });
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER); COMMIT;');
  } catch (err) {
    lock.close();
    if (isBusy(err)) {
      let pid: number | undefined;
      try {
        pid = Number(readFileSync(pidPath, 'utf8').trim()) || undefined;
      } catch {
        pid = undefined;
      }
      throw new DataDirLockedError(o.dataDir, pid);
    }
    throw new DataStoreError(`cannot lock ${lockPath}: ${(err as Error).message}`, { cause: err });
  }
  writeFileSync(pidPath, `${process.pid}\n`);

  let db: Database.Database;
  try {
    db = new Database(o.databasePath, { timeout: 0 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('locking_mode = EXCLUSIVE');
    migrate(db);
  } catch (err) {
    lock.close();
    if (err instanceof DataStoreError) throw err;
    if (isBusy(err)) throw new DataDirLockedError(dirname(o.databasePath), undefined);
    throw new DataStoreError(`cannot open ${o.databasePath}: ${(err as Error).message}`, { cause: err });
  }
  return new SqliteDataStore(db, lock);
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new DataStoreError(
      `schema version ${version} is newer than this server knows (${MIGRATIONS.length})`,
    );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

class SqliteDataStore implements DataStore {
  readonly #db: Database.Database;
  readonly #lock: Database.Database;
  readonly #s;

  constructor(db: Database.Database, lock: Database.Database) {
    this.#db = db;
    this.#lock = lock;
    this.#s = {
      bumpSeq: db
        .prepare(`UPDATE meta SET value = value + 1 WHERE key = 'change_seq' RETURNING value`)
        .pluck(),
      seq: db.prepare(`SELECT value FROM meta WHERE key = 'change_seq'`).pluck(),
      insertEntry: db.prepare(
        `INSERT INTO entries (id, spiffe_id, parent_id, selectors_key, data, revision_number, created_at, change_seq)
         VALUES (@id, @spiffe_id, @parent_id, @selectors_key, @data, 0, @created_at, @change_seq)`,
      ),
      updateEntry: db.prepare(
        `UPDATE entries SET spiffe_id = @spiffe_id, parent_id = @parent_id, selectors_key = @selectors_key,
           data = @data, revision_number = revision_number + 1, change_seq = @change_seq WHERE id = @id`,
      ),
      getEntry: db.prepare(`SELECT * FROM entries WHERE id = ?`),
      entryRevision: db.prepare(`SELECT revision_number, created_at FROM entries WHERE id = ?`),
      similarEntry: db
        .prepare(`SELECT id FROM entries WHERE spiffe_id = ? AND parent_id = ? AND selectors_key = ?`)
        .pluck(),
      listEntries: db.prepare(`SELECT * FROM entries ORDER BY id`),
      deleteEntry: db.prepare(`DELETE FROM entries WHERE id = ?`),
      tombstone: db.prepare(`INSERT INTO deleted_entries (entry_id, change_seq) VALUES (?, ?)`),
      deletedSince: db
        .prepare(`SELECT entry_id FROM deleted_entries WHERE change_seq > ? ORDER BY change_seq`)
        .pluck(),
      getAgent: db.prepare(`SELECT * FROM agents WHERE spiffe_id = ?`),
      listAgents: db.prepare(`SELECT * FROM agents ORDER BY spiffe_id`),
      putAgent: db.prepare(
        `INSERT OR REPLACE INTO agents (spiffe_id, attestation_type, selectors, serial_number, new_serial_number,
           expires_at, banned, can_reattest, created_at, change_seq)
         VALUES (@spiffe_id, @attestation_type, @selectors, @serial_number, @new_serial_number,
           @expires_at, @banned, @can_reattest, @created_at, @change_seq)`,
      ),
      deleteAgent: db.prepare(`DELETE FROM agents WHERE spiffe_id = ?`),
      insertToken: db.prepare(`INSERT INTO join_tokens (token, expires_at) VALUES (?, ?)`),
      consumeToken: db.prepare(`DELETE FROM join_tokens WHERE token = ? RETURNING expires_at`).pluck(),
      pruneTokens: db.prepare(`DELETE FROM join_tokens WHERE expires_at < ?`),
      getBundle: db.prepare(`SELECT * FROM bundles WHERE trust_domain_id = ?`),
      listBundles: db.prepare(`SELECT * FROM bundles ORDER BY trust_domain_id`),
      putBundle: db.prepare(
        `INSERT OR REPLACE INTO bundles (trust_domain_id, json, sequence) VALUES (@trust_domain_id, @json, @sequence)`,
      ),
      deleteBundle: db.prepare(`DELETE FROM bundles WHERE trust_domain_id = ?`),
      loadJournal: db.prepare(`SELECT data FROM ca_journal ORDER BY position`).pluck(),
      clearJournal: db.prepare(`DELETE FROM ca_journal`),
      insertJournal: db.prepare(`INSERT INTO ca_journal (position, data) VALUES (?, ?)`),
    };
  }

  #run<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof AlreadyExistsError || err instanceof NotFoundError || err instanceof DataStoreError)
        throw err;
      throw new DataStoreError(`${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  #nextSeq(): number {
    return this.#s.bumpSeq.get() as number;
  }

  #entryParams(id: string, f: EntryFields, seq: number) {
    const selectors = [...f.selectors].sort((a, b) =>
      `${a.type}:${a.value}`.localeCompare(`${b.type}:${b.value}`),
    );
    const fields = { ...f, selectors };
    const row = {
      id,
      spiffe_id: f.spiffeId,
      parent_id: f.parentId,
      selectors_key: selectorsKey(f.selectors),
      data: JSON.stringify(fields),
      change_seq: seq,
    };
    return { row, fields };
  }

  #assertNotSimilar(f: EntryFields, exceptId?: string): void {
    const other = this.#s.similarEntry.get(f.spiffeId, f.parentId, selectorsKey(f.selectors)) as
      string | undefined;
    if (other !== undefined && other !== exceptId) {
      throw new AlreadyExistsError(`similar entry already exists (entry ID ${other})`);
    }
  }

  createEntry(id: string, fields: EntryFields, createdAt: number): RegistrationEntry {
    return this.#run('create entry', () =>
      this.transaction(() => {
        if (this.#s.entryRevision.get(id) !== undefined)
          throw new AlreadyExistsError(`entry ID ${id} already exists`);
        this.#assertNotSimilar(fields);
        const changeSeq = this.#nextSeq();
        const { row, fields: stored } = this.#entryParams(id, fields, changeSeq);
        this.#s.insertEntry.run({ ...row, created_at: createdAt });
        return { ...stored, id, revisionNumber: 0, createdAt, changeSeq };
      }),
    );
  }

  updateEntry(id: string, fields: EntryFields): RegistrationEntry {
    return this.#run('update entry', () =>
      this.transaction(() => {
        const old = this.#s.entryRevision.get(id) as
          { revision_number: number; created_at: number } | undefined;
        if (!old) throw new NotFoundError(`entry ID ${id} not found`);
        this.#assertNotSimilar(fields, id);
        const changeSeq = this.#nextSeq();
        const { row, fields: stored } = this.#entryParams(id, fields, changeSeq);
        this.#s.updateEntry.run(row);
        return {
          ...stored,
          id,
          revisionNumber: old.revision_number + 1,
          createdAt: old.created_at,
          changeSeq,
        };
      }),
    );
  }

  deleteEntry(id: string): RegistrationEntry {
    return this.#run('delete entry', () =>
      this.transaction(() => {
        const row = this.#s.getEntry.get(id) as EntryRow | undefined;
        if (!row) throw new NotFoundError(`entry ID ${id} not found`);
        this.#s.deleteEntry.run(id);
        this.#s.tombstone.run(id, this.#nextSeq());
        return entryFromRow(row);
      }),
    );
  }

  getEntry(id: string): RegistrationEntry | undefined {
    return this.#run('get entry', () => {
      const row = this.#s.getEntry.get(id) as EntryRow | undefined;
      return row && entryFromRow(row);
    });
  }

  listEntries(): RegistrationEntry[] {
    return this.#run('list entries', () => (this.#s.listEntries.all() as EntryRow[]).map(entryFromRow));
  }

  listDeletedEntryIdsSince(seq: number): string[] {
    return this.#run('list deleted entries', () => this.#s.deletedSince.all(seq) as string[]);
  }

  currentChangeSeq(): number {
    return this.#run('read change sequence', () => this.#s.seq.get() as number);
  }

  getAgent(spiffeId: string): AttestedAgent | undefined {
    return this.#run('get agent', () => {
      const row = this.#s.getAgent.get(spiffeId) as AgentRow | undefined;
      return row && agentFromRow(row);
    });
  }

  listAgents(): AttestedAgent[] {
    return this.#run('list agents', () => (this.#s.listAgents.all() as AgentRow[]).map(agentFromRow));
  }

  putAgent(a: Omit<AttestedAgent, 'changeSeq'>): AttestedAgent {
    return this.#run('put agent', () =>
      this.transaction(() => {
        const changeSeq = this.#nextSeq();
        this.#s.putAgent.run({
          spiffe_id: a.spiffeId,
          attestation_type: a.attestationType,
          selectors: JSON.stringify(a.selectors),
          serial_number: a.serialNumber,
          new_serial_number: a.newSerialNumber,
          expires_at: a.expiresAt,
          banned: a.banned ? 1 : 0,
          can_reattest: a.canReattest ? 1 : 0,
          created_at: a.createdAt,
          change_seq: changeSeq,
        });
        return { ...a, changeSeq };
      }),
    );
  }

  deleteAgent(spiffeId: string): boolean {
    return this.#run('delete agent', () =>
      this.transaction(() => {
        const n = this.#s.deleteAgent.run(spiffeId).changes;
        if (n > 0) this.#nextSeq();
        return n > 0;
      }),
    );
  }

  createJoinToken(token: string, expiresAt: number): void {
    this.#run('create join token', () => this.#s.insertToken.run(token, expiresAt));
  }

  consumeJoinToken(token: string): { expiresAt: number } | undefined {
    return this.#run('consume join token', () => {
      const expiresAt = this.#s.consumeToken.get(token) as number | undefined;
      return expiresAt === undefined ? undefined : { expiresAt };
    });
  }

  pruneJoinTokens(nowSeconds: number): number {
    return this.#run('prune join tokens', () => this.#s.pruneTokens.run(nowSeconds).changes);
  }

  getBundle(trustDomainId: string): StoredBundle | undefined {
    return this.#run('get bundle', () => {
      const r = this.#s.getBundle.get(trustDomainId) as
        { trust_domain_id: string; json: string; sequence: number } | undefined;
      return r && { trustDomainId: r.trust_domain_id, json: r.json, sequence: r.sequence };
    });
  }

  listBundles(): StoredBundle[] {
    return this.#run('list bundles', () =>
      (this.#s.listBundles.all() as { trust_domain_id: string; json: string; sequence: number }[]).map(
        (r) => ({
          trustDomainId: r.trust_domain_id,
          json: r.json,
          sequence: r.sequence,
        }),
      ),
    );
  }

  putBundle(b: StoredBundle): void {
    this.#run('put bundle', () =>
      this.#s.putBundle.run({ trust_domain_id: b.trustDomainId, json: b.json, sequence: b.sequence }),
    );
  }

  deleteBundle(trustDomainId: string): boolean {
    return this.#run('delete bundle', () => this.#s.deleteBundle.run(trustDomainId).changes > 0);
  }

  loadCaSlots(): CaSlot[] {
    return this.#run('load CA journal', () =>
      (this.#s.loadJournal.all() as string[]).map((s) => {
        const o = JSON.parse(s) as Record<string, unknown>;
        return {
          ...(o as unknown as CaSlot),
          certDer: Buffer.from(o['certDer'] as string, 'base64'),
          upstreamChainDer: (o['upstreamChainDer'] as string[]).map((d) => Buffer.from(d, 'base64')),
          jwtPublicKeyDer: Buffer.from(o['jwtPublicKeyDer'] as string, 'base64'),
        };
      }),
    );
  }

  saveCaSlots(slots: CaSlot[]): void {
    this.#run('save CA journal', () =>
      this.transaction(() => {
        this.#s.clearJournal.run();
        slots.forEach((s, i) =>
          this.#s.insertJournal.run(
            i,
            JSON.stringify({
              ...s,
              certDer: s.certDer.toString('base64'),
              upstreamChainDer: s.upstreamChainDer.map((d) => d.toString('base64')),
              jwtPublicKeyDer: s.jwtPublicKeyDer.toString('base64'),
            }),
          ),
        );
      }),
    );
  }

  close(): void {
    if (this.#db.open) this.#db.close();
    if (this.#lock.open) this.#lock.close();
  }
}
