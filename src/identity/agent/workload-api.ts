/**
 * The SPIFFE Workload API server side (service `SpiffeWorkloadAPI`, reference spiffe.md §e), as
 * Connect handlers for the agent socket.
 *
 * Wire rules kept here: the `workload.spiffe.io: true` header is checked before anything else
 * (InvalidArgument "security header missing from request"); attestation failure → Unavailable
 * "workload attestation failed"; a caller with no identity → PermissionDenied "no identity issued";
 * every stream message carries the complete state and the first one is sent at once; `svids[0]` is
 * the default identity (the oldest matching entry); certificates and keys are DER (PKCS#8);
 * FetchWITSVID / FetchWITBundles → Unimplemented.
 */
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import { Code, ConnectError } from '@connectrpc/connect';
import { create, fromJson, type DescMessage, type DescService, type JsonObject } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import type { EntryMessage } from '../api/index.js';
import { BundleSet, SpiffeId, validateJwtSvid } from '../../spiffe/index.js';
import type { SvidCache, WorkloadSnapshot } from './cache.js';
import { peerOf } from './context.js';
import type { WorkloadAttestation } from './workload-attestation.js';
import { agentFileRegistry } from './protos.js';
import { WorkloadAttestationError } from './errors.js';
import { toConnectError } from './status.js';

/** Mints (or returns a cached) JWT-SVID for an entry; the agent manager implements it. */
export interface JwtSvidIssuer {
  /** A JWT-SVID (compact JWS) for `entry` with `audience`. Throws when the server refuses. */
  fetchJwtSvid(entry: EntryMessage, audience: string[]): Promise<string>;
}

/** What the Workload API handlers need from the rest of the agent. */
export interface WorkloadApiDeps {
  cache: Pick<SvidCache, 'version' | 'snapshotFor' | 'waitForChange'>;
  attestation: Pick<WorkloadAttestation, 'attest'>;
  jwt: JwtSvidIssuer;
  log: Logger;
  /** counts open Workload API / SDS streams (metrics) */
  onStream?: (delta: 1 | -1) => void;
}

const HEADER = 'workload.spiffe.io';

/** Service descriptor of `SpiffeWorkloadAPI` from the agent registry. */
export function workloadApiService(): DescService {
  const svc = agentFileRegistry().getService('SpiffeWorkloadAPI');
  if (!svc) throw new Error('protos: SpiffeWorkloadAPI missing from the agent registry');
  return svc;
}

function message(name: string): DescMessage {
  const m = agentFileRegistry().getMessage(name);
  if (!m) throw new Error(`protos: ${name} missing from the agent registry`);
  return m;
}

/** Registers the Workload API on a Connect router. */
export function registerWorkloadApi(router: ConnectRouter, deps: WorkloadApiDeps): void {
  const svc = workloadApiService();
  const X509SVIDResponse = message('X509SVIDResponse');
  const X509BundlesResponse = message('X509BundlesResponse');
  const JWTSVIDResponse = message('JWTSVIDResponse');
  const JWTBundlesResponse = message('JWTBundlesResponse');
  const ValidateJWTSVIDResponse = message('ValidateJWTSVIDResponse');
  const { cache, log } = deps;

  /** Header check, then attestation: the order SPIRE's middleware uses. */
  const caller = async (ctx: HandlerContext): Promise<{ pid: number; selectors: Set<string> }> => {
    const values = ctx.requestHeader.get(HEADER);
    if (values !== 'true')
      throw new ConnectError('security header missing from request', Code.InvalidArgument);
    const peer = await peerOf(ctx);
    return { pid: peer.pid, selectors: await deps.attestation.attest(peer) };
  };

  const x509SvidResponse = (snap: WorkloadSnapshot) =>
    create(X509SVIDResponse, {
      svids: snap.identities.map(({ entry, svid }) => ({
        spiffeId: svid.spiffeId,
        x509Svid: Buffer.concat(svid.certChainDer),
        x509SvidKey: svid.privateKey.export({ format: 'der', type: 'pkcs8' }),
        bundle: snap.bundle?.x509.toDer() ?? new Uint8Array(),
        hint: entry.hint,
      })),
      federatedBundles: Object.fromEntries([...snap.federatedBundles].map(([td, b]) => [td, b.x509.toDer()])),
    });

  /** own + federated bundles of a snapshot, in one map keyed `spiffe://<td>` */
  const bundleMap = <T>(snap: WorkloadSnapshot, pick: (b: NonNullable<WorkloadSnapshot['bundle']>) => T) => {
    const out: Record<string, T> = {};
    if (snap.bundle) out[snap.trustDomain.idString()] = pick(snap.bundle);
    for (const [td, b] of snap.federatedBundles) out[td] = pick(b);
    return out;
  };

  /**
   * The stream loop shared by the three streaming RPCs: wait for a cache change (the first wait
   * returns at once), build the full state, send it unless equal to the last one sent. A slow reader
   * never queues anything: when it reads again it gets the newest state.
   */
  async function* stream<T>(
    ctx: HandlerContext,
    build: (snap: WorkloadSnapshot) => T | undefined,
    key: (msg: T) => string,
  ): AsyncGenerator<T> {
    const { pid, selectors } = await caller(ctx);
    deps.onStream?.(1);
    try {
      let seen = -1;
      let last: string | undefined;
      for (;;) {
        await cache.waitForChange(seen, ctx.signal, selectors);
        seen = cache.version;
        const snap = cache.snapshotFor(selectors);
        const msg = build(snap);
        if (msg === undefined) {
          log.info({ pid, method: ctx.method.name }, 'no identity issued');
          throw new ConnectError('no identity issued', Code.PermissionDenied);
        }
        const k = key(msg);
        if (k === last) continue;
        // The first answer of a stream is logged at info (who got what), pushes at debug.
        log[last === undefined ? 'info' : 'debug'](
          {
            pid,
            method: ctx.method.name,
            spiffeIds: snap.identities.map((i) => i.svid.spiffeId),
            entryIds: snap.identities.map((i) => i.entry.id),
          },
          'sending workload update',
        );
        last = k;
        yield msg;
      }
    } catch (err) {
      if (ctx.signal.aborted) return;
      throw toConnectError(err, log);
    } finally {
      deps.onStream?.(-1);
    }
  }

  const fingerprint = (snap: WorkloadSnapshot): string =>
    JSON.stringify([
      snap.identities.map((i) => [i.entry.id, i.entry.hint, i.svid.serialNumber]),
      snap.bundle?.toJson(),
      [...snap.federatedBundles].map(([k, b]) => [k, b.toJson()]),
    ]);

  router.service(svc, {
    fetchX509SVID(_req: unknown, ctx: HandlerContext) {
      let snapKey = '';
      return stream(
        ctx,
        (snap) => {
          if (snap.identities.length === 0) return undefined;
          snapKey = fingerprint(snap);
          return x509SvidResponse(snap);
        },
        () => snapKey,
      );
    },
    fetchX509Bundles(_req: unknown, ctx: HandlerContext) {
      let snapKey = '';
      return stream(
        ctx,
        (snap) => {
          if (snap.identities.length === 0) return undefined;
          snapKey = JSON.stringify(bundleMap(snap, (b) => b.x509.toDer().toString('base64')));
          return create(X509BundlesResponse, { bundles: bundleMap(snap, (b) => b.x509.toDer()) });
        },
        () => snapKey,
      );
    },
    fetchJWTBundles(_req: unknown, ctx: HandlerContext) {
      let snapKey = '';
      return stream(
        ctx,
        (snap) => {
          if (snap.identities.length === 0) return undefined;
          const jwks = bundleMap(snap, (b) => b.jwt.toJwks());
          snapKey = JSON.stringify(jwks);
          return create(JWTBundlesResponse, {
            bundles: Object.fromEntries(Object.entries(jwks).map(([k, v]) => [k, Buffer.from(v)])),
          });
        },
        () => snapKey,
      );
    },
    async fetchJWTSVID(req: { audience: string[]; spiffeId: string }, ctx: HandlerContext) {
      try {
        const { pid, selectors } = await caller(ctx);
        if (req.audience.length === 0)
          throw new ConnectError('audience must be specified', Code.InvalidArgument);
        let wanted: string | undefined;
        if (req.spiffeId !== '') {
          try {
            wanted = SpiffeId.parse(req.spiffeId).toString();
          } catch (err) {
            throw new ConnectError(
              `invalid requested SPIFFE ID: ${(err as Error).message}`,
              Code.InvalidArgument,
            );
          }
        }
        const identities = cache
          .snapshotFor(selectors)
          .identities.filter((i) => wanted === undefined || i.svid.spiffeId === wanted);
        if (identities.length === 0) {
          log.info({ pid, method: 'FetchJWTSVID' }, 'no identity issued');
          throw new ConnectError('no identity issued', Code.PermissionDenied);
        }
        const svids = [];
        for (const { entry } of identities) {
          const token = await deps.jwt.fetchJwtSvid(entry, req.audience);
          svids.push({ spiffeId: entry.spiffe_id, svid: token, hint: entry.hint });
        }
        log.debug(
          { pid, spiffeIds: svids.map((s) => s.spiffeId), audience: req.audience },
          'sending JWT-SVIDs',
        );
        return create(JWTSVIDResponse, { svids });
      } catch (err) {
        throw err instanceof ConnectError ? err : jwtMintError(err);
      }
    },
    async validateJWTSVID(req: { audience: string; svid: string }, ctx: HandlerContext) {
      let snap: WorkloadSnapshot;
      try {
        const { selectors } = await caller(ctx);
        snap = cache.snapshotFor(selectors);
      } catch (err) {
        throw toConnectError(err, log);
      }
      if (req.audience === '') throw new ConnectError('audience must be specified', Code.InvalidArgument);
      if (req.svid === '') throw new ConnectError('svid must be specified', Code.InvalidArgument);
      const bundles = new BundleSet();
      if (snap.bundle) bundles.add(snap.bundle);
      for (const b of snap.federatedBundles.values()) bundles.add(b);
      let result;
      try {
        result = await validateJwtSvid(req.svid, req.audience, bundles);
      } catch (err) {
        throw new ConnectError((err as Error).message, Code.InvalidArgument);
      }
      const claims = { ...result.claims } as JsonObject;
      if (typeof claims['aud'] === 'string') claims['aud'] = [claims['aud']];
      return fromJson(ValidateJWTSVIDResponse, { spiffe_id: result.spiffeId.toString(), claims });
    },
  } as never);

  function jwtMintError(err: unknown): ConnectError {
    if (err instanceof WorkloadAttestationError) return toConnectError(err, log);
    log.warn({ err }, 'JWT-SVID minting failed');
    return new ConnectError('unable to mint JWT-SVID', Code.Unavailable);
  }
}
