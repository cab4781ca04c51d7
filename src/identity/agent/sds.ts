/**
 * Envoy SDS v3 (`envoy.service.secret.v3.SecretDiscoveryService`) served from the agent's cache,
 * with SPIRE's semantics (reference spiffe.md §f, SPIRE `pkg/agent/endpoints/sdsv3/handler.go`).
 *
 * Secret names: a SPIFFE ID of the caller → `tls_certificate` (PEM chain + PKCS#8 PEM key);
 * `default` → the caller's first identity; `spiffe://<td>` (own or federated), `ROOTCA` (own) and
 * `ALL` (own + federated) → `validation_context` with Envoy's SPIFFE certificate validator, or a plain
 * `trusted_ca` when SPIFFE validation is disabled; any other name fails the whole response with
 * InvalidArgument. StreamSecrets follows the nonce/version state machine of §f.4, FetchSecrets answers
 * one snapshot, DeltaSecrets is Unimplemented.
 */
import { randomBytes } from 'node:crypto';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import { Code, ConnectError } from '@connectrpc/connect';
import { create, toBinary, type DescMessage, type DescService, type Message } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { certificatesToPem, type SpiffeBundle } from '../../spiffe/index.js';
import type { SvidCache, WorkloadIdentity, WorkloadSnapshot } from './cache.js';
import { peerOf } from './context.js';
import type { WorkloadAttestation } from './workload-attestation.js';
import { agentFileRegistry, SECRET_TYPE_URL } from './protos.js';
import { toConnectError } from './status.js';

/** SDS naming and validation options (agent config block `sds`, SPIRE defaults). */
export interface SdsOptions {
  /** name of the caller's default identity (default `default`) */
  defaultSvidName: string;
  /** name of the own trust domain's validation context (default `ROOTCA`) */
  defaultBundleName: string;
  /** name of the all-bundles validation context (default `ALL`) */
  defaultAllBundlesName: string;
  /** plain `trusted_ca` instead of the SPIFFE validator (per-node override: metadata `disable_spiffe_cert_validation`) */
  disableSpiffeCertValidation: boolean;
}

/** SPIRE's defaults for {@link SdsOptions}. */
export const DEFAULT_SDS_OPTIONS: SdsOptions = {
  defaultSvidName: 'default',
  defaultBundleName: 'ROOTCA',
  defaultAllBundlesName: 'ALL',
  disableSpiffeCertValidation: false,
};

/** What the SDS handlers need from the rest of the agent. */
export interface SdsDeps {
  cache: Pick<SvidCache, 'version' | 'snapshotFor' | 'waitForChange'>;
  attestation: Pick<WorkloadAttestation, 'attest'>;
  log: Logger;
  options?: Partial<SdsOptions>;
  /** counts open streams (metrics) */
  onStream?: (delta: 1 | -1) => void;
}

const SPIFFE_VALIDATOR_NAME = 'envoy.tls.cert_validator.spiffe';
const SPIFFE_VALIDATOR_TYPE_URL =
  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig';

function desc(name: string): DescMessage {
  const m = agentFileRegistry().getMessage(name);
  if (!m) throw new Error(`protos: ${name} missing from the agent registry`);
  return m;
}

/** Service descriptor of `envoy.service.secret.v3.SecretDiscoveryService`. */
export function sdsService(): DescService {
  const svc = agentFileRegistry().getService('envoy.service.secret.v3.SecretDiscoveryService');
  if (!svc) throw new Error('protos: SecretDiscoveryService missing from the agent registry');
  return svc;
}

/** `envoy.service.discovery.v3.DiscoveryRequest` as the handlers read it (bufbuild field names). */
interface DiscoveryRequest extends Message {
  versionInfo: string;
  node?: NodeMessage;
  resourceNames: string[];
  typeUrl: string;
  responseNonce: string;
  errorDetail?: { code: number; message: string };
}

interface NodeMessage extends Message {
  id: string;
  cluster: string;
  /** `google.protobuf.Struct`, which @bufbuild/protobuf v2 hands over as a plain JSON object */
  metadata?: Record<string, unknown>;
  userAgentVersionType: { case?: string; value?: { version?: { majorNumber: number; minorNumber: number } } };
}

/** Whether this Envoy gets the SPIFFE validator (§f.3): config, node metadata, then build version. */
function useSpiffeValidator(options: SdsOptions, node: NodeMessage | undefined): boolean {
  let disabled = options.disableSpiffeCertValidation;
  const meta = node?.metadata?.['disable_spiffe_cert_validation'];
  if (typeof meta === 'boolean') disabled = meta;
  else if (typeof meta === 'string' && /^(true|false|1|0)$/i.test(meta)) disabled = /^(true|1)$/i.test(meta);
  if (disabled) return false;
  const v = node?.userAgentVersionType;
  if (v?.case === 'userAgentBuildVersion' && v.value?.version) {
    const { majorNumber, minorNumber } = v.value.version;
    if (majorNumber < 1 || (majorNumber === 1 && minorNumber < 18)) return false;
  }
  return true;
}

/** Builds the `Any(Secret)` list for `names` from a snapshot. Throws ConnectError on bad names. */
export function buildSecrets(
  snap: WorkloadSnapshot,
  names: readonly string[],
  options: SdsOptions,
  node: NodeMessage | undefined,
): Array<{ typeUrl: string; value: Uint8Array }> {
  const Secret = desc('envoy.extensions.transport_sockets.tls.v3.Secret');
  const ValidatorConfig = desc('envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig');
  const spiffe = useSpiffeValidator(options, node);
  const ownTd = snap.trustDomain.idString();
  const inline = (data: string) => ({ specifier: { case: 'inlineBytes', value: Buffer.from(data) } });
  const bare = (tdId: string) => tdId.replace(/^spiffe:\/\//, '');

  const validationContext = (name: string, bundles: Array<[string, SpiffeBundle]>) => {
    let ctx;
    if (spiffe) {
      const config = create(ValidatorConfig, {
        trustDomains: [...bundles]
          .sort(([a], [b]) => (bare(a) < bare(b) ? -1 : 1))
          .map(([td, b]) => ({ name: bare(td), trustBundle: inline(b.x509.toPem()) })),
      });
      ctx = {
        customValidatorConfig: {
          name: SPIFFE_VALIDATOR_NAME,
          typedConfig: { typeUrl: SPIFFE_VALIDATOR_TYPE_URL, value: toBinary(ValidatorConfig, config) },
        },
      };
    } else {
      ctx = { trustedCa: inline(bundles.map(([, b]) => b.x509.toPem()).join('')) };
    }
    return create(Secret, { name, type: { case: 'validationContext', value: ctx } });
  };
  const tlsCertificate = (name: string, id: WorkloadIdentity) =>
    create(Secret, {
      name,
      type: {
        case: 'tlsCertificate',
        value: {
          certificateChain: inline(certificatesToPem(id.svid.certChainDer)),
          privateKey: inline(id.svid.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string),
        },
      },
    });

  const bundles: Message[] = [];
  const certs: Message[] = [];
  const unknown: string[] = [];
  const own = snap.bundle;
  if (names.length === 0) {
    if (own) bundles.push(validationContext(ownTd, [[ownTd, own]]));
    for (const [td, b] of snap.federatedBundles) bundles.push(validationContext(td, [[td, b]]));
    for (const id of snap.identities) certs.push(tlsCertificate(id.svid.spiffeId, id));
  } else {
    for (const name of names) {
      if ((name === ownTd || name === options.defaultBundleName) && own) {
        bundles.push(validationContext(name, [[ownTd, own]]));
      } else if (name === options.defaultAllBundlesName && own) {
        if (!spiffe)
          throw new ConnectError('unable to use SPIFFE validator on Envoy below 1.17', Code.Internal);
        bundles.push(validationContext(name, [[ownTd, own], ...snap.federatedBundles]));
      } else if (snap.federatedBundles.has(name)) {
        bundles.push(validationContext(name, [[name, snap.federatedBundles.get(name)!]]));
      } else if (name === options.defaultSvidName && snap.identities[0]) {
        certs.push(tlsCertificate(name, snap.identities[0]));
      } else {
        const id = snap.identities.find((i) => i.svid.spiffeId === name);
        if (id) certs.push(tlsCertificate(name, id));
        else unknown.push(name);
      }
    }
  }
  if (unknown.length > 0) {
    throw new ConnectError(
      `workload is not authorized for the requested identities ${JSON.stringify(unknown)}`,
      Code.InvalidArgument,
    );
  }
  return [...bundles, ...certs].map((s) => ({ typeUrl: SECRET_TYPE_URL, value: toBinary(Secret, s) }));
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((n, i) => n === sb[i]);
}

/** Registers SDS v3 on a Connect router (no security header: Envoy does not send it). */
export function registerSds(router: ConnectRouter, deps: SdsDeps): void {
  const options: SdsOptions = { ...DEFAULT_SDS_OPTIONS, ...deps.options };
  const DiscoveryResponse = desc('envoy.service.discovery.v3.DiscoveryResponse');
  const { cache, log } = deps;

  const attest = async (ctx: HandlerContext) => {
    try {
      const peer = await peerOf(ctx);
      return { pid: peer.pid, selectors: await deps.attestation.attest(peer) };
    } catch (err) {
      throw toConnectError(err, log);
    }
  };

  async function* streamSecrets(requests: AsyncIterable<DiscoveryRequest>, ctx: HandlerContext) {
    const { pid, selectors } = await attest(ctx);
    deps.onStream?.(1);
    const it = requests[Symbol.asyncIterator]();
    let nextReq: Promise<IteratorResult<DiscoveryRequest>> | undefined;
    let nextUpdate: Promise<void> | undefined;
    let seen = -1;
    let version = 0;
    let lastNonce = '';
    let lastReq: DiscoveryRequest | undefined;
    let node: NodeMessage | undefined;
    let snap: WorkloadSnapshot | undefined;
    let lastSent: Array<{ typeUrl: string; value: Uint8Array }> | undefined;

    const respond = () => {
      const resources = buildSecrets(snap!, lastReq!.resourceNames, options, node);
      lastNonce = randomBytes(4).toString('hex');
      lastSent = resources;
      log.debug({ pid, version, nonce: lastNonce, names: lastReq!.resourceNames }, 'SDS response');
      return create(DiscoveryResponse, {
        versionInfo: String(version),
        typeUrl: lastReq!.typeUrl || SECRET_TYPE_URL,
        nonce: lastNonce,
        resources,
      });
    };
    const sameAsSent = (resources: Array<{ typeUrl: string; value: Uint8Array }>) =>
      lastSent !== undefined &&
      lastSent.length === resources.length &&
      lastSent.every((r, i) => Buffer.compare(r.value, resources[i]!.value) === 0);

    try {
      for (;;) {
        if (!nextReq) {
          nextReq = it.next();
          nextReq.catch(() => {});
        }
        if (!nextUpdate) {
          nextUpdate = cache.waitForChange(seen, ctx.signal, selectors);
          // Left pending when the stream ends; its rejection on abort is expected.
          nextUpdate.catch(() => {});
        }
        const ev = await Promise.race([
          nextReq.then((r) => ({ kind: 'request' as const, r })),
          nextUpdate.then(() => ({ kind: 'update' as const })),
        ]);
        if (ev.kind === 'update') {
          nextUpdate = undefined;
          seen = cache.version;
          const fresh = cache.snapshotFor(selectors);
          // Unrelated cache changes (other workloads' entries) must not push identical secrets.
          if (snap && lastReq && sameAsSent(buildSecrets(fresh, lastReq.resourceNames, options, node))) {
            snap = fresh;
            continue;
          }
          snap = fresh;
          version++;
          if (lastReq) yield respond();
          continue;
        }
        nextReq = undefined;
        if (ev.r.done) return;
        const req = ev.r.value;
        if (req.errorDetail) {
          log.warn(
            { pid, nonce: req.responseNonce, error: req.errorDetail.message, names: req.resourceNames },
            'Envoy NACKed secrets',
          );
        }
        // A nonce we never sent on this stream (agent restarted) is accepted, a stale one ignored.
        if (lastNonce !== '' && req.responseNonce !== lastNonce) {
          log.debug({ pid, nonce: req.responseNonce, expected: lastNonce }, 'ignoring stale SDS request');
          continue;
        }
        if (req.versionInfo === '' || req.versionInfo !== String(version)) {
          log.debug(
            { pid, got: req.versionInfo, current: version },
            'SDS request for another version (rollback or NACK)',
          );
        }
        if (req.node) node = req.node;
        const first = lastReq === undefined;
        const changed = first || !sameNames(lastReq!.resourceNames, req.resourceNames);
        lastReq = req;
        if (changed && snap) yield respond();
      }
    } catch (err) {
      if (ctx.signal.aborted) return;
      throw err instanceof ConnectError ? err : toConnectError(err, log);
    } finally {
      deps.onStream?.(-1);
    }
  }

  router.service(sdsService(), {
    streamSecrets,
    async fetchSecrets(req: DiscoveryRequest, ctx: HandlerContext) {
      const { selectors } = await attest(ctx);
      const snap = cache.snapshotFor(selectors);
      return create(DiscoveryResponse, {
        versionInfo: '',
        typeUrl: req.typeUrl || SECRET_TYPE_URL,
        resources: buildSecrets(snap, req.resourceNames, options, req.node),
      });
    },
  } as never);
}
