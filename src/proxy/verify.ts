/**
 * Peer certificate verification, done in code after the TLS handshake (the handshake itself runs
 * with `rejectUnauthorized: false` so the proxy decides, and counts, every outcome as Envoy does).
 *
 * Two validator flavours of CertificateValidationContext:
 * - SPIFFE validator (`envoy.tls.cert_validator.spiffe`): src/spiffe's `verifyX509Svid` (X509-SVID §5:
 *   one SPIFFE ID URI SAN, leaf not a CA, path to the bundle of the leaf's own trust domain).
 * - plain `trusted_ca`: the chain must lead to one of the roots.
 * Both check validity periods of every certificate, signatures along the chain, CA flags of
 * issuers, then `match_typed_subject_alt_names` (any SAN of the given type matching any matcher).
 */
import { X509Certificate } from 'node:crypto';
import { TrustDomain, X509Bundle, verifyX509Svid, type X509BundleSource } from '../spiffe/index.js';
import { PeerVerificationError } from './errors.js';
import type { SanMatcher, StringMatcher, ValidationContextSecret } from './config.js';

/** A validation context compiled for fast per-connection use. */
export interface PeerValidator {
  /** Verifies `chain` (leaf first, DER-parsed) at `nowMs`; returns the peer's URI SANs. Throws
   * {@link PeerVerificationError} with Envoy's failure reason. */
  verify(chain: X509Certificate[], nowMs: number): string[];
}

const MAX_DEPTH = 8;

/** Splits the certificate chain of a PEM bundle into X509Certificates (non-certificate blocks ignored). */
export function parsePemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** The SANs of a certificate as `[type, value]` pairs, types as Envoy names them (URI, DNS, EMAIL, IP_ADDRESS). */
export function subjectAltNames(cert: X509Certificate): [string, string][] {
  const raw = cert.subjectAltName;
  if (!raw) return [];
  const out: [string, string][] = [];
  // Node quotes values containing separators as JSON strings; split on ", " outside quotes.
  for (const part of raw.match(/(?:[^,"]+|"(?:[^"\\]|\\.)*")+/g) ?? []) {
    const s = part.trim();
    const i = s.indexOf(':');
    if (i < 0) continue;
    const type = s.slice(0, i);
    let value = s.slice(i + 1);
    if (value.startsWith('"')) value = JSON.parse(value) as string;
    const t = type === 'IP Address' ? 'IP_ADDRESS' : type === 'email' ? 'EMAIL' : type;
    out.push([t, value]);
  }
  return out;
}

/** Envoy StringMatcher semantics on one value. */
export function matchString(m: StringMatcher, value: string): boolean {
  if (m.kind === 'regex') return m.regex.test(value);
  const v = m.ignoreCase ? value.toLowerCase() : value;
  switch (m.kind) {
    case 'exact':
      return v === m.value;
    case 'prefix':
      return v.startsWith(m.value);
    case 'suffix':
      return v.endsWith(m.value);
    case 'contains':
      return v.includes(m.value);
  }
}

function sanMatches(matchers: SanMatcher[], sans: [string, string][]): boolean {
  if (!matchers.length) return true;
  for (const m of matchers)
    for (const [t, v] of sans)
      if ((m.sanType === undefined || m.sanType === t) && matchString(m.matcher, v)) return true;
  return false;
}

function checkValidity(c: X509Certificate, nowMs: number, what: string): void {
  if (nowMs < Date.parse(c.validFrom))
    throw new PeerVerificationError('error', `${what} is not yet valid (notBefore ${c.validFrom})`);
  if (nowMs > Date.parse(c.validTo))
    throw new PeerVerificationError('error', `${what} has expired (notAfter ${c.validTo})`);
}

/** Walks from the leaf to a root in `roots`, using the peer's intermediates; throws when no path. */
function verifyPath(
  chain: X509Certificate[],
  roots: X509Certificate[],
  nowMs: number,
  allowExpired: boolean,
): void {
  let current = chain[0]!;
  const pool = chain.slice(1);
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    for (const root of roots) {
      if (current.checkIssued(root) && current.verify(root.publicKey)) {
        if (!allowExpired) checkValidity(root, nowMs, 'trust anchor');
        return;
      }
    }
    if (roots.some((r) => r.raw.equals(current.raw))) return;
    const next = pool.find((c) => current.checkIssued(c) && c.ca && current.verify(c.publicKey));
    if (!next)
      throw new PeerVerificationError(
        'error',
        `no chain from ${JSON.stringify(chain[0]!.subject)} to a trusted root (issuer ${JSON.stringify(current.issuer)})`,
      );
    if (!allowExpired) checkValidity(next, nowMs, 'intermediate');
    current = next;
  }
  throw new PeerVerificationError('error', `chain longer than ${MAX_DEPTH}`);
}

/**
 * Compiles the effective validation context — the dynamic secret merged with a combined
 * context's default (SAN matchers, allow_expired) as Envoy merges them — into a validator.
 */
export function compileValidator(
  secret: ValidationContextSecret | undefined,
  defaults: ValidationContextSecret | undefined,
): PeerValidator {
  const sanMatchers = [...(defaults?.sanMatchers ?? []), ...(secret?.sanMatchers ?? [])];
  const allowExpired = Boolean(defaults?.allowExpired || secret?.allowExpired);
  const spiffe = secret?.spiffeTrustDomains ?? defaults?.spiffeTrustDomains;
  const bundles = new Map<string, X509Bundle>();
  if (spiffe)
    for (const [td, pem] of spiffe) {
      const t = TrustDomain.parse(td);
      bundles.set(t.name, new X509Bundle(t, parsePemCertificates(pem)));
    }
  const source: X509BundleSource = { getX509BundleForTrustDomain: (td) => bundles.get(td.name) };
  const trustedCaPem = secret?.trustedCaPem ?? defaults?.trustedCaPem;
  const trusted = trustedCaPem ? parsePemCertificates(trustedCaPem) : [];
  return {
    verify(chain, nowMs) {
      const leaf = chain[0];
      if (!leaf) throw new PeerVerificationError('no_cert', 'the peer sent no certificate');
      const sans = subjectAltNames(leaf);
      const uris = sans.filter(([t]) => t === 'URI').map(([, v]) => v);
      if (spiffe) {
        // X509-SVID §5 (src/spiffe): leaf rules, path to the bundle of the leaf's own trust domain.
        try {
          verifyX509Svid(chain, source, { now: new Date(allowExpired ? Date.parse(leaf.validFrom) : nowMs) });
        } catch (err) {
          throw new PeerVerificationError('error', (err as Error).message);
        }
      } else if (trusted.length) {
        if (!allowExpired) checkValidity(leaf, nowMs, 'leaf certificate');
        verifyPath(chain, trusted, nowMs, allowExpired);
      } else {
        throw new PeerVerificationError('error', 'validation context has no trusted roots');
      }
      if (!sanMatches(sanMatchers, sans))
        throw new PeerVerificationError(
          'san',
          `no SAN of ${JSON.stringify(leaf.subjectAltName ?? '')} matches the configured subject alt names`,
        );
      return uris;
    },
  };
}

/** The peer's chain of a connected TLS socket as X509Certificates, leaf first (what the peer sent). */
export function peerChain(socket: {
  getPeerCertificate(detailed: true): { raw?: Buffer; issuerCertificate?: unknown };
}): X509Certificate[] {
  const out: X509Certificate[] = [];
  let c = socket.getPeerCertificate(true) as { raw?: Buffer; issuerCertificate?: unknown } | undefined;
  const seen = new Set<string>();
  while (c?.raw && out.length < MAX_DEPTH + 1) {
    const key = c.raw.toString('base64');
    if (seen.has(key)) break;
    seen.add(key);
    out.push(new X509Certificate(c.raw));
    c = c.issuerCertificate as typeof c;
  }
  return out;
}
