/**
 * SPIFFE IDs and trust domains (SPIFFE-ID §2), with exactly go-spiffe's `spiffeid` parsing rules plus the
 * certificate-safety rules on trust domain names that keep minted certificates parseable by Go's x509.
 */
import { SpiffeIdError } from './errors.js';

const schemePrefix = 'spiffe://';

/** Longest trust domain name accepted, in bytes (SPIFFE-ID §2.1 derives it from RFC 3986 host). */
export const maxTrustDomainLength = 255;
/** Longest DNS label accepted in a trust domain name (Go's x509 URI host checks). */
export const maxTrustDomainLabelLength = 63;
/**
 * SPIFFE-ID §2 length rule, in bytes: implementations must accept IDs of at least this length and
 * should not generate longer ones. So {@link SpiffeId.parse} accepts any length (as go-spiffe does:
 * an ID from elsewhere must not fail here when it works there), while the builders
 * ({@link SpiffeId.fromPath}, {@link SpiffeId.fromSegments}) and SVID minting refuse to go past it.
 */
export const maxSpiffeIdLength = 2048;

const reasons = {
  empty: 'cannot be empty',
  'wrong-scheme': 'scheme is missing or invalid',
  'td-missing': 'trust domain is missing',
  'td-char':
    'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
  'td-too-long': `trust domain cannot be longer than ${maxTrustDomainLength} bytes`,
  'td-empty-label': 'trust domain cannot contain an empty label (leading dot or "..")',
  'td-trailing-dot': 'trust domain cannot end with a dot',
  'td-label-too-long': `trust domain labels cannot be longer than ${maxTrustDomainLabelLength} bytes`,
  'path-not-absolute': 'path must have a leading slash',
  'empty-segment': 'path cannot contain empty segments',
  'trailing-slash': 'path cannot have a trailing slash',
  'dot-segment': 'path cannot contain dot segments',
  'path-char': 'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
  'too-long': `SPIFFE IDs longer than ${maxSpiffeIdLength} bytes are not generated (SPIFFE-ID §2)`,
} as const;

type Rule = keyof typeof reasons;

function fail(rule: Rule, input: string): never {
  throw new SpiffeIdError(rule, input, reasons[rule]);
}

function isTrustDomainChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2e || // .
    c === 0x2d || // -
    c === 0x5f // _
  );
}

function isPathSegmentChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || isTrustDomainChar(c);
}

/** Checks a trust domain name (without scheme); `input` is what the caller passed, for the message. */
function validateTrustDomainName(name: string, input: string): void {
  if (name.length === 0) fail('td-missing', input);
  for (let i = 0; i < name.length; i++) {
    if (!isTrustDomainChar(name.charCodeAt(i))) fail('td-char', input);
  }
  if (name.length > maxTrustDomainLength) fail('td-too-long', input);
  if (name.endsWith('.')) fail('td-trailing-dot', input);
  for (const label of name.split('.')) {
    if (label.length === 0) fail('td-empty-label', input);
    if (label.length > maxTrustDomainLabelLength) fail('td-label-too-long', input);
  }
}

/** go-spiffe `validatePath`: the rules are checked segment by segment, in input order. */
function validatePath(path: string, input: string): void {
  if (path.length === 0) return;
  if (path.charCodeAt(0) !== 0x2f) fail('path-not-absolute', input);
  let segStart = 0;
  let segEnd = 0;
  for (; segEnd < path.length; segEnd++) {
    const c = path.charCodeAt(segEnd);
    if (c === 0x2f) {
      const seg = path.slice(segStart, segEnd);
      if (seg === '/') fail('empty-segment', input);
      if (seg === '/.' || seg === '/..') fail('dot-segment', input);
      segStart = segEnd;
      continue;
    }
    if (!isPathSegmentChar(c)) fail('path-char', input);
  }
  const last = path.slice(segStart, segEnd);
  if (last === '/') fail('trailing-slash', input);
  if (last === '/.' || last === '/..') fail('dot-segment', input);
}

const construct = Symbol('construct');

/**
 * A SPIFFE trust domain (SPIFFE-ID §2.1): a validated, lowercase name such as `example.org`.
 * Immutable; two trust domains are equal when their names are equal, so `name` works as a Map key.
 */
export class TrustDomain {
  /** The bare name, e.g. `example.org`. */
  readonly name: string;

  /** @internal use {@link TrustDomain.parse}. */
  constructor(token: typeof construct, name: string) {
    if (token !== construct) throw new TypeError('use TrustDomain.parse');
    this.name = name;
  }

  /**
   * Parses `example.org`, or any full SPIFFE ID (`spiffe://example.org`, `spiffe://example.org/path`)
   * whose trust domain is taken, as go-spiffe `TrustDomainFromString` does for bundle-map keys.
   * @throws SpiffeIdError naming the rule (charset, missing, certificate-safety rules).
   */
  static parse(s: string): TrustDomain {
    if (typeof s !== 'string') fail('empty', String(s));
    if (s.includes(':/')) return SpiffeId.parse(s).trustDomain;
    validateTrustDomainName(s, s);
    return new TrustDomain(construct, s);
  }

  /** The trust domain's SPIFFE ID string, `spiffe://<name>`. */
  idString(): string {
    return schemePrefix + this.name;
  }

  /** The trust domain's SPIFFE ID (`spiffe://<name>`, empty path): the URI SAN of its CA certificates. */
  id(): SpiffeId {
    return SpiffeId.fromPath(this, '');
  }

  /** True when `o` is a trust domain with the same name. */
  equals(o: TrustDomain | undefined | null): boolean {
    return o instanceof TrustDomain && o.name === this.name;
  }

  /** The bare name. */
  toString(): string {
    return this.name;
  }

  /** The bare name (so IDs serialise as strings). */
  toJSON(): string {
    return this.name;
  }
}

/**
 * Returns `id` if it may be put into a new SVID or registration: at most {@link maxSpiffeIdLength}
 * bytes (SPIFFE-ID §2: SHOULD NOT generate longer IDs; they stay valid to parse).
 * @throws SpiffeIdError `too-long`.
 */
export function assertGeneratableSpiffeId(id: SpiffeId): SpiffeId {
  // SPIFFE IDs are ASCII by construction, so string length is the byte length.
  if (id.toString().length > maxSpiffeIdLength) fail('too-long', id.toString());
  return id;
}

/**
 * A SPIFFE ID (SPIFFE-ID §2): `spiffe://<trust domain><path>`. Immutable and valid by construction;
 * equality is string equality of the canonical form, so `toString()` works as a Map key.
 */
export class SpiffeId {
  /** The trust domain the ID belongs to. */
  readonly trustDomain: TrustDomain;
  /** The path, `''` for a trust domain ID or `/seg/…` (case-sensitive). */
  readonly path: string;
  readonly #string: string;

  /** @internal use {@link SpiffeId.parse} or {@link SpiffeId.fromPath}. */
  constructor(token: typeof construct, td: TrustDomain, path: string) {
    if (token !== construct) throw new TypeError('use SpiffeId.parse');
    this.trustDomain = td;
    this.path = path;
    this.#string = td.idString() + path;
  }

  /**
   * Parses a SPIFFE ID with go-spiffe `FromString`'s rules (literal lowercase `spiffe://`, trust domain
   * `[a-z0-9._-]`, path segments `[a-zA-Z0-9._-]`, no empty/dot segments, no trailing slash) plus the
   * trust-domain certificate-safety rules (no empty label, no trailing dot, label ≤ 63, name ≤ 255 bytes).
   * Any total length is accepted (see {@link maxSpiffeIdLength}).
   * @throws SpiffeIdError naming the first rule the input breaks.
   */
  static parse(s: string): SpiffeId {
    if (typeof s !== 'string' || s.length === 0) fail('empty', typeof s === 'string' ? s : String(s));
    if (!s.startsWith(schemePrefix)) fail('wrong-scheme', s);
    const rest = s.slice(schemePrefix.length);
    let slash = rest.indexOf('/');
    if (slash < 0) slash = rest.length;
    const name = rest.slice(0, slash);
    validateTrustDomainName(name, s);
    const path = rest.slice(slash);
    validatePath(path, s);
    return new SpiffeId(construct, new TrustDomain(construct, name), path);
  }

  /**
   * Builds an ID from a trust domain and a path (`''` or `/a/b`), validating the path as {@link parse} does.
   * @throws SpiffeIdError for a bad path, or `too-long` past {@link maxSpiffeIdLength} bytes.
   */
  static fromPath(td: TrustDomain, path: string): SpiffeId {
    validatePath(path, td.idString() + path);
    return assertGeneratableSpiffeId(new SpiffeId(construct, td, path));
  }

  /**
   * Builds an ID from path segments (each without `/`), e.g. `fromSegments(td, 'ns', 'default')`.
   * @throws SpiffeIdError for an empty, dot, or badly-charactered segment, or `too-long`.
   */
  static fromSegments(td: TrustDomain, ...segments: string[]): SpiffeId {
    const path = segments.map((seg) => `/${seg}`).join('');
    for (const seg of segments) {
      if (seg.includes('/')) fail('path-char', td.idString() + path);
    }
    return SpiffeId.fromPath(td, path);
  }

  /** True for a trust domain ID (`spiffe://td`, empty path), which X509-SVID §2 forbids on a leaf. */
  isTrustDomainId(): boolean {
    return this.path === '';
  }

  /** True when the ID belongs to `td`. */
  memberOf(td: TrustDomain): boolean {
    return this.trustDomain.equals(td);
  }

  /** True when `o` is the same ID (byte equality of the canonical strings). */
  equals(o: SpiffeId | undefined | null): boolean {
    return o instanceof SpiffeId && o.#string === this.#string;
  }

  /** The canonical string, `spiffe://<td><path>`. */
  toString(): string {
    return this.#string;
  }

  /** The canonical string. */
  toJSON(): string {
    return this.#string;
  }
}
