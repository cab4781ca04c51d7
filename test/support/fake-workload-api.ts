/**
 * A fake SPIFFE Workload API for tests: a real `@grpc/grpc-js` server on a unix socket in a temp dir,
 * serving `SpiffeWorkloadAPI` from the same proto the client and the agent load, with real SVIDs minted
 * by {@link TestCa}. It checks the `workload.spiffe.io: true` header the way SPIRE's middleware does and
 * records what each call carried, so tests can prove what the client sends.
 */
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KeyObject, X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { jwtVerify, SignJWT } from 'jose';
import {
  generateKeyPair,
  mintCaCertificate,
  mintX509SvidDer,
  JwtBundle,
  SpiffeId,
  TrustDomain,
} from '../../src/spiffe/index.js';
import {
  jsonToStruct,
  loadWorkloadApi,
  WORKLOAD_API_HEADER,
  type JwtBundlesResponseMessage,
  type JwtSvidResponseMessage,
  type WorkloadApiServiceHandlers,
  type X509BundlesResponseMessage,
  type X509SvidMessage,
  type X509SvidResponseMessage,
} from '../../src/spiffe/workload/index.js';

/** A self-signed test CA of one trust domain that mints real X509-SVIDs and JWT-SVIDs. */
export class TestCa {
  readonly jwtKey = generateKeyPair();
  readonly jwtKid = 'test-kid-1';

  private constructor(
    readonly trustDomain: TrustDomain,
    readonly cert: X509Certificate,
    readonly key: KeyObject,
  ) {}

  /** A root CA for `td`, valid from `now` (default: the current time) for `ttlSeconds` (default 1 day). */
  static async create(td: string, o: { now?: Date; ttlSeconds?: number } = {}): Promise<TestCa> {
    const keys = generateKeyPair();
    const trustDomain = TrustDomain.parse(td);
    const cert = await mintCaCertificate({
      trustDomain,
      publicKey: keys.publicKey,
      privateKey: keys.privateKey,
      ttlSeconds: o.ttlSeconds ?? 86_400,
      ...(o.now ? { now: o.now } : {}),
    });
    return new TestCa(trustDomain, cert, keys.privateKey);
  }

  /** Concatenated DER of the CA certificate (the X.509 bundle on the wire). */
  bundleDer(): Buffer {
    return Buffer.from(this.cert.raw);
  }

  /** A Workload API `X509SVID` message for `path` in this trust domain: fresh P-256 key, DER chain + PKCS#8. */
  x509Svid(idPath: string, o: { hint?: string; ttlSeconds?: number; now?: Date } = {}): X509SvidMessage {
    const keys = generateKeyPair();
    const spiffeId = SpiffeId.fromPath(this.trustDomain, idPath);
    const der = mintX509SvidDer({
      spiffeId,
      publicKey: keys.publicKey,
      caCert: this.cert,
      caKey: this.key,
      ttlSeconds: o.ttlSeconds ?? 3600,
      ...(o.now ? { now: o.now } : {}),
    });
    return {
      spiffe_id: spiffeId.toString(),
      x509_svid: der,
      x509_svid_key: keys.privateKey.export({ type: 'pkcs8', format: 'der' }),
      bundle: this.bundleDer(),
      hint: o.hint ?? '',
    };
  }

  /** This trust domain's JWT bundle (one ES256 key). */
  jwtBundle(): JwtBundle {
    return new JwtBundle(this.trustDomain, new Map([[this.jwtKid, this.jwtKey.publicKey]]));
  }

  /** A JWT-SVID (ES256, `kid`, `typ: JWT`) for `idPath` and `audience`, minted with jose as an agent would. */
  jwtSvid(idPath: string, audience: string[], ttlSeconds = 300): Promise<string> {
    const nowSeconds = Math.floor(Date.now() / 1000);
    return new SignJWT({ sub: SpiffeId.fromPath(this.trustDomain, idPath).toString(), aud: audience })
      .setProtectedHeader({ alg: 'ES256', kid: this.jwtKid, typ: 'JWT' })
      .setIssuedAt(nowSeconds)
      .setExpirationTime(nowSeconds + ttlSeconds)
      .sign(this.jwtKey.privateKey);
  }
}

/** A gRPC status a handler answers with instead of a message. */
export interface FakeStatus {
  code: grpc.status;
  details: string;
}

/** One call the fake server received. */
export interface RecordedCall {
  method: string;
  /** every value of the `workload.spiffe.io` metadata key */
  header: string[];
}

/**
 * The fake server. Set `x509` (a response or a status), `x509Bundles`, `jwtBundles`, `jwtSvids`
 * before the client calls; {@link pushX509} sends a new message to every open FetchX509SVID stream.
 */
export class FakeWorkloadApi {
  /** The answer to FetchX509SVID: a message (sent first on every stream) or a status ending the stream. */
  x509: X509SvidResponseMessage | FakeStatus = {
    code: grpc.status.PERMISSION_DENIED,
    details: 'no identity issued',
  };
  /** The answer to FetchX509Bundles. */
  x509Bundles: X509BundlesResponseMessage | FakeStatus = { crl: [], bundles: {} };
  /** The answer to FetchJWTBundles. */
  jwtBundles: JwtBundlesResponseMessage | FakeStatus = { bundles: {} };
  /** Mints the FetchJWTSVID answer for the requested audience and optional SPIFFE ID. */
  jwtSvids: (audience: string[], spiffeId: string) => Promise<JwtSvidResponseMessage | FakeStatus> = () =>
    Promise.resolve({ code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' });
  /** The JWT bundle ValidateJWTSVID checks tokens against. */
  validationBundle: JwtBundle | undefined;
  /** Every call received, in order. */
  readonly calls: RecordedCall[] = [];
  /** When true, the header check is skipped (to prove the client-side behaviour on its own). */
  skipHeaderCheck = false;

  readonly #dir: string;
  readonly socketPath: string;
  readonly #streams = new Set<grpc.ServerWritableStream<unknown, X509SvidResponseMessage>>();
  #server: grpc.Server | undefined;

  readonly #network: 'unix' | 'tcp';
  #tcpPort = 0;

  private constructor(network: 'unix' | 'tcp') {
    this.#network = network;
    this.#dir = mkdtempSync(path.join(tmpdir(), 'tm-fake-wl-'));
    this.socketPath = path.join(this.#dir, 'agent.sock');
  }

  /** What the client is given: `unix:///…/agent.sock`, or `tcp://127.0.0.1:<port>` for a TCP fake. */
  get address(): string {
    return this.#network === 'tcp' ? `tcp://127.0.0.1:${this.#tcpPort}` : `unix://${this.socketPath}`;
  }

  /** Number of FetchX509SVID streams currently open. */
  get openX509Streams(): number {
    return this.#streams.size;
  }

  /** Creates the fake and starts serving on a unix socket in a temp dir (or on 127.0.0.1, port 0). */
  static async start(o: { network?: 'unix' | 'tcp' } = {}): Promise<FakeWorkloadApi> {
    const fake = new FakeWorkloadApi(o.network ?? 'unix');
    await fake.listen();
    return fake;
  }

  /** (Re)starts serving on the same socket path. */
  async listen(): Promise<void> {
    const server = new grpc.Server();
    server.addService(loadWorkloadApi().service, this.#handlers());
    try {
      unlinkSync(this.socketPath);
    } catch {
      // no stale socket
    }
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(
        this.#network === 'tcp' ? `127.0.0.1:${this.#tcpPort}` : this.address,
        grpc.ServerCredentials.createInsecure(),
        (err, port) => {
          if (err) return reject(err);
          if (this.#network === 'tcp') this.#tcpPort = port;
          resolve();
        },
      ),
    );
    this.#server = server;
  }

  /** Sends `message` to every open FetchX509SVID stream (and to future ones). */
  pushX509(message: X509SvidResponseMessage): void {
    this.x509 = message;
    for (const stream of this.#streams) stream.write(message);
  }

  /** Ends every open FetchX509SVID stream with `status` (and answers future ones with it). */
  failX509(status: FakeStatus): void {
    this.x509 = status;
    for (const stream of this.#streams) stream.emit('error', statusError(status));
    this.#streams.clear();
  }

  /** Stops serving abruptly (open streams break), keeping the temp dir for a restart. */
  stop(): void {
    this.#server?.forceShutdown();
    this.#server = undefined;
    this.#streams.clear();
  }

  /** Stops and removes the temp dir. */
  close(): void {
    this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #check(
    method: string,
    call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  ): FakeStatus | undefined {
    const header = call.metadata.get(WORKLOAD_API_HEADER).map(String);
    this.calls.push({ method, header });
    // SPIRE's middleware: exactly one value, equal to "true".
    if (!this.skipHeaderCheck && (header.length !== 1 || header[0] !== 'true')) {
      return { code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' };
    }
    return undefined;
  }

  #handlers(): WorkloadApiServiceHandlers {
    const unimplemented = (call: grpc.ServerWritableStream<unknown, unknown>): void => {
      call.emit('error', statusError({ code: grpc.status.UNIMPLEMENTED, details: 'not implemented' }));
    };
    const streamOnce =
      <T>(method: string, answer: () => T | FakeStatus) =>
      (call: grpc.ServerWritableStream<unknown, T>): void => {
        const denied = this.#check(method, call);
        const value = denied ?? answer();
        if (isStatus(value)) call.emit('error', statusError(value));
        else call.write(value);
      };
    return {
      FetchX509SVID: (call) => {
        const denied = this.#check('FetchX509SVID', call);
        const value = denied ?? this.x509;
        if (isStatus(value)) {
          call.emit('error', statusError(value));
          return;
        }
        this.#streams.add(call);
        call.on('cancelled', () => this.#streams.delete(call));
        call.on('close', () => this.#streams.delete(call));
        call.write(value);
      },
      FetchX509Bundles: streamOnce('FetchX509Bundles', () => this.x509Bundles),
      FetchJWTBundles: streamOnce('FetchJWTBundles', () => this.jwtBundles),
      FetchJWTSVID: (call, callback) => {
        const denied = this.#check('FetchJWTSVID', call);
        if (denied) return callback(statusError(denied));
        if (call.request.audience.length === 0) {
          return callback(
            statusError({ code: grpc.status.INVALID_ARGUMENT, details: 'audience must be specified' }),
          );
        }
        this.jwtSvids(call.request.audience, call.request.spiffe_id).then(
          (value) => (isStatus(value) ? callback(statusError(value)) : callback(null, value)),
          (err: Error) => callback(statusError({ code: grpc.status.INTERNAL, details: err.message })),
        );
      },
      ValidateJWTSVID: (call, callback) => {
        const denied = this.#check('ValidateJWTSVID', call);
        if (denied) return callback(statusError(denied));
        const bundle = this.validationBundle;
        if (!bundle) return callback(statusError({ code: grpc.status.INTERNAL, details: 'no bundle' }));
        const keyFor = (header: { kid?: string }): KeyObject => {
          const key = bundle.findKey(header.kid ?? '');
          if (!key) throw new Error(`no JWT authority with kid ${JSON.stringify(header.kid)}`);
          return key;
        };
        jwtVerify(call.request.svid, keyFor, {
          audience: call.request.audience,
          algorithms: ['ES256'],
        }).then(
          ({ payload }) =>
            callback(null, {
              spiffe_id: String(payload.sub),
              claims: jsonToStruct(payload as Record<string, unknown>),
            }),
          (err: Error) => callback(statusError({ code: grpc.status.INVALID_ARGUMENT, details: err.message })),
        );
      },
      FetchWITSVID: unimplemented,
      FetchWITBundles: unimplemented,
    };
  }
}

function isStatus(value: unknown): value is FakeStatus {
  return typeof value === 'object' && value !== null && 'code' in value && 'details' in value;
}

function statusError(status: FakeStatus): Partial<grpc.StatusObject> & Error {
  return Object.assign(new Error(status.details), { code: status.code, details: status.details });
}
