/**
 * Trust bundles (SPIFFE Trust Domain and Bundle §4): X.509 authorities, JWT authorities, the SPIFFE bundle
 * JWKS document that carries both, and a set of bundles keyed by trust domain.
 */
import { createPublicKey, type JsonWebKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { BundleError } from './errors.js';
import type { TrustDomain } from './id.js';
import { spkiDer } from './keys.js';
import { certificatesToDer, certificatesToPem, parseCertificates } from './pem.js';

/** Anything that can hand out the X.509 bundle of a trust domain (go-spiffe `x509bundle.Source`). */
export interface X509BundleSource {
  /** The bundle of `td`, or undefined when this source has none. */
  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined;
}

/** Anything that can hand out the JWT bundle of a trust domain (go-spiffe `jwtbundle.Source`). */
export interface JwtBundleSource {
  /** The bundle of `td`, or undefined when this source has none. */
  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle | undefined;
}

function wrap(rule: string, what: string, err: unknown): never {
  if (err instanceof BundleError) throw err;
  const reason = err instanceof Error ? err.message : String(err);
  throw new BundleError(rule, `${what}: ${reason}`, { cause: err });
}

/**
 * The X.509 authorities (root CA certificates) of one trust domain. Authorities are compared by DER bytes.
 * An empty bundle means the trust domain trusts nothing (every SVID of it fails verification).
 */
export class X509Bundle implements X509BundleSource {
  /** The trust domain the authorities belong to (bundles never name it themselves). */
  readonly trustDomain: TrustDomain;
  #authorities: X509Certificate[] = [];

  /** A bundle of `td` holding `authorities` (duplicates dropped). */
  constructor(td: TrustDomain, authorities: readonly X509Certificate[] = []) {
    this.trustDomain = td;
    for (const a of authorities) this.addAuthority(a);
  }

  /**
   * Parses PEM text or PEM/concatenated-DER bytes (Workload API `bundle` fields). Zero-length input gives
   * an empty bundle.
   * @throws BundleError (rule `malformed-x509`) with the CertificateError as `cause`.
   */
  static parse(td: TrustDomain, pemOrDer: string | Uint8Array): X509Bundle {
    if (pemOrDer.length === 0) return new X509Bundle(td);
    try {
      return new X509Bundle(td, parseCertificates(pemOrDer));
    } catch (err) {
      wrap('malformed-x509', `X.509 bundle of ${td.name}`, err);
    }
  }

  /** The authorities, in insertion order (a copy). */
  authorities(): X509Certificate[] {
    return [...this.#authorities];
  }

  /** True when the bundle has no authorities. */
  isEmpty(): boolean {
    return this.#authorities.length === 0;
  }

  /** Adds an authority unless an identical one (same DER) is present. */
  addAuthority(cert: X509Certificate): void {
    if (!this.hasAuthority(cert)) this.#authorities.push(cert);
  }

  /** Removes the authority with the same DER, if present. */
  removeAuthority(cert: X509Certificate): void {
    this.#authorities = this.#authorities.filter((a) => !a.raw.equals(cert.raw));
  }

  /** True when an authority with the same DER is present. */
  hasAuthority(cert: X509Certificate): boolean {
    return this.#authorities.some((a) => a.raw.equals(cert.raw));
  }

  /** The authorities as concatenated PEM blocks. */
  toPem(): string {
    return certificatesToPem(this.#authorities);
  }

  /** The authorities as concatenated DER (Workload API wire form). */
  toDer(): Buffer {
    return certificatesToDer(this.#authorities);
  }

  /** True when both bundles have the same trust domain and the same authorities in any order. */
  equals(o: X509Bundle): boolean {
    return (
      this.trustDomain.equals(o.trustDomain) &&
      this.#authorities.length === o.#authorities.length &&
      this.#authorities.every((a) => o.hasAuthority(a))
    );
  }

  /** This bundle when `td` is its trust domain. */
  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined {
    return td.equals(this.trustDomain) ? this : undefined;
  }
}

const keyFields: Record<string, readonly string[]> = {
  EC: ['crv', 'x', 'y'],
  RSA: ['n', 'e'],
  OKP: ['crv', 'x'],
};
const privateFields = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** Imports the public key of a JWK, refusing private key material. @throws BundleError */
function importJwk(jwk: Record<string, unknown>, where: string): KeyObject {
  if (privateFields.some((f) => f in jwk)) {
    throw new BundleError('private-key', `${where}: a bundle must not carry private key material`);
  }
  const fields = keyFields[jwk.kty as string] ?? [];
  const pub: Record<string, unknown> = { kty: jwk.kty };
  for (const f of fields) pub[f] = jwk[f];
  try {
    return createPublicKey({ key: pub as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new BundleError('invalid-jwk', `${where}: key does not import: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** The public JWK (kty + key parameters only) of a key. */
function publicJwk(key: KeyObject): Record<string, unknown> {
  const jwk = key.export({ format: 'jwk' }) as Record<string, unknown>;
  const out: Record<string, unknown> = { kty: jwk.kty };
  for (const f of keyFields[jwk.kty as string] ?? []) out[f] = jwk[f];
  return out;
}

function parseJson(json: string | Uint8Array, what: string): unknown {
  const text =
    typeof json === 'string'
      ? json
      : Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BundleError('malformed-json', `${what} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The `keys` array of a JWK Set, or a typed error (go-spiffe: "no authorities found"). */
function jwksKeys(doc: unknown, what: string): unknown[] {
  if (!isObject(doc)) throw new BundleError('malformed-json', `${what} is not a JSON object`);
  if (!Array.isArray(doc.keys)) throw new BundleError('missing-keys', `${what} has no "keys" array`);
  return doc.keys;
}

const supportedKty = new Set(Object.keys(keyFields));

/**
 * The JWT authorities (public keys by key ID) of one trust domain, used to validate JWT-SVIDs (JWT-SVID §3).
 */
export class JwtBundle implements JwtBundleSource {
  /** The trust domain the keys belong to. */
  readonly trustDomain: TrustDomain;
  #keys = new Map<string, KeyObject>();

  /** A bundle of `td` holding `keys` (kid → public key). */
  constructor(td: TrustDomain, keys?: ReadonlyMap<string, KeyObject>) {
    this.trustDomain = td;
    for (const [kid, key] of keys ?? []) this.addKey(kid, key);
  }

  /**
   * Parses a standard JWKS document (`{"keys":[…]}`, as the Workload API's FetchJWTBundles sends). Every key
   * must have a `kid`; keys with a `use` other than `jwt-svid` and keys of unknown `kty` are ignored.
   * @throws BundleError: `malformed-json`, `missing-keys`, `missing-kid`, `duplicate-kid`, `private-key`,
   *   `invalid-jwk`.
   */
  static parseJwks(td: TrustDomain, json: string | Uint8Array): JwtBundle {
    const what = `JWT bundle of ${td.name}`;
    const bundle = new JwtBundle(td);
    jwksKeys(parseJson(json, what), what).forEach((entry, i) => {
      if (!isObject(entry))
        throw new BundleError('invalid-key-entry', `${what}: keys[${i}] is not an object`);
      if (entry.use !== undefined && entry.use !== 'jwt-svid') return;
      if (!supportedKty.has(entry.kty as string)) return;
      bundle.#addParsedJwtKey(entry, `${what}: keys[${i}]`);
    });
    return bundle;
  }

  #addParsedJwtKey(entry: Record<string, unknown>, where: string): void {
    if (typeof entry.kid !== 'string' || entry.kid.length === 0) {
      throw new BundleError('missing-kid', `${where}: a JWT authority needs a "kid"`);
    }
    if (this.#keys.has(entry.kid))
      throw new BundleError('duplicate-kid', `${where}: duplicate kid ${JSON.stringify(entry.kid)}`);
    this.#keys.set(entry.kid, importJwk(entry, where));
  }

  /** @internal used by {@link SpiffeBundle.parse}. */
  static addParsedKey(bundle: JwtBundle, entry: Record<string, unknown>, where: string): void {
    bundle.#addParsedJwtKey(entry, where);
  }

  /** The keys by kid (a copy). */
  keys(): Map<string, KeyObject> {
    return new Map(this.#keys);
  }

  /** True when the bundle has no keys. */
  isEmpty(): boolean {
    return this.#keys.size === 0;
  }

  /**
   * Adds or replaces the key `kid`. A private key is reduced to its public half.
   * @throws BundleError (rule `missing-kid`) for an empty kid.
   */
  addKey(kid: string, key: KeyObject): void {
    if (typeof kid !== 'string' || kid.length === 0)
      throw new BundleError('missing-kid', 'a JWT authority needs a kid');
    this.#keys.set(kid, key.type === 'private' ? createPublicKey(key) : key);
  }

  /** Removes the key `kid`, if present. */
  removeKey(kid: string): void {
    this.#keys.delete(kid);
  }

  /** The key `kid`, or undefined. */
  findKey(kid: string): KeyObject | undefined {
    return this.#keys.get(kid);
  }

  /** True when the key `kid` is present. */
  hasKey(kid: string): boolean {
    return this.#keys.has(kid);
  }

  /** JWK objects of the keys (`kty`, key parameters, `kid`), without `use`. */
  toJwkList(): Record<string, unknown>[] {
    return [...this.#keys].map(([kid, key]) => ({ ...publicJwk(key), kid }));
  }

  /** A standard JWKS document `{"keys":[…]}` as SPIRE's Workload API sends JWT bundles (no `use`). */
  toJwks(): string {
    return JSON.stringify({ keys: this.toJwkList() });
  }

  /** This bundle when `td` is its trust domain. */
  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle | undefined {
    return td.equals(this.trustDomain) ? this : undefined;
  }
}

const maxUint64 = (1n << 64n) - 1n;

/**
 * The exact text of a number member of the top-level object in `json` (already known to be valid JSON):
 * JSON.parse loses precision past 2^53, and `spiffe_sequence` is a uint64.
 */
function topLevelNumberText(json: string, key: string): string | undefined {
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const str = json.slice(i, j + 1);
      i = j;
      if (depth !== 1) continue;
      const colon = /^\s*:\s*/.exec(json.slice(i + 1));
      if (colon && JSON.parse(str) === key) {
        return /^-?[0-9.eE+-]+/.exec(json.slice(i + 1 + colon[0].length))?.[0];
      }
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return undefined;
}

/** Options of the {@link SpiffeBundle} constructor. */
export interface SpiffeBundleOptions {
  x509?: X509Bundle | readonly X509Certificate[];
  jwt?: JwtBundle | ReadonlyMap<string, KeyObject>;
  /** `spiffe_sequence` (uint64). */
  sequence?: number | bigint;
  /** `spiffe_refresh_hint` in seconds. */
  refreshHintSeconds?: number;
}

/**
 * A SPIFFE bundle (SPIFFE Trust Domain and Bundle §4): X.509 and JWT authorities of one trust domain plus
 * `spiffe_sequence` and `spiffe_refresh_hint`, serialised as a JWK Set.
 */
export class SpiffeBundle implements X509BundleSource, JwtBundleSource {
  /** The trust domain (a bundle document never names it; the caller binds it). */
  readonly trustDomain: TrustDomain;
  /** The X.509 authorities (`use: x509-svid`). */
  readonly x509: X509Bundle;
  /** The JWT authorities (`use: jwt-svid`). */
  readonly jwt: JwtBundle;
  /** `spiffe_refresh_hint`, seconds. */
  refreshHintSeconds?: number;
  #sequence?: bigint;

  /** A bundle of `td`; X.509/JWT parts default to empty bundles of `td`. */
  constructor(td: TrustDomain, o: SpiffeBundleOptions = {}) {
    this.trustDomain = td;
    this.x509 = o.x509 instanceof X509Bundle ? o.x509 : new X509Bundle(td, o.x509 ?? []);
    this.jwt = o.jwt instanceof JwtBundle ? o.jwt : new JwtBundle(td, o.jwt);
    if (!this.x509.trustDomain.equals(td) || !this.jwt.trustDomain.equals(td)) {
      throw new BundleError('trust-domain-mismatch', `parts of a SPIFFE bundle must belong to ${td.name}`);
    }
    if (o.sequence !== undefined) this.sequence = o.sequence;
    if (o.refreshHintSeconds !== undefined) this.refreshHintSeconds = o.refreshHintSeconds;
  }

  /** `spiffe_sequence`, exact up to 2^53 − 1 (see {@link sequenceBigInt} for the full uint64 range). */
  get sequence(): number | undefined {
    return this.#sequence === undefined ? undefined : Number(this.#sequence);
  }

  set sequence(v: number | bigint | undefined) {
    if (v === undefined) {
      this.#sequence = undefined;
      return;
    }
    if (typeof v === 'number' && !Number.isSafeInteger(v)) {
      throw new BundleError('invalid-sequence', `spiffe_sequence must be an integer, got ${v}`);
    }
    const b = BigInt(v);
    if (b < 0n || b > maxUint64)
      throw new BundleError('invalid-sequence', `spiffe_sequence out of uint64 range: ${b}`);
    this.#sequence = b;
  }

  /** `spiffe_sequence` as an exact uint64. */
  get sequenceBigInt(): bigint | undefined {
    return this.#sequence;
  }

  /**
   * Parses a SPIFFE bundle document, strictly per reference §d.1 (go-spiffe `spiffebundle.Parse`):
   * `keys` must be present (may be empty); an `x509-svid` JWK needs exactly one standard-base64 DER cert in
   * `x5c` whose key matches the JWK; a `jwt-svid` JWK needs a `kid`; JWKs with missing/unknown `use` or
   * unknown `kty` are ignored; unknown top-level members are allowed.
   * @throws BundleError: `malformed-json`, `missing-keys`, `invalid-sequence`, `invalid-refresh-hint`,
   *   `invalid-key-entry`, `x5c-count`, `x5c-malformed`, `x5c-key-mismatch`, `missing-kid`, `duplicate-kid`,
   *   `private-key`, `invalid-jwk`.
   */
  static parse(td: TrustDomain, json: string | Uint8Array): SpiffeBundle {
    const what = `SPIFFE bundle of ${td.name}`;
    const text =
      typeof json === 'string'
        ? json
        : Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
    const doc = parseJson(text, what);
    const keys = jwksKeys(doc, what);
    const top = doc as Record<string, unknown>;
    const bundle = new SpiffeBundle(td);

    if (top.spiffe_sequence !== undefined) {
      const seq = top.spiffe_sequence;
      if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) {
        throw new BundleError('invalid-sequence', `${what}: spiffe_sequence must be a non-negative integer`);
      }
      const exact = Number.isSafeInteger(seq) ? String(seq) : topLevelNumberText(text, 'spiffe_sequence');
      if (exact === undefined || !/^[0-9]+$/.test(exact)) {
        throw new BundleError('invalid-sequence', `${what}: spiffe_sequence must be a non-negative integer`);
      }
      try {
        bundle.sequence = BigInt(exact);
      } catch (err) {
        wrap('invalid-sequence', what, err);
      }
    }
    if (top.spiffe_refresh_hint !== undefined) {
      const hint = top.spiffe_refresh_hint;
      if (typeof hint !== 'number' || !Number.isSafeInteger(hint) || hint < 0) {
        throw new BundleError(
          'invalid-refresh-hint',
          `${what}: spiffe_refresh_hint must be a non-negative integer (seconds)`,
        );
      }
      bundle.refreshHintSeconds = hint;
    }

    keys.forEach((entry, i) => {
      const where = `${what}: keys[${i}]`;
      if (!isObject(entry)) throw new BundleError('invalid-key-entry', `${where} is not an object`);
      if (!supportedKty.has(entry.kty as string)) return;
      if (entry.use === 'x509-svid') bundle.x509.addAuthority(parseX5c(entry, where));
      else if (entry.use === 'jwt-svid') JwtBundle.addParsedKey(bundle.jwt, entry, where);
    });
    return bundle;
  }

  /**
   * Serialises the bundle as SPIRE does (bundleutil.Marshal): X.509 authorities first (`use: x509-svid`, `x5c`
   * with one cert, no kid), then JWT authorities (`use: jwt-svid`, kid); `spiffe_refresh_hint` and
   * `spiffe_sequence` omitted when unset or zero; indented with 4 spaces.
   */
  toJson(): string {
    const keys = [
      ...this.x509.authorities().map((cert) => ({
        use: 'x509-svid',
        ...publicJwk(cert.publicKey),
        x5c: [cert.raw.toString('base64')],
      })),
      ...this.jwt.toJwkList().map((jwk) => ({ use: 'jwt-svid', ...jwk })),
    ];
    const doc: Record<string, unknown> = { keys };
    if (this.refreshHintSeconds) doc.spiffe_refresh_hint = this.refreshHintSeconds;
    // JSON.stringify can't write a bigint: write a placeholder string and splice the exact digits in.
    const placeholder = '\u0000spiffe_sequence\u0000';
    if (this.#sequence) doc.spiffe_sequence = placeholder;
    return JSON.stringify(doc, null, 4).replace(JSON.stringify(placeholder), String(this.#sequence));
  }

  /** The X.509 part when `td` is this bundle's trust domain. */
  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined {
    return td.equals(this.trustDomain) ? this.x509 : undefined;
  }

  /** The JWT part when `td` is this bundle's trust domain. */
  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle | undefined {
    return td.equals(this.trustDomain) ? this.jwt : undefined;
  }
}

function parseX5c(entry: Record<string, unknown>, where: string): X509Certificate {
  const x5c = entry.x5c;
  if (!Array.isArray(x5c) || x5c.length !== 1) {
    throw new BundleError('x5c-count', `${where}: an x509-svid JWK needs exactly one certificate in "x5c"`);
  }
  const b64 = x5c[0];
  if (
    typeof b64 !== 'string' ||
    b64.length === 0 ||
    b64.length % 4 !== 0 ||
    !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)
  ) {
    throw new BundleError('x5c-malformed', `${where}: x5c[0] is not standard base64`);
  }
  let cert: X509Certificate;
  try {
    const certs = parseCertificates(Buffer.from(b64, 'base64'));
    if (certs.length !== 1)
      throw new BundleError('x5c-malformed', `${where}: x5c[0] holds ${certs.length} certificates`);
    cert = certs[0]!;
  } catch (err) {
    wrap('x5c-malformed', `${where}: x5c[0]`, err);
  }
  const jwkKey = importJwk(entry, where);
  let matches: boolean;
  try {
    matches = spkiDer(jwkKey).equals(spkiDer(cert.publicKey));
  } catch {
    matches = false;
  }
  if (!matches)
    throw new BundleError('x5c-key-mismatch', `${where}: the JWK key does not match its x5c certificate`);
  return cert;
}

/**
 * Bundles of many trust domains (own + federated), keyed by trust domain; X.509 and JWT parts are kept
 * separately so sources that deliver only one kind (FetchX509Bundles, FetchJWTBundles) can fill it.
 */
export class BundleSet implements X509BundleSource, JwtBundleSource {
  #x509 = new Map<string, X509Bundle>();
  #jwt = new Map<string, JwtBundle>();
  #meta = new Map<string, { trustDomain: TrustDomain; sequence?: bigint; refreshHintSeconds?: number }>();

  /** A set holding `bundles` (later ones replace earlier parts of the same trust domain). */
  constructor(bundles: Iterable<SpiffeBundle | X509Bundle | JwtBundle> = []) {
    for (const b of bundles) this.add(b);
  }

  /**
   * Adds a bundle, replacing the same kind of bundle of its trust domain: a SpiffeBundle replaces both
   * parts, an X509Bundle only the X.509 part, a JwtBundle only the JWT part.
   */
  add(b: SpiffeBundle | X509Bundle | JwtBundle): void {
    const name = b.trustDomain.name;
    const meta = this.#meta.get(name) ?? { trustDomain: b.trustDomain };
    this.#meta.set(name, meta);
    if (b instanceof SpiffeBundle) {
      this.#x509.set(name, b.x509);
      this.#jwt.set(name, b.jwt);
      if (b.sequenceBigInt !== undefined) meta.sequence = b.sequenceBigInt;
      if (b.refreshHintSeconds !== undefined) meta.refreshHintSeconds = b.refreshHintSeconds;
    } else if (b instanceof X509Bundle) {
      this.#x509.set(name, b);
    } else {
      this.#jwt.set(name, b);
    }
  }

  /** The bundle of `td` as a SpiffeBundle (missing parts are empty), or undefined when `td` is unknown. */
  get(td: TrustDomain): SpiffeBundle | undefined {
    const meta = this.#meta.get(td.name);
    if (!meta) return undefined;
    const x509 = this.#x509.get(td.name);
    const jwt = this.#jwt.get(td.name);
    return new SpiffeBundle(meta.trustDomain, {
      ...(x509 ? { x509 } : {}),
      ...(jwt ? { jwt } : {}),
      ...(meta.sequence !== undefined ? { sequence: meta.sequence } : {}),
      ...(meta.refreshHintSeconds !== undefined ? { refreshHintSeconds: meta.refreshHintSeconds } : {}),
    });
  }

  /** True when the set has any bundle of `td`. */
  has(td: TrustDomain): boolean {
    return this.#meta.has(td.name);
  }

  /** Removes every bundle of `td`. */
  remove(td: TrustDomain): void {
    this.#meta.delete(td.name);
    this.#x509.delete(td.name);
    this.#jwt.delete(td.name);
  }

  /** Number of trust domains in the set. */
  get size(): number {
    return this.#meta.size;
  }

  /** The trust domains in the set, sorted by name. */
  trustDomains(): TrustDomain[] {
    return [...this.#meta.values()]
      .map((m) => m.trustDomain)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The X.509 bundles, sorted by trust domain name. */
  x509Bundles(): X509Bundle[] {
    return this.trustDomains().flatMap((td) => this.#x509.get(td.name) ?? []);
  }

  /** The JWT bundles, sorted by trust domain name. */
  jwtBundles(): JwtBundle[] {
    return this.trustDomains().flatMap((td) => this.#jwt.get(td.name) ?? []);
  }

  /** The X.509 bundle of `td`, if any. */
  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined {
    return this.#x509.get(td.name);
  }

  /** The JWT bundle of `td`, if any. */
  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle | undefined {
    return this.#jwt.get(td.name);
  }
}
