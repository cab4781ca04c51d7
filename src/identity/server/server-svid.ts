/**
 * The server's own X509-SVID (`spiffe://<td>/spire/server`) with a fresh in-memory key, used for the
 * agent API's TLS and the https_spiffe bundle endpoint. Renewed at half its lifetime, or at once when
 * the active CA changes; TLS options also carry our bundle roots (client certificates chain to them).
 */
import { certificatesToPem, generateKeyPair, parseCertificates } from '../../spiffe/index.js';
import type { IdentityService } from './service.js';

/** PEM material for `tls.createSecureContext`. */
export interface ServerTlsMaterial {
  /** SVID chain, leaf first */
  cert: string;
  /** PKCS#8 */
  key: string;
  /** our bundle's X509 roots */
  ca: string;
}

export class ServerSvid {
  readonly #service: IdentityService;
  #material!: ServerTlsMaterial;
  /** unix seconds */
  #renewAt = 0;
  #caNotAfter = 0;
  #bundleSequence = -1;

  constructor(service: IdentityService) {
    this.#service = service;
    this.renew();
  }

  /** Current TLS material. */
  get material(): ServerTlsMaterial {
    return this.#material;
  }

  /** True when the SVID is past half-life, the active CA changed, or the bundle changed. */
  stale(): boolean {
    return (
      this.#service.nowSeconds() >= this.#renewAt ||
      this.#service.ca.active().notAfter !== this.#caNotAfter ||
      this.#service.revisions().bundleSequence !== this.#bundleSequence
    );
  }

  /** Mints a new SVID (TTL `default_x509_svid_ttl`, capped at the CA's expiry). */
  renew(): void {
    const s = this.#service;
    const { privateKey, publicKey } = generateKeyPair();
    const svid = s.ca.signX509Svid({
      spiffeId: s.serverId(),
      publicKey,
      ttlSeconds: s.config.defaultX509SvidTtlSeconds,
    });
    const now = s.nowSeconds();
    this.#renewAt = now + Math.floor((svid.expiresAt - now) / 2);
    this.#caNotAfter = s.ca.active().notAfter;
    this.#bundleSequence = s.revisions().bundleSequence;
    this.#material = {
      cert: certificatesToPem(parseCertificates(Buffer.concat(svid.certChainDer))),
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      ca: certificatesToPem(s.ownRoots()),
    };
  }
}
