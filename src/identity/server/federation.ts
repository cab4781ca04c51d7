/**
 * SPIFFE Federation (spiffe.md §d.2): the bundle endpoint serving our SPIFFE bundle, and the refresh
 * of federated bundles from other trust domains' endpoints.
 *
 * - Bundle endpoint: `GET` any path → our bundle JSON (`application/json`), no client auth.
 *   `https_spiffe`: served with the server's X509-SVID; `https_web`: with `serving_cert_file`.
 * - Refresh: each `federates_with` is polled at its bundle's `spiffe_refresh_hint` (default 5 min).
 *   `https_web` validates the endpoint with the system Web PKI roots; `https_spiffe` requires the
 *   endpoint to present an X509-SVID with `endpoint_spiffe_id` chaining to the latest stored bundle
 *   of that ID's trust domain (bootstrapped with `bundle set`). A fetched bundle replaces the stored
 *   one when its content differs and its `spiffe_sequence` is not older.
 */
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { SpiffeBundle, SpiffeId, certificatesToPem } from '../../spiffe/index.js';
import type { FederatesWithConfig } from './config/index.js';
import type { ServerSvid } from './server-svid.js';
import type { IdentityService } from './service.js';

/** Default refresh interval when a bundle has no hint (spec: ~5 min). */
const DEFAULT_REFRESH_SECONDS = 300;
/** Retry delays after failed fetches: doubling from 1 s up to 30 s. */
const RETRY_MIN_SECONDS = 1;
const RETRY_MAX_SECONDS = 30;

/** Fetches a SPIFFE bundle document (UTF-8 JSON) over HTTPS with the profile's checks. */
export function fetchBundle(
  fw: FederatesWithConfig,
  endpointRootsPem: string | undefined,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const url = new URL(fw.bundleEndpointUrl);
    const spiffe = fw.profile === 'https_spiffe';
    if (spiffe && !endpointRootsPem) {
      reject(
        new Error(
          `no bundle stored for the trust domain of ${fw.endpointSpiffeId}; bootstrap it with "bundle set"`,
        ),
      );
      return;
    }
    const req = request(
      url,
      {
        method: 'GET',
        timeout: timeoutMs,
        ...(spiffe
          ? {
              ca: endpointRootsPem,
              checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
                const uris = (cert.subjectaltname ?? '').split(', ').filter((s) => s.startsWith('URI:'));
                if (uris.length !== 1 || uris[0] !== `URI:${fw.endpointSpiffeId}`) {
                  return new Error(
                    `bundle endpoint presented ${uris.join(',') || 'no URI SAN'}, want ${fw.endpointSpiffeId}`,
                  );
                }
                return undefined;
              },
            }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`bundle endpoint answered HTTP ${res.statusCode}`));
          else resolve(Buffer.concat(chunks).toString('utf8'));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Runs the bundle endpoint and the federated bundle refreshers. */
export class FederationManager {
  readonly #service: IdentityService;
  readonly #svid: ServerSvid;
  readonly #log: Logger;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  #server: Server | undefined;
  #closed = false;
  /** bound bundle endpoint port, when enabled */
  bundleEndpointPort: number | undefined;

  constructor(o: { service: IdentityService; svid: ServerSvid; log: Logger; now?: () => number }) {
    this.#service = o.service;
    this.#svid = o.svid;
    this.#log = o.log;
  }

  #tlsMaterial(): { cert: string; key: string } {
    const be = this.#service.config.bundleEndpoint!;
    if (be.profile === 'https_web')
      return { cert: readFileSync(be.certFilePath!, 'utf8'), key: readFileSync(be.keyFilePath!, 'utf8') };
    return { cert: this.#svid.material.cert, key: this.#svid.material.key };
  }

  /** Starts the endpoint (if configured) and schedules the first refresh of each federated bundle. */
  async start(): Promise<void> {
    const be = this.#service.config.bundleEndpoint;
    if (be) {
      const server = createServer({ ...this.#tlsMaterial(), minVersion: 'TLSv1.2' }, (req, res) => {
        if (req.method !== 'GET') {
          res.writeHead(405, { allow: 'GET' }).end();
          return;
        }
        const json = this.#service.ownBundle().json;
        res
          .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) })
          .end(json);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(be.port, be.address, () => resolve());
      });
      const addr = server.address();
      this.bundleEndpointPort = typeof addr === 'object' && addr ? addr.port : be.port;
      this.#server = server;
    }
    for (const fw of this.#service.config.federatesWith) this.#schedule(fw, 0);
  }

  /** Re-keys the https_spiffe endpoint after the server SVID was renewed. */
  onServerSvidRenewed(): void {
    if (this.#server && this.#service.config.bundleEndpoint?.profile === 'https_spiffe') {
      this.#server.setSecureContext(this.#tlsMaterial());
    }
  }

  #schedule(fw: FederatesWithConfig, delaySeconds: number): void {
    if (this.#closed) return;
    const key = fw.trustDomain.idString();
    this.#timers.set(key, setTimeout(() => void this.#refresh(fw), delaySeconds * 1000).unref());
  }

  async #refresh(fw: FederatesWithConfig): Promise<void> {
    const tdId = fw.trustDomain.idString();
    const failures = this.#failures.get(tdId) ?? 0;
    let next = Math.min(RETRY_MAX_SECONDS, RETRY_MIN_SECONDS * 2 ** failures);
    try {
      const endpointTd = fw.endpointSpiffeId
        ? SpiffeId.parse(fw.endpointSpiffeId).trustDomain
        : fw.trustDomain;
      const stored = this.#service.store.getBundle(endpointTd.idString());
      const roots = stored
        ? certificatesToPem(SpiffeBundle.parse(endpointTd, stored.json).x509.authorities())
        : undefined;
      const json = await fetchBundle(fw, roots);
      const fetched = SpiffeBundle.parse(fw.trustDomain, json);
      const current = this.#service.store.getBundle(tdId);
      // An operator-provided bootstrap bundle may carry the same sequence as the endpoint's: replace
      // it when the content differs, but never go back to an older sequence.
      const newer =
        current?.json !== json &&
        (fetched.sequence === undefined || fetched.sequence >= (current?.sequence ?? 0));
      if (newer) {
        this.#service.setFederatedBundle({ id: tdId, data: json, format: 'spiffe' });
        this.#log.info({ trustDomain: tdId, sequence: fetched.sequence }, 'federated bundle refreshed');
      }
      next = fetched.refreshHintSeconds || DEFAULT_REFRESH_SECONDS;
      this.#failures.delete(tdId);
    } catch (err) {
      this.#failures.set(tdId, failures + 1);
      this.#log.warn({ trustDomain: tdId, err: (err as Error).message }, 'federated bundle refresh failed');
    }
    this.#schedule(fw, next);
  }

  /** Stops refreshing and closes the endpoint. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
