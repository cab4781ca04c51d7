/**
 * The agent's side of the identity server API (SPIRE `pkg/agent/manager` + `pkg/agent/attestor/node`):
 * node attestation, agent-SVID renewal at half-life, entry sync (incremental by revision every
 * `syncIntervalMs` and at once on a WatchRevisions push), one fresh P-256 key + CSR per workload
 * SVID signed through BatchNewX509Svid, rotation at half-life ±10 %, bundle refresh, JWT-SVID
 * minting with a small cache.
 *
 * The server may go away: every failure is retried with exponential backoff while the cache keeps
 * serving what it has. PermissionDenied / Unauthenticated from the server (agent evicted or
 * unknown) and an expired agent SVID make the agent attest again. A banned agent does not attest
 * again (SPIRE's agent shuts down when banned, spiffe.md §g.4 `agent ban`): it keeps serving its
 * cache and retrying with its SVID until restarted, or until the server forgets it (`agent evict`
 * of the banned agent lifts the ban, as in SPIRE) and it is refused as unknown. Private keys stay
 * in memory.
 */
import type { X509Certificate, KeyObject } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  loadAgentApi,
  type AgentClient,
  type BatchNewX509SvidResponseMessage,
  type EntryMessage,
  type GetBundlesResponseMessage,
  type SyncAuthorizedEntriesResponseMessage,
} from '../api/index.js';
import {
  createCsr,
  generateKeyPair,
  SpiffeBundle,
  TrustDomain,
  certificatesToPem,
} from '../../spiffe/index.js';
import { certificateChain, type SvidCache, type CachedSvid, type CertificateChain } from './cache.js';
import type { NodeAttestor } from './node-attestors.js';
import { drawRotationJitter, rotationTimeMs, shouldRotate, type Validity } from './rotation.js';
import { Backoff } from './backoff.js';
import { AgentClosedError, NodeAttestationError, ServerCallError } from './errors.js';

/** Options of {@link AgentManager}. */
export interface AgentManagerOptions {
  /** `host:port` of the identity server's agent API */
  serverAddress: string;
  trustDomain: TrustDomain;
  /** CA certificates to verify the server with before the first bundle arrives (`trust_bundle_path`) */
  bootstrapRoots?: X509Certificate[];
  /** skip server verification until the first bundle (`insecure_bootstrap`); exclusive with bootstrapRoots */
  insecureBootstrap?: boolean;
  nodeAttestor: NodeAttestor;
  cache: SvidCache;
  log: Logger;
  /** wall clock, ms since the epoch (tests inject one) */
  now?: () => number;
  /** entry sync period (ms, default 5000) */
  syncIntervalMs?: number;
  /** per-call deadline (ms, default 10000) */
  callTimeoutMs?: number;
  /** retry backoff bounds (ms) */
  backoff?: { baseMs?: number; maxMs?: number };
  /** called once per rotated (re-issued) workload SVID, for metrics */
  onSvidRotated?: (spiffeId: string) => void;
}

/** The agent's own identity (from node attestation). */
interface AgentSvid extends CertificateChain {
  spiffeId: string;
  privateKey: KeyObject;
  jitter: number;
}

const GRPC_PERMISSION_DENIED = grpc.status.PERMISSION_DENIED;
const GRPC_UNAUTHENTICATED = grpc.status.UNAUTHENTICATED;
const MAX_BATCH = 256;

/**
 * Whether the server refused the agent's SVID because the agent is banned. The agent API carries no
 * typed reason (SPIRE puts one in the status details), so this keys on the identity server's wording
 * (`agent <ID> is banned`, service.ts), the one PermissionDenied that must not lead to attesting again.
 */
function isBanRefusal(err: ServerCallError): boolean {
  const details = (err.cause as grpc.ServiceError | undefined)?.details ?? '';
  return err.grpcCode === GRPC_PERMISSION_DENIED && / is banned$/.test(details);
}

/** See the module docstring. Start with {@link AgentManager.start}, stop with {@link AgentManager.close}. */
export class AgentManager {
  readonly #o: Required<Omit<AgentManagerOptions, 'bootstrapRoots' | 'onSvidRotated' | 'backoff'>> &
    Pick<AgentManagerOptions, 'onSvidRotated'>;
  readonly #log: Logger;
  readonly #cache: SvidCache;
  readonly #backoff: Backoff;
  #roots: X509Certificate[] | undefined;
  #agent: AgentSvid | undefined;
  #client: AgentClient | undefined;
  #watch: grpc.ClientReadableStream<unknown> | undefined;
  #revision = 0;
  #bundleSequence = -1;
  #jwtCache = new Map<string, { token: string; issuedAtMs: number; expiresAtMs: number }>();
  #closed = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #firstSync: { promise: Promise<void>; resolve: () => void };
  #lastSyncOkMs = 0;
  /** the server refused this agent's SVID as banned: attesting again is not allowed */
  #banned = false;

  constructor(options: AgentManagerOptions) {
    if (!options.insecureBootstrap && !options.bootstrapRoots?.length) {
      throw new NodeAttestationError('a trust bundle (trust_bundle_path) or insecure_bootstrap is required');
    }
    this.#o = {
      serverAddress: options.serverAddress,
      trustDomain: options.trustDomain,
      insecureBootstrap: options.insecureBootstrap ?? false,
      nodeAttestor: options.nodeAttestor,
      cache: options.cache,
      log: options.log,
      now: options.now ?? Date.now,
      syncIntervalMs: options.syncIntervalMs ?? 5000,
      callTimeoutMs: options.callTimeoutMs ?? 10_000,
      onSvidRotated: options.onSvidRotated,
    };
    this.#log = options.log;
    this.#cache = options.cache;
    this.#roots = options.bootstrapRoots;
    this.#backoff = new Backoff(options.backoff);
    let resolve!: () => void;
    this.#firstSync = { promise: new Promise<void>((r) => (resolve = r)), resolve };
  }

  /** The agent's SPIFFE ID once attested. */
  get agentSpiffeId(): string | undefined {
    return this.#agent?.spiffeId;
  }

  /** Unix ms of the last successful sync (0 = never). */
  get lastSyncMs(): number {
    return this.#lastSyncOkMs;
  }

  /**
   * Starts the attest/sync/rotate loop and resolves after the first successful sync (entries,
   * bundles and SVIDs in the cache). Retries forever until then; rejects only after {@link close}.
   */
  async start(): Promise<void> {
    this.#loop ??= this.#run();
    await Promise.race([
      this.#firstSync.promise,
      this.#loop.then(() => {
        throw new AgentClosedError('the agent manager');
      }),
    ]);
  }

  /** Stops the loop, the watch stream and the server connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    this.#watch?.cancel();
    this.#client?.close();
    await this.#loop;
  }

  /**
   * A JWT-SVID for `entry` and `audience` (JWT-SVID §3). Reuses a cached token until half its
   * lifetime has passed (SPIRE's rule). Throws {@link ServerCallError} when the server cannot mint.
   */
  async fetchJwtSvid(entry: EntryMessage, audience: string[]): Promise<string> {
    const key = JSON.stringify([entry.id, [...audience].sort()]);
    const now = this.#o.now();
    const hit = this.#jwtCache.get(key);
    if (hit && now < hit.issuedAtMs + (hit.expiresAtMs - hit.issuedAtMs) / 2) return hit.token;
    const res = await this.#call('NewJwtSvid', { entry_id: entry.id, audience });
    const r = res as { token: string; expires_at: number };
    this.#jwtCache.set(key, { token: r.token, issuedAtMs: now, expiresAtMs: r.expires_at * 1000 });
    if (this.#jwtCache.size > 1000) this.#jwtCache.delete(this.#jwtCache.keys().next().value!);
    return r.token;
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#step();
        this.#backoff.reset();
        this.#lastSyncOkMs = this.#o.now();
        this.#firstSync.resolve();
        await this.#sleep(this.#nextWakeMs());
      } catch (err) {
        if (this.#closed) break;
        if (
          err instanceof ServerCallError &&
          (err.grpcCode === GRPC_PERMISSION_DENIED || err.grpcCode === GRPC_UNAUTHENTICATED)
        ) {
          if (this.#agent && isBanRefusal(err)) {
            // Attesting again would escape the ban wherever the attestor mints a new agent ID per
            // attestation (k8s_sat: a random UUID), so the SVID is kept and nothing is attested.
            if (!this.#banned)
              this.#log.error({ err: err.message }, 'the server banned this agent; it does not attest again');
            this.#banned = true;
          } else {
            this.#banned = false;
            this.#log.warn(
              { err: err.message },
              'the server no longer recognizes this agent; attesting again',
            );
            this.#dropAgent();
          }
        }
        const delay = this.#backoff.next();
        this.#log.warn(
          { err: (err as Error).message, retryInMs: Math.round(delay) },
          'sync with the server failed; serving cached SVIDs',
        );
        await this.#sleep(delay);
      }
    }
  }

  /** One round: (re-)attest or renew if needed, watch, sync entries and bundles, issue SVIDs. */
  async #step(): Promise<void> {
    const now = this.#o.now();
    if (!this.#agent || now >= this.#agent.notAfter) {
      if (this.#banned)
        throw new NodeAttestationError(
          'this agent is banned and its SVID expired; restart it to attest again',
        );
      this.#dropAgent();
      await this.#attest();
    } else if (shouldRotate(now, this.#agent, this.#agent.jitter)) {
      await this.#renewAgent();
    }
    this.#ensureWatch();
    await this.#syncBundles();
    await this.#syncEntries();
    await this.#issueSvids();
  }

  async #attest(): Promise<void> {
    const key = generateKeyPair();
    const csr = await createCsr(key);
    const payload = await this.#o.nodeAttestor.payload();
    const client = this.#newClient(undefined);
    let res;
    try {
      res = (await this.#call(
        'AttestAgent',
        { attestation_type: this.#o.nodeAttestor.type, payload, csr },
        client,
      )) as { spiffe_id: string; cert_chain: Buffer[] };
    } finally {
      client.close();
    }
    this.#agent = {
      spiffeId: res.spiffe_id,
      ...certificateChain(res.cert_chain),
      privateKey: key.privateKey,
      jitter: drawRotationJitter(),
    };
    this.#revision = 0;
    this.#log.info(
      { spiffeId: res.spiffe_id, expiresAt: new Date(this.#agent.notAfter).toISOString() },
      'node attested',
    );
  }

  async #renewAgent(): Promise<void> {
    const key = generateKeyPair();
    const csr = await createCsr(key);
    const res = (await this.#call('RenewAgent', { csr })) as { spiffe_id: string; cert_chain: Buffer[] };
    this.#agent = {
      spiffeId: res.spiffe_id,
      ...certificateChain(res.cert_chain),
      privateKey: key.privateKey,
      jitter: drawRotationJitter(),
    };
    this.#resetClient();
    this.#log.info(
      { spiffeId: res.spiffe_id, expiresAt: new Date(this.#agent.notAfter).toISOString() },
      'agent SVID renewed',
    );
  }

  async #syncBundles(): Promise<void> {
    const res = (await this.#call('GetBundles', {})) as GetBundlesResponseMessage;
    const td = this.#o.trustDomain;
    const own = SpiffeBundle.parse(td, res.bundle);
    const federated = new Map<string, SpiffeBundle>();
    for (const [tdId, json] of Object.entries(res.federated_bundles ?? {})) {
      try {
        federated.set(tdId, SpiffeBundle.parse(TrustDomain.parse(tdId), json));
      } catch (err) {
        this.#log.warn(
          { trustDomain: tdId, err: (err as Error).message },
          'ignoring an unparsable federated bundle',
        );
      }
    }
    this.#cache.setBundles(own, federated);
    const roots = own.x509.authorities();
    const changed =
      !this.#roots ||
      this.#roots.length !== roots.length ||
      this.#roots.some((c, i) => c.fingerprint256 !== roots[i]!.fingerprint256);
    if (changed) {
      this.#roots = roots;
      this.#resetClient();
    }
    if (res.sequence !== this.#bundleSequence) {
      this.#bundleSequence = res.sequence;
      this.#log.debug({ sequence: res.sequence }, 'bundle updated');
    }
  }

  async #syncEntries(): Promise<void> {
    const changed: EntryMessage[] = [];
    const removed: string[] = [];
    let full = false;
    let pageToken = '';
    let revision: number;
    do {
      const page = (await this.#call('SyncAuthorizedEntries', {
        since_revision: this.#revision,
        page_token: pageToken,
        page_size: 0,
      })) as SyncAuthorizedEntriesResponseMessage;
      changed.push(...page.entries);
      removed.push(...page.removed_entry_ids);
      full ||= page.full;
      revision = page.revision;
      pageToken = page.next_page_token;
    } while (pageToken !== '');
    this.#cache.applyEntries(changed, removed, full);
    if (changed.length > 0 || removed.length > 0) {
      this.#log.info({ changed: changed.map((e) => e.id), removed, revision, full }, 'entries synced');
    }
    this.#revision = revision;
  }

  /**
   * Workload entries whose SVID is missing, minted for an older entry revision, or due for rotation.
   * Alias entries (a join token's `-spiffeID`, selectors `spiffe_id:<agent ID>`) only name this agent
   * as a parent; no workload attestor yields `spiffe_id:` selectors, so no SVID is minted for them.
   */
  #entriesNeedingSvids(): EntryMessage[] {
    const now = this.#o.now();
    const out: EntryMessage[] = [];
    for (const entry of this.#cache.entries().values()) {
      if (entry.selectors.every((s) => s.type === 'spiffe_id')) continue;
      const svid = this.#cache.svid(entry.id);
      if (!svid || svid.entryRevision !== entry.revision_number || shouldRotate(now, svid, svid.jitter)) {
        out.push(entry);
      }
    }
    return out;
  }

  async #issueSvids(): Promise<void> {
    const due = this.#entriesNeedingSvids();
    const prepare = async (from: number) => {
      const batch = due.slice(from, from + MAX_BATCH);
      const keys = batch.map(() => generateKeyPair());
      const csrs = await Promise.all(keys.map((k) => createCsr(k)));
      return { batch, keys, csrs };
    };
    let next = due.length > 0 ? prepare(0) : undefined;
    for (let i = 0; next; i += MAX_BATCH) {
      const { batch, keys, csrs } = await next;
      const pending = this.#call('BatchNewX509Svid', {
        params: batch.map((e, j) => ({ entry_id: e.id, csr: csrs[j]! })),
      });
      // Awaited below; a rejection meanwhile must not count as unhandled.
      pending.catch(() => {});
      // The next batch's keys and CSRs are made while the server signs this one: one turn of the
      // event loop first, so this request is on the wire before that CPU work starts.
      next = undefined;
      if (i + MAX_BATCH < due.length) {
        await new Promise((r) => setImmediate(r));
        next = prepare(i + MAX_BATCH);
        next.catch(() => {});
      }
      const res = (await pending) as BatchNewX509SvidResponseMessage;
      const issued: Array<{ entryId: string; svid: CachedSvid }> = [];
      res.results.forEach((r, j) => {
        const entry = batch[j]!;
        if ((r.status?.code ?? 0) !== 0 || r.cert_chain.length === 0) {
          this.#log.warn(
            { entryId: entry.id, spiffeId: entry.spiffe_id, error: r.status?.message },
            'the server refused an SVID',
          );
          return;
        }
        const rotated = this.#cache.svid(entry.id) !== undefined;
        issued.push({
          entryId: entry.id,
          svid: {
            spiffeId: r.spiffe_id,
            ...certificateChain(r.cert_chain),
            privateKey: keys[j]!.privateKey,
            entryRevision: entry.revision_number,
            jitter: drawRotationJitter(),
          },
        });
        if (rotated) this.#o.onSvidRotated?.(r.spiffe_id);
      });
      this.#cache.setSvids(issued);
      if (issued.length > 0) {
        this.#log.info(
          {
            svids: issued.map((s) => ({
              entryId: s.entryId,
              spiffeId: s.svid.spiffeId,
              expiresAt: new Date(s.svid.notAfter).toISOString(),
            })),
          },
          'X509-SVIDs issued',
        );
      }
    }
  }

  /** Time until the next round: the sync period, or earlier when an SVID is due for rotation. */
  #nextWakeMs(): number {
    const now = this.#o.now();
    let next = now + this.#o.syncIntervalMs;
    const consider = (cert: Validity, jitter: number) => {
      next = Math.min(next, rotationTimeMs(cert, jitter));
    };
    if (this.#agent) consider(this.#agent, this.#agent.jitter);
    for (const id of this.#cache.entries().keys()) {
      const svid = this.#cache.svid(id);
      if (svid) consider(svid, svid.jitter);
    }
    return Math.max(50, next - now);
  }

  #sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
  }

  /** Keeps one WatchRevisions stream open; each push wakes the loop for an immediate sync. */
  #ensureWatch(): void {
    if (this.#watch || !this.#client) return;
    const stream = this.#client.WatchRevisions({});
    this.#watch = stream as grpc.ClientReadableStream<unknown>;
    stream.on('data', () => this.#wake?.());
    const ended = () => {
      if (this.#watch === stream) this.#watch = undefined;
    };
    stream.on('error', ended);
    stream.on('end', ended);
    stream.on('close', ended);
  }

  #dropAgent(): void {
    this.#agent = undefined;
    this.#resetClient();
  }

  #resetClient(): void {
    this.#watch?.cancel();
    this.#watch = undefined;
    this.#client?.close();
    this.#client = undefined;
  }

  /** A client to the server: mTLS with the agent SVID when attested, server-auth TLS otherwise. */
  #newClient(agent: AgentSvid | undefined): AgentClient {
    const { Client } = loadAgentApi();
    const serverId = `${this.#o.trustDomain.idString()}/spire/server`;
    const verify = this.#roots !== undefined;
    const creds = grpc.credentials.createSsl(
      verify ? Buffer.from(certificatesToPem(this.#roots!)) : null,
      agent ? Buffer.from(agent.privateKey.export({ format: 'pem', type: 'pkcs8' })) : null,
      agent ? Buffer.from(certificatesToPem(agent.certChainDer)) : null,
      {
        rejectUnauthorized: verify,
        checkServerIdentity: (_host, cert) => {
          if (!verify) return undefined;
          const uris = (cert.subjectaltname ?? '').split(', ').filter((s) => s.startsWith('URI:'));
          return uris.length === 1 && uris[0] === `URI:${serverId}`
            ? undefined
            : new Error(`identity server presented ${uris.join(' ') || 'no URI SAN'}, expected ${serverId}`);
        },
      },
    );
    return new Client(this.#o.serverAddress, creds, {
      // SNI must not be an IP address (RFC 6066); the server is authenticated by SPIFFE ID anyway.
      'grpc.ssl_target_name_override': this.#o.trustDomain.name,
      'grpc.keepalive_time_ms': 30_000,
      // Reconnect soon after the server is back (grpc-js would back off up to 120 s by default).
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5000,
      'grpc.max_receive_message_length': 32 * 1024 * 1024,
    });
  }

  /** Calls a unary method with a deadline; failures become {@link ServerCallError}. */
  #call(method: string, req: object, client?: AgentClient): Promise<unknown> {
    if (this.#closed) return Promise.reject(new AgentClosedError('the agent manager'));
    if (!client) {
      if (!this.#agent)
        return Promise.reject(new ServerCallError(method, undefined, 'the agent is not attested'));
      this.#client ??= this.#newClient(this.#agent);
      client = this.#client;
    }
    const c = client as unknown as Record<
      string,
      (
        req: object,
        md: grpc.Metadata,
        opts: grpc.CallOptions,
        cb: (err: grpc.ServiceError | null, res?: unknown) => void,
      ) => void
    >;
    return new Promise((resolve, reject) => {
      c[method]!.call(
        client,
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + this.#o.callTimeoutMs },
        (err, res) => {
          if (err) reject(new ServerCallError(method, err.code, err.details || err.message, { cause: err }));
          else resolve(res);
        },
      );
    });
  }
}
