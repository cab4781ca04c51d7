/**
 * Secrets (static bootstrap, inline, or pushed over SDS) and the TLS contexts built from them.
 *
 * One `tls.SecureContext` per secret version, reused for every connection (performance.md §3.2);
 * a rotation builds a new one, which new connections pick up while existing ones finish on the
 * old (Envoy's SDS rotation semantics).
 */
import tls from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import { TrustDomain } from '../spiffe/index.js';
import { ConfigError } from './errors.js';
import type {
  SecretConfig,
  TlsContextConfig,
  TlsCertificateSecret,
  ValidationContextSecret,
} from './config.js';
import { compileValidator, parsePemCertificates, subjectAltNames, type PeerValidator } from './verify.js';

/** A secret with the version it arrived with (SDS version_info, or "static"). */
export interface VersionedSecret {
  secret: SecretConfig;
  version: string;
  lastUpdatedMs: number;
}

/**
 * Name → current secret. Components subscribe by name and are told on every change.
 * {@link set} validates the material first (PEM parses, key matches) and throws ConfigError
 * otherwise, so the SDS client can NACK and keep the last good secret.
 */
export class SecretStore {
  readonly #secrets = new Map<string, VersionedSecret>();
  readonly #watchers = new Map<string, Set<() => void>>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Validates and stores a secret; notifies the watchers of its name. Throws ConfigError. */
  set(secret: SecretConfig, version: string): void {
    validateSecret(secret);
    this.#secrets.set(secret.name, { secret, version, lastUpdatedMs: this.#now() });
    for (const w of this.#watchers.get(secret.name) ?? []) w();
  }

  /** The current version of `name`, if it arrived. */
  get(name: string): VersionedSecret | undefined {
    return this.#secrets.get(name);
  }

  /** All secrets (for /certs and /config_dump). */
  all(): VersionedSecret[] {
    return [...this.#secrets.values()];
  }

  /** Calls `fn` whenever `name` changes; returns the unsubscribe function. */
  watch(name: string, fn: () => void): () => void {
    let set = this.#watchers.get(name);
    if (!set) this.#watchers.set(name, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }
}

function validateSecret(s: SecretConfig): void {
  try {
    if (s.kind === 'tls_certificate') {
      tls.createSecureContext({ cert: s.certificateChainPem, key: s.privateKeyPem });
    } else {
      if (s.trustedCaPem !== undefined && !parsePemCertificates(s.trustedCaPem).length)
        throw new Error('trusted_ca holds no PEM certificate');
      for (const [td, pem] of s.spiffeTrustDomains ?? []) {
        TrustDomain.parse(td);
        if (!parsePemCertificates(pem).length)
          throw new Error(`trust bundle of ${td} holds no PEM certificate`);
      }
    }
  } catch (err) {
    throw new ConfigError(`secret ${JSON.stringify(s.name)}`, [
      err instanceof Error ? err.message : String(err),
    ]);
  }
}

/** What a connection needs from a TLS context: the SecureContext and the peer validator. */
export interface ActiveTls {
  context: tls.SecureContext;
  /** Undefined when the context has no validation context (no peer verification). */
  validator: PeerValidator | undefined;
  /** Bumped on every rebuild; upstream pools key TLS sessions by it. */
  generation: number;
}

/**
 * A TLS context (Downstream or Upstream) bound to its secrets in a {@link SecretStore}. `current()`
 * is undefined until every secret it names has arrived — a listener then resets connections and
 * an upstream fails to connect, as Envoy does while SDS is warming.
 */
export class TlsContextProvider {
  readonly #store: SecretStore;
  readonly #config: TlsContextConfig;
  readonly #isServer: boolean;
  readonly #unwatch: (() => void)[] = [];
  #active: ActiveTls | undefined;
  #dirty = true;
  #generation = 0;

  constructor(store: SecretStore, config: TlsContextConfig, isServer: boolean) {
    this.#store = store;
    this.#config = config;
    this.#isServer = isServer;
    for (const s of config.inlineSecrets) store.set(s, 'static');
    for (const name of [config.certificateSecret, config.validationSecret]) {
      if (name) this.#unwatch.push(store.watch(name, () => (this.#dirty = true)));
    }
  }

  /** Names of the secrets this context waits for. */
  get secretNames(): string[] {
    return [this.#config.certificateSecret, this.#config.validationSecret].filter((n): n is string => !!n);
  }

  /** The SecureContext + validator of the current secret versions, or undefined while warming. */
  current(): ActiveTls | undefined {
    if (!this.#dirty) return this.#active;
    const cert = this.#config.certificateSecret
      ? this.#store.get(this.#config.certificateSecret)?.secret
      : undefined;
    const validation = this.#config.validationSecret
      ? this.#store.get(this.#config.validationSecret)?.secret
      : undefined;
    if (this.#config.certificateSecret && cert?.kind !== 'tls_certificate') return this.#active;
    if (this.#config.validationSecret && validation?.kind !== 'validation_context') return this.#active;
    const c = cert as TlsCertificateSecret | undefined;
    const context = tls.createSecureContext({
      cert: c?.certificateChainPem,
      key: c?.privateKeyPem,
      minVersion: 'TLSv1.2',
      // A server without `ca` still sends CertificateRequest; the client cert is checked in code.
      // A server that requests client certificates must set a session id context, or OpenSSL
      // aborts every resumed handshake with internal_error.
      ...(this.#isServer ? { sessionTimeout: 300, sessionIdContext: 'trustmesh-proxy' } : {}),
    });
    const hasValidation = Boolean(validation || this.#config.defaultValidation);
    this.#active = {
      context,
      validator: hasValidation
        ? compileValidator(validation as ValidationContextSecret | undefined, this.#config.defaultValidation)
        : undefined,
      generation: ++this.#generation,
    };
    this.#dirty = false;
    return this.#active;
  }

  /** Stops watching the store. */
  close(): void {
    for (const u of this.#unwatch) u();
  }
}

/** Envoy `/certs` entry for one certificate. */
function certDetail(c: X509Certificate, nowMs: number): Record<string, unknown> {
  return {
    path: '<inline>',
    serial_number: c.serialNumber.toLowerCase(),
    subject_alt_names: subjectAltNames(c).map(([t, v]) => ({
      [t === 'URI' ? 'uri' : t === 'DNS' ? 'dns' : t.toLowerCase()]: v,
    })),
    days_until_expiration: String(Math.max(0, Math.floor((Date.parse(c.validTo) - nowMs) / 86_400_000))),
    valid_from: new Date(c.validFrom).toISOString(),
    expiration_time: new Date(c.validTo).toISOString(),
  };
}

/** Envoy's `/certs` JSON: one entry per certificate secret and per validation context. */
export function certsDump(
  store: SecretStore,
  nowMs: number,
): { certificates: { ca_cert: unknown[]; cert_chain: unknown[] }[] } {
  const certificates = store.all().map(({ secret }) => {
    if (secret.kind === 'tls_certificate')
      return {
        ca_cert: [],
        cert_chain: parsePemCertificates(secret.certificateChainPem).map((c) => certDetail(c, nowMs)),
      };
    const pems = [...(secret.spiffeTrustDomains?.values() ?? []), secret.trustedCaPem ?? ''];
    return {
      ca_cert: pems.flatMap((p) => parsePemCertificates(p)).map((c) => certDetail(c, nowMs)),
      cert_chain: [],
    };
  });
  return { certificates };
}
