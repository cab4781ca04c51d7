import * as grpc from '@grpc/grpc-js';
import { decodeJwt } from 'jose';
import { BundleSet, JwtBundle, X509Bundle } from '../bundle.js';
import { SpiffeError } from '../errors.js';
import { SpiffeId, TrustDomain } from '../id.js';
import { X509Svid } from '../x509svid.js';
import { grpcTarget, resolveWorkloadEndpoint, type WorkloadEndpoint } from './endpoint.js';
import { WorkloadApiError } from './errors.js';
import {
  loadWorkloadApi,
  structToJson,
  WORKLOAD_API_HEADER,
  WORKLOAD_API_HEADER_VALUE,
  type JsonValue,
  type JwtBundlesResponseMessage,
  type JwtSvidMessage,
  type WorkloadApiStub,
  type X509BundlesResponseMessage,
  type X509SvidResponseMessage,
} from './proto.js';

/**
 * The X.509 material of one FetchX509SVID message (SPIFFE Workload API §5.2): the caller's SVIDs
 * (`svids[0]` is the default identity) and the bundles to verify peers with (each SVID's own trust
 * domain plus the federated trust domains).
 */
export interface X509Context {
  svids: X509Svid[];
  bundles: BundleSet;
}

/**
 * A JWT-SVID as fetched from the Workload API (JWT-SVID §3). The token was parsed without verifying its
 * signature (the agent is trusted to hand out what it minted); `audience` contains every requested
 * audience and `expiresAt` was in the future when fetched.
 */
export interface JwtSvid {
  spiffeId: SpiffeId;
  /** JWS compact serialization, for an `Authorization: Bearer` header */
  token: string;
  /** the `aud` claim, always as an array */
  audience: string[];
  /** the `exp` claim */
  expiresAt: Date;
  /** every claim of the token (for ValidateJWTSVID: as returned by the server) */
  claims: Record<string, JsonValue>;
  /** operator-chosen label of the SVID; '' when none */
  hint: string;
}

/** Options of {@link WorkloadApiClient}. */
export interface WorkloadApiClientOptions {
  /**
   * Endpoint address, `unix:///abs/path` or `tcp://<ip>:<port>` (SPIFFE Workload Endpoint §4). Default:
   * the `SPIFFE_ENDPOINT_SOCKET` environment variable.
   */
  address?: string;
  /** Step of the linear reconnect backoff of watchers, ms: waits are 1×, 2×, 3×… this. Default 1000. */
  backoffStepMs?: number;
  /** Upper bound of the reconnect backoff, ms. Default 30 000. */
  backoffMaxMs?: number;
  /** Clock for JWT-SVID expiry checks, unix ms. Default `Date.now`. */
  now?: () => number;
  /** Extra `@grpc/grpc-js` channel options. */
  channelOptions?: grpc.ChannelOptions;
}

/** Options of one call: `timeoutMs` bounds the wait for the (first) answer; the gRPC deadline. */
export interface WorkloadCallOptions {
  timeoutMs?: number;
}

/** A running watch; `close()` cancels the stream and any pending reconnect. Idempotent. */
export interface WorkloadWatcher {
  close(): void;
}

/**
 * Delay before reconnect attempt `attempt` (1-based) of a watcher: linear `attempt × stepMs`, capped
 * at `maxMs` — go-spiffe's Workload API backoff (1 s, 2 s, 3 s … 30 s; reference spiffe.md §e.2).
 */
export function watchBackoffMs(attempt: number, stepMs = 1000, maxMs = 30_000): number {
  return Math.min(Math.max(1, attempt) * stepMs, maxMs);
}

/**
 * Client of the SPIFFE Workload API (SPIFFE_Workload_API.md; reference spiffe.md §e) over
 * `@grpc/grpc-js`. Every call carries the metadata `workload.spiffe.io: true`. The channel connects
 * lazily; call {@link close} when done (it also stops every watcher).
 *
 * @throws {WorkloadEndpointError} from the constructor when the address (or SPIFFE_ENDPOINT_SOCKET) is
 *   missing or breaks SPIFFE Workload Endpoint §4; {@link WorkloadApiError} `bad-request` for bad
 *   backoff options.
 */
export class WorkloadApiClient {
  /** The parsed endpoint this client talks to. */
  readonly endpoint: WorkloadEndpoint;
  readonly #stub: WorkloadApiStub;
  readonly #backoffStepMs: number;
  readonly #backoffMaxMs: number;
  readonly #now: () => number;
  readonly #watchers = new Set<WorkloadWatcher>();
  #closed = false;

  constructor(options: WorkloadApiClientOptions = {}) {
    this.endpoint = resolveWorkloadEndpoint(options.address);
    this.#backoffStepMs = options.backoffStepMs ?? 1000;
    this.#backoffMaxMs = options.backoffMaxMs ?? 30_000;
    if (!(this.#backoffStepMs > 0 && this.#backoffMaxMs >= this.#backoffStepMs)) {
      throw new WorkloadApiError(
        'bad-request',
        `backoffStepMs (${this.#backoffStepMs}) must be > 0 and backoffMaxMs (${this.#backoffMaxMs}) ≥ backoffStepMs`,
      );
    }
    this.#now = options.now ?? Date.now;
    const { Client } = loadWorkloadApi();
    this.#stub = new Client(grpcTarget(this.endpoint), grpc.credentials.createInsecure(), {
      // Our own connection: grpc-js otherwise shares subchannels (and their reconnect backoff) between clients.
      'grpc.use_local_subchannel_pool': 1,
      // Keep the channel's reconnect backoff in step with the watchers' so a restarted agent is seen soon.
      'grpc.initial_reconnect_backoff_ms': this.#backoffStepMs,
      'grpc.max_reconnect_backoff_ms': this.#backoffMaxMs,
      ...options.channelOptions,
    });
  }

  /**
   * The caller's X.509-SVIDs and bundles: the first message of a FetchX509SVID stream. `svids[0]` is
   * the default identity.
   *
   * @throws {WorkloadApiError} `rpc-failed` (gRPC error; e.g. PermissionDenied "no identity issued"),
   *   `invalid-response` (message breaks the API's rules, e.g. an SVID failing X509-SVID parsing),
   *   `timeout`, `closed`.
   */
  async fetchX509Context(options: WorkloadCallOptions = {}): Promise<X509Context> {
    const message = await this.#firstMessage((md, o) => this.#stub.FetchX509SVID({}, md, o), options);
    return parseX509Context(message);
  }

  /** The default X.509-SVID (`svids[0]` of {@link fetchX509Context}). Same errors. */
  async fetchX509Svid(options: WorkloadCallOptions = {}): Promise<X509Svid> {
    const { svids } = await this.fetchX509Context(options);
    return svids[0] as X509Svid;
  }

  /**
   * Every X.509 bundle the agent serves (own trust domain and federated): the first message of a
   * FetchX509Bundles stream. Map keys `spiffe://<td>`, values concatenated DER roots.
   *
   * @throws {WorkloadApiError} as {@link fetchX509Context}.
   */
  async fetchX509Bundles(options: WorkloadCallOptions = {}): Promise<BundleSet> {
    const message = await this.#firstMessage((md, o) => this.#stub.FetchX509Bundles({}, md, o), options);
    return parseX509Bundles(message);
  }

  /**
   * Watches the caller's X.509 context (FetchX509SVID stream). `onUpdate` gets every valid message
   * (each one is the complete state); `onError` gets every failure: gRPC errors, messages discarded as
   * invalid, streams ended by the server. Broken streams are reopened after a linear backoff
   * ({@link watchBackoffMs}), reset after each good message. The watch stops for good on
   * InvalidArgument (e.g. the server says the security header is missing: retrying can't help) and on
   * `close()` of the watcher or the client.
   */
  watchX509Context(
    onUpdate: (context: X509Context) => void,
    onError: (error: WorkloadApiError) => void,
  ): WorkloadWatcher {
    return this.#watch((md) => this.#stub.FetchX509SVID({}, md), parseX509Context, onUpdate, onError);
  }

  /**
   * Fetches the default JWT-SVID for `audience` (FetchJWTSVID), optionally for one of the caller's
   * SPIFFE IDs. Checks what go-spiffe checks: the token's `sub` is the SVID's SPIFFE ID, its `aud` has
   * every requested audience, and it hasn't expired.
   *
   * @throws {WorkloadApiError} `bad-request` when `audience` is empty; `rpc-failed`
   *   (InvalidArgument, PermissionDenied, …), `invalid-response`, `timeout`, `closed`.
   */
  async fetchJwtSvid(
    request: { audience: string[]; spiffeId?: SpiffeId } & WorkloadCallOptions,
  ): Promise<JwtSvid> {
    const svids = await this.fetchJwtSvids(request);
    return svids[0] as JwtSvid;
  }

  /** Every JWT-SVID of the caller for `audience` (FetchJWTSVID); the first is the default. As {@link fetchJwtSvid}. */
  async fetchJwtSvids(
    request: { audience: string[]; spiffeId?: SpiffeId } & WorkloadCallOptions,
  ): Promise<JwtSvid[]> {
    if (request.audience.length === 0 || request.audience.some((a) => a === '')) {
      throw new WorkloadApiError(
        'bad-request',
        'fetchJwtSvid: audience must have at least one non-empty value',
        {
          input: request.audience,
        },
      );
    }
    const response = await this.#unary<{ svids: JwtSvidMessage[] }>(
      (md, o, cb) =>
        this.#stub.FetchJWTSVID(
          { audience: request.audience, spiffe_id: request.spiffeId?.toString() ?? '' },
          md,
          o,
          cb,
        ),
      request,
    );
    if (response.svids.length === 0) {
      throw new WorkloadApiError('invalid-response', 'FetchJWTSVID: response has no SVIDs');
    }
    return response.svids.map((svid) =>
      this.#parseJwtSvid(svid.svid, svid.hint, request.audience, svid.spiffe_id),
    );
  }

  /**
   * Every JWT bundle the agent serves (first message of a FetchJWTBundles stream): map keys
   * `spiffe://<td>`, values JWKS JSON.
   *
   * @throws {WorkloadApiError} `rpc-failed`, `invalid-response` (bad key or JWKS), `timeout`, `closed`.
   */
  async fetchJwtBundles(options: WorkloadCallOptions = {}): Promise<BundleSet> {
    const message = await this.#firstMessage((md, o) => this.#stub.FetchJWTBundles({}, md, o), options);
    return parseJwtBundles(message);
  }

  /**
   * Asks the agent to validate `token` for `audience` (ValidateJWTSVID). Returns the SVID with the claims
   * the server reports.
   *
   * @throws {WorkloadApiError} `bad-request` on an empty token or audience; `rpc-failed` with
   *   InvalidArgument when the agent rejects the token; `invalid-response`, `timeout`, `closed`.
   */
  async validateJwtSvid(
    token: string,
    audience: string,
    options: WorkloadCallOptions = {},
  ): Promise<JwtSvid> {
    if (token === '' || audience === '') {
      throw new WorkloadApiError('bad-request', 'validateJwtSvid: token and audience must be non-empty');
    }
    const response = await this.#unary<{ spiffe_id: string; claims: Parameters<typeof structToJson>[0] }>(
      (md, o, cb) => this.#stub.ValidateJWTSVID({ audience, svid: token }, md, o, cb),
      options,
    );
    const svid = this.#parseJwtSvid(token, '', [audience], response.spiffe_id);
    return { ...svid, claims: structToJson(response.claims) };
  }

  /** Stops every watcher and closes the channel. Later calls fail with `closed`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const watcher of [...this.#watchers]) watcher.close();
    this.#stub.close();
  }

  #metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set(WORKLOAD_API_HEADER, WORKLOAD_API_HEADER_VALUE);
    return md;
  }

  #callOptions(options: WorkloadCallOptions): Partial<grpc.CallOptions> {
    return options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
  }

  #assertOpen(): void {
    if (this.#closed) throw new WorkloadApiError('closed', 'the client is closed');
  }

  #firstMessage<T>(
    open: (md: grpc.Metadata, o: Partial<grpc.CallOptions>) => grpc.ClientReadableStream<T>,
    options: WorkloadCallOptions,
  ): Promise<T> {
    this.#assertOpen();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const call = open(this.#metadata(), this.#callOptions(options));
      call.on('data', (message: T) => {
        if (settled) return;
        settled = true;
        resolve(message);
        call.cancel();
      });
      call.on('error', (err: grpc.ServiceError) => {
        if (settled) return;
        settled = true;
        reject(rpcError(this.endpoint.uri, err));
      });
      call.on('end', () => {
        if (settled) return;
        settled = true;
        reject(new WorkloadApiError('invalid-response', 'the stream ended before its first message'));
      });
    });
  }

  #unary<T>(
    invoke: (
      md: grpc.Metadata,
      o: Partial<grpc.CallOptions>,
      cb: (err: grpc.ServiceError | null, value?: T) => void,
    ) => grpc.ClientUnaryCall,
    options: WorkloadCallOptions,
  ): Promise<T> {
    this.#assertOpen();
    return new Promise<T>((resolve, reject) => {
      invoke(this.#metadata(), this.#callOptions(options), (err, value) => {
        if (err) reject(rpcError(this.endpoint.uri, err));
        else resolve(value as T);
      });
    });
  }

  #watch<T, U>(
    open: (md: grpc.Metadata) => grpc.ClientReadableStream<T>,
    parse: (message: T) => U,
    onUpdate: (value: U) => void,
    onError: (error: WorkloadApiError) => void,
  ): WorkloadWatcher {
    this.#assertOpen();
    let call: grpc.ClientReadableStream<T> | undefined;
    let timer: NodeJS.Timeout | undefined;
    let attempt = 0;
    let stopped = false;
    const watcher: WorkloadWatcher = {
      close: () => {
        if (stopped) return;
        stopped = true;
        this.#watchers.delete(watcher);
        clearTimeout(timer);
        call?.cancel();
      },
    };
    const connect = (): void => {
      timer = undefined;
      const current = open(this.#metadata());
      call = current;
      current.on('data', (message: T) => {
        if (stopped || call !== current) return;
        attempt = 0;
        let value: U;
        try {
          value = parse(message);
        } catch (err) {
          // go-spiffe discards a bad message and keeps the stream: the next one may be good.
          onError(asWorkloadError(err));
          return;
        }
        onUpdate(value);
      });
      // 'status' ends every call exactly once; 'error' only needs a listener so it never throws.
      current.on('error', () => {});
      current.on('status', (status: grpc.StatusObject) => {
        if (stopped || call !== current) return;
        call = undefined;
        const error =
          status.code === grpc.status.OK
            ? new WorkloadApiError('rpc-failed', `${this.endpoint.uri}: the server ended the stream`, {
                grpcCode: status.code,
              })
            : rpcError(this.endpoint.uri, status);
        onError(error);
        if (status.code === grpc.status.INVALID_ARGUMENT) {
          watcher.close();
          return;
        }
        attempt += 1;
        timer = setTimeout(connect, watchBackoffMs(attempt, this.#backoffStepMs, this.#backoffMaxMs));
      });
    };
    this.#watchers.add(watcher);
    connect();
    return watcher;
  }

  #parseJwtSvid(token: string, hint: string, audience: string[], spiffeIdText: string): JwtSvid {
    let claims: Record<string, JsonValue>;
    try {
      claims = decodeJwt(token) as Record<string, JsonValue>;
    } catch (cause) {
      throw new WorkloadApiError('invalid-response', 'JWT-SVID is not a well-formed JWT', { cause });
    }
    const spiffeId = parseSpiffeIdField(typeof claims.sub === 'string' ? claims.sub : '', 'JWT-SVID sub');
    if (spiffeIdText !== '' && spiffeIdText !== spiffeId.toString()) {
      throw new WorkloadApiError(
        'invalid-response',
        `JWT-SVID sub ${spiffeId.toString()} differs from the response's spiffe_id ${spiffeIdText}`,
      );
    }
    const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    const audiences = aud.filter((a): a is string => typeof a === 'string');
    const missing = audience.filter((a) => !audiences.includes(a));
    if (missing.length > 0) {
      throw new WorkloadApiError(
        'invalid-response',
        `JWT-SVID aud lacks the requested audience ${missing.join(', ')}`,
      );
    }
    if (typeof claims.exp !== 'number')
      throw new WorkloadApiError('invalid-response', 'JWT-SVID has no exp claim');
    const expiresAt = new Date(claims.exp * 1000);
    if (expiresAt.getTime() <= this.#now()) {
      throw new WorkloadApiError('invalid-response', `JWT-SVID expired at ${expiresAt.toISOString()}`);
    }
    return { spiffeId, token, audience: audiences, expiresAt, claims, hint };
  }
}

function rpcError(endpoint: string, err: { code: number; details: string }): WorkloadApiError {
  const name = grpc.status[err.code] ?? String(err.code);
  if (err.code === grpc.status.DEADLINE_EXCEEDED) {
    return new WorkloadApiError('timeout', `${endpoint}: no answer before the deadline (${err.details})`, {
      grpcCode: err.code,
      cause: err,
    });
  }
  return new WorkloadApiError('rpc-failed', `${endpoint}: ${name}: ${err.details}`, {
    grpcCode: err.code,
    cause: err,
  });
}

function asWorkloadError(err: unknown): WorkloadApiError {
  if (err instanceof WorkloadApiError) return err;
  return new WorkloadApiError('invalid-response', err instanceof Error ? err.message : String(err), {
    cause: err,
  });
}

function parseSpiffeIdField(text: string, what: string): SpiffeId {
  try {
    return SpiffeId.parse(text);
  } catch (cause) {
    throw new WorkloadApiError('invalid-response', `${what} is not a SPIFFE ID`, { cause, input: text });
  }
}

function parseTrustDomainKey(key: string): TrustDomain {
  try {
    return TrustDomain.parse(key);
  } catch (cause) {
    throw new WorkloadApiError(
      'invalid-response',
      `bundle key ${JSON.stringify(key)} is not a trust domain`,
      {
        cause,
        input: key,
      },
    );
  }
}

/** Wraps a lower-level SpiffeError (bad DER, bad key, bad JWKS) as a discarded-message error. */
function invalid<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (cause) {
    if (cause instanceof WorkloadApiError) throw cause;
    const reason = cause instanceof SpiffeError || cause instanceof Error ? cause.message : String(cause);
    throw new WorkloadApiError('invalid-response', `${what}: ${reason}`, { cause });
  }
}

/**
 * Turns an X509SVIDResponse into an {@link X509Context}: each SVID parsed with the X509-SVID rules
 * go-spiffe's `ParseRaw` applies (reference §b.2), its `spiffe_id` field matching the certificate,
 * each SVID's (non-empty) `bundle` added for its trust domain, then `federated_bundles` (an empty one
 * gives a bundle without authorities).
 *
 * @throws {WorkloadApiError} `invalid-response` naming the first broken rule.
 */
export function parseX509Context(message: X509SvidResponseMessage): X509Context {
  if (message.svids.length === 0) {
    throw new WorkloadApiError('invalid-response', 'X509SVIDResponse has no SVIDs');
  }
  const bundles = new BundleSet();
  const svids = message.svids.map((m, i) => {
    const svid = invalid(`svids[${i}] (${m.spiffe_id})`, () =>
      X509Svid.parse(m.x509_svid, m.x509_svid_key, m.hint),
    );
    if (svid.spiffeId.toString() !== m.spiffe_id) {
      throw new WorkloadApiError(
        'invalid-response',
        `svids[${i}]: spiffe_id ${JSON.stringify(m.spiffe_id)} differs from the certificate's ${svid.spiffeId.toString()}`,
      );
    }
    if (m.bundle.length === 0) {
      // A mandatory field left at its default: discard the message (SPIFFE Workload API §5).
      throw new WorkloadApiError('invalid-response', `svids[${i}] (${m.spiffe_id}) has an empty bundle`);
    }
    const td = svid.spiffeId.trustDomain;
    if (!bundles.getX509BundleForTrustDomain(td)) {
      bundles.add(invalid(`svids[${i}].bundle`, () => X509Bundle.parse(td, m.bundle)));
    }
    return svid;
  });
  for (const [key, der] of Object.entries(message.federated_bundles)) {
    const td = parseTrustDomainKey(key);
    // An empty federated bundle is tolerated (go-spiffe #288): it parses to a bundle without authorities.
    bundles.add(invalid(`federated_bundles[${key}]`, () => X509Bundle.parse(td, der)));
  }
  return { svids, bundles };
}

/** Turns an X509BundlesResponse into a {@link BundleSet}. @throws {WorkloadApiError} `invalid-response`. */
export function parseX509Bundles(message: X509BundlesResponseMessage): BundleSet {
  const bundles = new BundleSet();
  for (const [key, der] of Object.entries(message.bundles)) {
    const td = parseTrustDomainKey(key);
    bundles.add(invalid(`bundles[${key}]`, () => X509Bundle.parse(td, der)));
  }
  return bundles;
}

/** Turns a JWTBundlesResponse (JWKS JSON per trust domain) into a {@link BundleSet}. @throws {WorkloadApiError} `invalid-response`. */
export function parseJwtBundles(message: JwtBundlesResponseMessage): BundleSet {
  const bundles = new BundleSet();
  for (const [key, json] of Object.entries(message.bundles)) {
    const td = parseTrustDomainKey(key);
    bundles.add(invalid(`bundles[${key}]`, () => JwtBundle.parseJwks(td, json.toString('utf8'))));
  }
  return bundles;
}
