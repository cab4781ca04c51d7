/**
 * The server CA: X509 CA certificate + JWT signing key per slot, rotation as SPIRE's
 * pkg/server/ca/manager does it (spiffe.md §b.4), the own-trust-domain bundle, and SVID signing.
 *
 * Slots go prepared → active → old. The next slot is prepared (and published in the bundle at once)
 * when the active one has ≤ min(lifetime/2, 30 d) left, and activated at ≤ min(lifetime/6, 7 d) left.
 * Old CA certificates and JWT keys stay in the bundle until 24 h after they expire. Every bundle
 * content change increments `spiffe_sequence`. Without an UpstreamAuthority the CA is a self-signed
 * root; with `upstream_authority disk` it is an intermediate signed by the upstream key and the
 * bundle holds the upstream roots.
 */
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  randomInt,
  randomUUID,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  mintCaCertificate,
  mintJwtSvid,
  mintX509SvidDer,
  parseCertificates,
  type SpiffeId,
  type TrustDomain,
} from '../../../spiffe/index.js';
import { ConfigError, FailedPreconditionError } from '../errors.js';
import type { BundleStore, CaJournalStore, CaSlot } from '../datastore/types.js';
import type { KeyManager } from './keymanager.js';

/** Seconds an expired CA certificate / JWT key stays in the bundle (SPIRE prunes after 24 h). */
export const BUNDLE_PRUNE_GRACE_SECONDS = 24 * 3600;

/** The rotation step due for the active slot at `nowSeconds` (pure; SPIRE rotationutil / ca manager). */
export function caRotationStep(
  nowSeconds: number,
  active: { notBefore: number; notAfter: number } | undefined,
  hasPrepared: boolean,
): 'activate' | 'prepare' | 'none' {
  if (!active || nowSeconds >= active.notAfter) return 'activate';
  const lifetime = active.notAfter - active.notBefore;
  const remaining = active.notAfter - nowSeconds;
  if (remaining <= Math.min(lifetime / 6, 7 * 86400)) return 'activate';
  if (!hasPrepared && remaining <= Math.min(lifetime / 2, 30 * 86400)) return 'prepare';
  return 'none';
}

/** An UpstreamAuthority (SPIRE `disk`): signs our CA; its roots form our bundle. */
export interface UpstreamAuthority {
  cert: X509Certificate;
  key: KeyObject;
  /** upstream certificates between its signing cert and a root, to append to our chains */
  intermediates: X509Certificate[];
  roots: X509Certificate[];
}

/**
 * Loads an UpstreamAuthority from PEM files (cert_file_path: the signing cert first, optionally its
 * chain; key_file_path: its key; bundle_file_path: the roots, default = self-signed certs of the
 * cert file). Throws ConfigError naming the file.
 */
export function loadDiskUpstreamAuthority(o: {
  certFilePath: string;
  keyFilePath: string;
  bundleFilePath?: string;
}): UpstreamAuthority {
  const read = (key: string, path: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `UpstreamAuthority.disk.${key}`,
        `cannot read ${path}: ${(err as Error).message}`,
      );
    }
  };
  try {
    const certs = parseCertificates(read('cert_file_path', o.certFilePath));
    const cert = certs[0];
    if (!cert) throw new Error('no certificate found');
    const key = createPrivateKey(read('key_file_path', o.keyFilePath));
    if (!cert.checkPrivateKey(key)) throw new Error('key_file_path does not match the certificate');
    const selfSigned = (c: X509Certificate): boolean => c.checkIssued(c);
    const roots = o.bundleFilePath
      ? parseCertificates(read('bundle_file_path', o.bundleFilePath))
      : certs.filter(selfSigned);
    if (roots.length === 0) throw new Error('no root certificate: set bundle_file_path');
    return { cert, key, intermediates: certs.filter((c) => !selfSigned(c)), roots };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('UpstreamAuthority.disk', (err as Error).message, { cause: err });
  }
}

/** The signing material of the active slot. */
export interface ActiveCa {
  cert: X509Certificate;
  key: KeyObject;
  /** DER certificates to send after a leaf it signs (empty for a self-signed root) */
  chainDer: Buffer[];
  jwtKey: KeyObject;
  jwtKid: string;
  /** unix seconds */
  notAfter: number;
}

/** Options of {@link CaManager}. */
export interface CaManagerOptions {
  trustDomain: TrustDomain;
  caTtlSeconds: number;
  /** RFC 4514 subject string for self-signed roots */
  caSubject: string;
  keyManager: KeyManager;
  journal: CaJournalStore;
  bundles: BundleStore;
  upstream?: UpstreamAuthority;
  /** bundle `spiffe_refresh_hint` in seconds (0 = omitted) */
  refreshHintSeconds?: number;
  /** SPIRE `jwt_issuer`: the `iss` claim of every JWT-SVID (none when unset) */
  jwtIssuer?: string;
  /** clock in ms since the epoch */
  now?: () => number;
  /** called after the own bundle's content changed (new sequence) */
  onBundleChanged?: (sequence: number) => void;
}

const KID_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A fresh JWT key id: 32 random `[a-zA-Z0-9]` (SPIRE). */
function newKid(): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += KID_ALPHABET[randomInt(KID_ALPHABET.length)];
  return s;
}

interface LiveSlot extends CaSlot {
  cert: X509Certificate;
  notBefore: number;
}

/**
 * Owns the CA slots. Call {@link CaManager.init} once, then {@link CaManager.rotate} periodically
 * (the server does so on a timer); both persist the journal and the own bundle.
 */
export class CaManager {
  readonly #o: CaManagerOptions & { now: () => number };
  #slots: LiveSlot[] = [];
  #active: ActiveCa | undefined;
  #busy: Promise<void> = Promise.resolve();

  constructor(o: CaManagerOptions) {
    this.#o = { ...o, now: o.now ?? Date.now };
  }

  #nowSeconds(): number {
    return Math.floor(this.#o.now() / 1000);
  }

  /** Loads the journal and makes sure a usable active slot exists. */
  async init(): Promise<void> {
    this.#slots = this.#o.journal.loadCaSlots().map((s) => {
      const cert = new X509Certificate(s.certDer);
      return { ...s, cert, notBefore: Math.floor(new Date(cert.validFrom).getTime() / 1000) };
    });
    // Slots whose keys are gone (memory key manager after a restart) can't sign; their roots stay published.
    for (const s of this.#slots) {
      if (
        s.status !== 'old' &&
        (!this.#o.keyManager.getKey(s.x509KeyId) || !this.#o.keyManager.getKey(s.jwtKeyId))
      ) {
        s.status = 'old';
      }
    }
    await this.rotate();
  }

  /** Runs one rotation check at the clock's now (prepare / activate / prune), serialized. */
  rotate(): Promise<void> {
    const run = this.#busy.then(() => this.#rotateOnce());
    this.#busy = run.catch(() => undefined);
    return run;
  }

  async #rotateOnce(): Promise<void> {
    const now = this.#nowSeconds();
    let changed = false;
    const active = this.#slots.find((s) => s.status === 'active');
    let prepared = this.#slots.find((s) => s.status === 'prepared');
    const step = caRotationStep(now, active, prepared !== undefined);
    if (step === 'prepare' || (step === 'activate' && (!prepared || prepared.notAfter <= now))) {
      if (prepared) prepared.status = 'old';
      prepared = await this.#prepareSlot();
      changed = true;
    }
    if (step === 'activate' && prepared) {
      if (active) active.status = 'old';
      prepared.status = 'active';
      changed = true;
    }
    const before = this.#slots.length;
    this.#slots = this.#slots.filter(
      (s) => s.status !== 'old' || s.notAfter + BUNDLE_PRUNE_GRACE_SECONDS > now,
    );
    if (this.#slots.length !== before) changed = true;
    if (changed || !this.#active) {
      this.#o.keyManager.retainKeys(new Set(this.#slots.flatMap((s) => [s.x509KeyId, s.jwtKeyId])));
      this.#o.journal.saveCaSlots(this.#slots.map(({ cert: _c, notBefore: _n, ...s }) => s));
      this.#refreshActive();
      this.#publishBundle();
    }
  }

  async #prepareSlot(): Promise<LiveSlot> {
    const now = this.#o.now();
    const id = randomUUID();
    const x509KeyId = `x509-CA-${id}`;
    const jwtKeyId = `JWT-Signer-${id}`;
    const key = this.#o.keyManager.generateKey(x509KeyId);
    const jwtKey = this.#o.keyManager.generateKey(jwtKeyId);
    const up = this.#o.upstream;
    let ttlSeconds = this.#o.caTtlSeconds;
    if (up) ttlSeconds = Math.min(ttlSeconds, Math.floor((new Date(up.cert.validTo).getTime() - now) / 1000));
    if (ttlSeconds <= 0)
      throw new FailedPreconditionError('ca: the upstream authority certificate has expired');
    const cert = await mintCaCertificate({
      trustDomain: this.#o.trustDomain,
      publicKey: createPublicKey(key),
      ttlSeconds,
      signer: up ? { cert: up.cert, key: up.key } : undefined,
      privateKey: up ? undefined : key,
      subject: this.#o.caSubject,
      now: new Date(now),
    });
    const slot: LiveSlot = {
      id,
      status: 'prepared',
      certDer: cert.raw,
      upstreamChainDer: up
        ? [up.cert, ...up.intermediates].filter((c) => !c.checkIssued(c)).map((c) => c.raw)
        : [],
      x509KeyId,
      jwtKeyId,
      jwtKid: newKid(),
      jwtPublicKeyDer: createPublicKey(jwtKey).export({ type: 'spki', format: 'der' }),
      notAfter: Math.floor(new Date(cert.validTo).getTime() / 1000),
      cert,
      notBefore: Math.floor(new Date(cert.validFrom).getTime() / 1000),
    };
    this.#slots.push(slot);
    return slot;
  }

  #refreshActive(): void {
    const s = this.#slots.find((x) => x.status === 'active');
    const key = s && this.#o.keyManager.getKey(s.x509KeyId);
    const jwtKey = s && this.#o.keyManager.getKey(s.jwtKeyId);
    this.#active =
      s && key && jwtKey
        ? {
            cert: s.cert,
            key,
            chainDer: this.#o.upstream ? [s.certDer, ...s.upstreamChainDer] : [],
            jwtKey,
            jwtKid: s.jwtKid,
            notAfter: s.notAfter,
          }
        : undefined;
  }

  #publishBundle(): void {
    const tdId = this.#o.trustDomain.idString();
    const roots = this.#o.upstream ? this.#o.upstream.roots : this.#slots.map((s) => s.cert);
    const keys: Record<string, unknown>[] = [];
    for (const c of roots) {
      keys.push({
        use: 'x509-svid',
        ...c.publicKey.export({ format: 'jwk' }),
        x5c: [c.raw.toString('base64')],
      });
    }
    for (const s of this.#slots) {
      const jwk = createPublicKey({ key: s.jwtPublicKeyDer, format: 'der', type: 'spki' }).export({
        format: 'jwk',
      });
      keys.push({ use: 'jwt-svid', kid: s.jwtKid, ...jwk });
    }
    const stored = this.#o.bundles.getBundle(tdId);
    const keysJson = JSON.stringify(keys);
    if (stored && JSON.stringify((JSON.parse(stored.json) as { keys: unknown }).keys) === keysJson) return;
    const sequence = (stored?.sequence ?? 0) + 1;
    const doc: Record<string, unknown> = {};
    if (this.#o.refreshHintSeconds) doc['spiffe_refresh_hint'] = this.#o.refreshHintSeconds;
    doc['spiffe_sequence'] = sequence;
    doc['keys'] = keys;
    this.#o.bundles.putBundle({ trustDomainId: tdId, json: JSON.stringify(doc, null, 4), sequence });
    this.#o.onBundleChanged?.(sequence);
  }

  /** The active CA. Throws FailedPreconditionError before init or when no slot can sign. */
  active(): ActiveCa {
    if (!this.#active) throw new FailedPreconditionError('ca: no active X509 CA');
    return this.#active;
  }

  /** All slots (for status output and tests), oldest first. */
  slots(): readonly CaSlot[] {
    return this.#slots;
  }

  /**
   * Signs an X509-SVID for `publicKey` with the active CA (X509-SVID §4, SPIRE credtemplate) through
   * the DER template (no certificate parsing on this path). `ttlSeconds` is capped at the CA's
   * notAfter (`capped` says so). Returns the chain as DER, leaf first, and the leaf's serial as
   * lower-case hex without leading zeros.
   */
  signX509Svid(o: {
    spiffeId: SpiffeId;
    /** The subject key: a KeyObject or its SPKI DER (faster: no OpenSSL export on this path). */
    publicKey: KeyObject | Uint8Array;
    ttlSeconds: number;
    dnsNames?: readonly string[];
  }): {
    certChainDer: Buffer[];
    serialHex: string;
    expiresAt: number;
    capped: boolean;
  } {
    const ca = this.active();
    const nowMs = this.#o.now();
    const nowS = Math.floor(nowMs / 1000);
    const expiresAt = Math.min(nowS + o.ttlSeconds, ca.notAfter);
    const serial = randomSerial();
    const leaf = mintX509SvidDer({
      spiffeId: o.spiffeId,
      publicKey: o.publicKey,
      caCert: ca.cert,
      caKey: ca.key,
      ttlSeconds: o.ttlSeconds,
      dnsNames: o.dnsNames,
      now: new Date(nowMs),
      serialNumber: serial,
    });
    return {
      certChainDer: [leaf, ...ca.chainDer],
      serialHex: serialHex(serial),
      expiresAt,
      capped: expiresAt < nowS + o.ttlSeconds,
    };
  }

  /** Mints a JWT-SVID (JWT-SVID §3) with the active JWT key; `exp` capped at the key's notAfter. */
  async signJwtSvid(o: {
    spiffeId: SpiffeId;
    audience: string[];
    ttlSeconds: number;
  }): Promise<{ token: string; expiresAt: number }> {
    const ca = this.active();
    const nowMs = this.#o.now();
    const ttlSeconds = Math.min(o.ttlSeconds, ca.notAfter - Math.floor(nowMs / 1000));
    const token = await mintJwtSvid({
      spiffeId: o.spiffeId,
      audience: o.audience,
      key: ca.jwtKey,
      kid: ca.jwtKid,
      ttlSeconds,
      now: new Date(nowMs),
      ...(this.#o.jwtIssuer ? { extraClaims: { iss: this.#o.jwtIssuer } } : {}),
    });
    return { token, expiresAt: Math.floor(nowMs / 1000) + ttlSeconds };
  }
}

/** Normalized hex form of a serial number (lower case, no leading zeros), for comparisons. */
export function serialHex(serial: Uint8Array | string): string {
  const hex = typeof serial === 'string' ? serial : Buffer.from(serial).toString('hex');
  return BigInt(`0x${hex || '0'}`).toString(16);
}

/** A random positive serial in [1, 2^128 − 1] (SPIRE credtemplate). */
function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  if (b.every((x) => x === 0)) b[15] = 1;
  return b;
}
