/**
 * Typed errors of the SPIFFE primitives. Every parser and verifier in `trustmesh/spiffe` throws only
 * subclasses of {@link SpiffeError}; each names the rejected input and the violated rule.
 */

const lineageKey = Symbol.for('trustmesh.error.lineage');

/** Longest excerpt of a rejected input quoted in a message, so hostile input can't flood logs. */
const maxQuoted = 160;

/** Quotes an input for an error message: JSON-escaped, truncated to a readable length. */
export function quoteInput(input: unknown): string {
  const s = typeof input === 'string' ? input : String(input);
  return JSON.stringify(s.length > maxQuoted ? `${s.slice(0, maxQuoted)}…` : s);
}

/** Turns a kebab-case rule into the suffix of an error code: `dot-segment` → `DOT_SEGMENT`. */
function codeSuffix(rule: string): string {
  return rule.toUpperCase().replace(/-/g, '_');
}

/** `Root/Area/Rule`: a class's name qualified by its ancestors below {@link TrustmeshError}. */
function qualifiedName(cls: unknown): string {
  const names: string[] = [];
  for (let c = cls; typeof c === 'function' && c !== Error; c = Object.getPrototypeOf(c)) {
    names.unshift((c as { name: string }).name);
  }
  return names.join('/');
}

/**
 * Root of every trustmesh error class (after undici's `UndiciError`): a stable `code`, `cause`
 * chaining, and an `instanceof` that holds across two loaded copies of the package.
 *
 * Each area derives one base class (`SpiffeError`, `AgentError`, `XdsError`…) with its message
 * prefix, and one subclass per rule. `instanceof X` compares `X`'s qualified name
 * (`TrustmeshError/AgentError/AgentConfigError`) with those recorded on the error, so a subclass
 * never matches its siblings and two areas' same-named classes never match each other.
 */
export class TrustmeshError extends Error {
  /** Stable machine-readable code, e.g. `TM_ERR_SPIFFEID_DOT_SEGMENT`. */
  readonly code: string;

  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    // `TrustmeshError`, `TrustmeshError/AgentError`, `TrustmeshError/AgentError/AgentConfigError`.
    const names = qualifiedName(new.target).split('/');
    Object.defineProperty(this, lineageKey, { value: names.map((_, i) => names.slice(0, i + 1).join('/')) });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const lineage = (value as { [lineageKey]?: unknown })[lineageKey];
    return Array.isArray(lineage) && lineage.includes(qualifiedName(this));
  }
}

/**
 * Base class of every error thrown by `trustmesh/spiffe`.
 *
 * `code` is stable (`TM_ERR_<AREA>_<RULE>`), `rule` is the kebab-case rule name, `input` holds the
 * rejected value when there is one, and `cause` chains the lower-level error.
 */
export class SpiffeError extends TrustmeshError {
  /** Kebab-case name of the violated rule, e.g. `dot-segment`. */
  readonly rule: string;
  /** The rejected value, when the error is about one input. */
  readonly input?: unknown;
  constructor(
    area: string,
    rule: string,
    message: string,
    options: { input?: unknown; cause?: unknown } = {},
  ) {
    super(`TM_ERR_${area}_${codeSuffix(rule)}`, message, options);
    this.rule = rule;
    if (options.input !== undefined) this.input = options.input;
  }
}

/** Rules of SPIFFE-ID §2 (go-spiffe `spiffeid`) plus certificate-safety rules on the trust domain. */
export type SpiffeIdRule =
  | 'empty'
  | 'wrong-scheme'
  | 'td-missing'
  | 'td-char'
  | 'td-too-long'
  | 'td-empty-label'
  | 'td-trailing-dot'
  | 'td-label-too-long'
  | 'path-not-absolute'
  | 'empty-segment'
  | 'trailing-slash'
  | 'dot-segment'
  | 'path-char'
  | 'not-member'
  | 'too-long';

/** A SPIFFE ID or trust domain string that breaks a rule of SPIFFE-ID §2. Code `TM_ERR_SPIFFEID_*`. */
export class SpiffeIdError extends SpiffeError {
  declare readonly rule: SpiffeIdRule;
  constructor(rule: SpiffeIdRule, input: string, reason: string) {
    super('SPIFFEID', rule, `${quoteInput(input)}: ${reason}`, { input });
  }
}

/**
 * A certificate that could not be parsed or minted, or an X509-SVID that fails X509-SVID §4–5.
 * `rule` names the failed check (e.g. `leaf-is-ca`, `expired`, `untrusted`). Code `TM_ERR_X509SVID_*`.
 */
export class X509SvidError extends SpiffeError {
  constructor(rule: string, message: string, options: { input?: unknown; cause?: unknown } = {}) {
    super('X509SVID', rule, `x509svid: ${message}`, options);
  }
}

/** PEM/DER certificate or key data that does not parse. Code `TM_ERR_CERT_*`. */
export class CertificateError extends SpiffeError {
  constructor(rule: string, message: string, options: { input?: unknown; cause?: unknown } = {}) {
    super('CERT', rule, `certificate: ${message}`, options);
  }
}

/** An X.509, JWT or SPIFFE bundle that breaks SPIFFE Trust Domain and Bundle §4. Code `TM_ERR_BUNDLE_*`. */
export class BundleError extends SpiffeError {
  constructor(rule: string, message: string, options: { input?: unknown; cause?: unknown } = {}) {
    super('BUNDLE', rule, `bundle: ${message}`, options);
  }
}

/** A JWT-SVID that can't be minted or fails JWT-SVID §3 validation. Code `TM_ERR_JWTSVID_*`. */
export class JwtSvidError extends SpiffeError {
  constructor(rule: string, message: string, options: { input?: unknown; cause?: unknown } = {}) {
    super('JWTSVID', rule, `jwtsvid: ${message}`, options);
  }
}

/** A PKCS#10 certificate signing request that does not parse or whose signature is wrong. Code `TM_ERR_CSR_*`. */
export class CsrError extends SpiffeError {
  constructor(rule: string, message: string, options: { input?: unknown; cause?: unknown } = {}) {
    super('CSR', rule, `csr: ${message}`, options);
  }
}
