import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { X509Bundle } from '../bundle.js';
import type { TrustDomain } from '../id.js';
import type { X509Svid } from '../x509svid.js';
import {
  WorkloadApiClient,
  type WorkloadApiClientOptions,
  type WorkloadWatcher,
  type X509Context,
} from './client.js';
import { WorkloadApiError } from './errors.js';

/** Options of {@link X509Source.create}. */
export interface X509SourceOptions extends WorkloadApiClientOptions {
  /** Use this client (the source then doesn't close it); default: a new client from the other options. */
  client?: WorkloadApiClient;
  /** Chooses our SVID among the caller's SVIDs; default the first (the default identity). */
  pickSvid?: (svids: X509Svid[]) => X509Svid;
  /** Give up `create()` when no valid X.509 context arrived within this many ms. Default: wait forever. */
  timeoutMs?: number;
}

/** Events of {@link X509Source}. `error` is emitted only when someone listens. */
export interface X509SourceEvents {
  /** A new X.509 context arrived (rotation, bundle change): the source already serves it. */
  update: [context: X509Context];
  /** A watch error; the source keeps serving the last good context and keeps retrying (except InvalidArgument). */
  error: [error: WorkloadApiError];
}

/**
 * A live X509-SVID and X.509 bundle source fed by the Workload API (go-spiffe `workloadapi.X509Source`):
 * watches FetchX509SVID and always serves the latest valid context, so TLS helpers built on it rotate
 * without restarts. Implements `X509SvidSource` and `X509BundleSource`.
 *
 * Lifecycle: {@link X509Source.create} resolves after the first update; {@link close} stops the watch
 * (and the client, when the source created it); afterwards getters throw {@link WorkloadApiError}
 * `closed`.
 */
export class X509Source extends EventEmitter<X509SourceEvents> {
  readonly #client: WorkloadApiClient;
  readonly #ownsClient: boolean;
  readonly #pickSvid: (svids: X509Svid[]) => X509Svid;
  #watcher: WorkloadWatcher | undefined;
  #context: X509Context | undefined;
  #closed = false;

  private constructor(options: X509SourceOptions) {
    super();
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? new WorkloadApiClient(options);
    this.#pickSvid = options.pickSvid ?? ((svids) => svids[0] as X509Svid);
  }

  /**
   * Starts watching and resolves with the source once the first valid X.509 context arrived.
   * Transient errors (Unavailable, PermissionDenied, …) are retried meanwhile.
   *
   * @throws {WorkloadEndpointError} bad or missing endpoint address.
   * @throws {WorkloadApiError} the watch stopped for good (InvalidArgument), or `timeout`.
   */
  static async create(options: X509SourceOptions = {}): Promise<X509Source> {
    const source = new X509Source(options);
    return new Promise<X509Source>((resolve, reject) => {
      let ready = false;
      let timer: NodeJS.Timeout | undefined;
      const fail = (err: WorkloadApiError): void => {
        clearTimeout(timer);
        source.close();
        reject(err);
      };
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(
          () => fail(new WorkloadApiError('timeout', `no X.509 context within ${options.timeoutMs} ms`)),
          options.timeoutMs,
        );
      }
      source.#watcher = source.#client.watchX509Context(
        (context) => {
          source.#context = context;
          if (!ready) {
            ready = true;
            clearTimeout(timer);
            resolve(source);
          }
          source.emit('update', context);
        },
        (error) => {
          // The watcher stops for good on InvalidArgument; before the first context that fails create().
          if (!ready && error.grpcCode === grpc.status.INVALID_ARGUMENT) fail(error);
          else if (source.listenerCount('error') > 0) source.emit('error', error);
        },
      );
    });
  }

  /** Our X509-SVID: the picked one of the latest context. @throws {WorkloadApiError} `closed`. */
  getX509Svid(): X509Svid {
    return this.#pickSvid(this.#current().svids);
  }

  /** Every X509-SVID of the latest context (`[0]` = default identity). @throws {WorkloadApiError} `closed`. */
  getX509Svids(): X509Svid[] {
    return [...this.#current().svids];
  }

  /** The X.509 bundle of `td` from the latest context, or undefined. @throws {WorkloadApiError} `closed`. */
  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined {
    return this.#current().bundles.getX509BundleForTrustDomain(td);
  }

  /** Stops watching; closes the client if the source created it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    if (this.#ownsClient) this.#client.close();
  }

  #current(): X509Context {
    if (this.#closed) throw new WorkloadApiError('closed', 'the X509Source is closed');
    // create() resolves only after the first context, so a live source always has one.
    return this.#context as X509Context;
  }
}
