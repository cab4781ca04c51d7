/**
 * JWT-SVIDs (JWT-SVID §2–3, reference §c): minting as SPIRE does and validation as go-spiffe
 * `jwtsvid.ParseAndValidate` does, on top of `jose`.
 */
import type { KeyObject } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { JwtBundleSource } from './bundle.js';
import { JwtSvidError, SpiffeError } from './errors.js';
import { SpiffeId, assertGeneratableSpiffeId } from './id.js';
import { signatureAlgorithmFor } from './keys.js';

/** The JWS `alg` values JWT-SVID §3 permits; anything else (`none`, HS*, EdDSA…) is rejected. */
export const allowedJwtSvidAlgorithms = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
] as const;

const allowedHeaderParams = new Set(['alg', 'kid', 'typ']);

function fail(rule: string, message: string, cause?: unknown): never {
  throw new JwtSvidError(rule, message, cause === undefined ? {} : { cause });
}

/** Options of {@link mintJwtSvid}. */
export interface MintJwtSvidOptions {
  /** `sub`: the workload's SPIFFE ID (must have a path). */
  spiffeId: SpiffeId;
  /** `aud`, always emitted as an array; at least one non-empty value. */
  audience: readonly string[];
  /** Signing key of the trust domain's JWT authority (P-256 → ES256, P-384 → ES384, P-521 → ES512, RSA → RS256). */
  key: KeyObject;
  /** Key ID of `key` in the JWT bundle; required in practice by every validator (reference §c). */
  kid: string;
  /** Lifetime in seconds: `exp` = `iat` + ttlSeconds. */
  ttlSeconds: number;
  /** Issuance time (default: now); `iat` is its unix seconds. */
  now?: Date;
  /** Further claims (e.g. `iss`, `jti`); they can't override `sub`, `aud`, `iat`, `exp`. */
  extraClaims?: object;
}

/**
 * Mints a JWT-SVID as SPIRE does: JWS compact, header exactly `{alg, kid, typ: "JWT"}`, claims `sub`,
 * `aud` (array), `iat`, `exp` (unix seconds) plus `extraClaims`.
 * @throws JwtSvidError: `invalid-subject`, `audience-required`, `missing-kid`, `invalid-ttl`,
 *   `unsupported-key`, `mint-failed`; SpiffeIdError `too-long` for an ID past 2048 bytes.
 */
export async function mintJwtSvid(o: MintJwtSvidOptions): Promise<string> {
  if (!(o.spiffeId instanceof SpiffeId) || o.spiffeId.isTrustDomainId()) {
    fail('invalid-subject', `sub must be a workload SPIFFE ID with a path, got ${String(o.spiffeId)}`);
  }
  assertGeneratableSpiffeId(o.spiffeId);
  if (
    !Array.isArray(o.audience) ||
    o.audience.length === 0 ||
    o.audience.some((a) => typeof a !== 'string' || a === '')
  ) {
    fail('audience-required', 'audience must hold at least one non-empty value');
  }
  if (typeof o.kid !== 'string' || o.kid === '') fail('missing-kid', 'kid must be a non-empty string');
  if (!Number.isFinite(o.ttlSeconds) || o.ttlSeconds <= 0)
    fail('invalid-ttl', `ttlSeconds must be > 0, got ${o.ttlSeconds}`);
  let alg: string | undefined;
  try {
    alg = signatureAlgorithmFor(o.key).jwsAlg;
  } catch (err) {
    fail('unsupported-key', (err as Error).message, err);
  }
  if (!alg || o.key.type !== 'private')
    fail('unsupported-key', 'the key must be an EC P-256/P-384/P-521 or RSA private key');
  const iat = Math.floor((o.now ?? new Date()).getTime() / 1000);
  try {
    return await new SignJWT({
      ...o.extraClaims,
      sub: o.spiffeId.toString(),
      aud: [...o.audience],
      iat,
      exp: iat + Math.floor(o.ttlSeconds),
    })
      .setProtectedHeader({ alg, kid: o.kid, typ: 'JWT' })
      .sign(o.key);
  } catch (err) {
    fail('mint-failed', `cannot sign JWT-SVID: ${(err as Error).message}`, err);
  }
}

/** Result of {@link validateJwtSvid}. */
export interface ValidatedJwtSvid {
  /** `sub` as a SPIFFE ID. */
  spiffeId: SpiffeId;
  /** Every claim of the token, as decoded JSON. */
  claims: Record<string, unknown>;
  /** `exp` as a Date. */
  expiresAt: Date;
}

const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Validates a JWT-SVID (JWT-SVID §3, go-spiffe `ParseAndValidate` order): compact JWS only; header holds only
 * `alg` (allow-listed), `kid` (required) and `typ` (`JWT`/`JOSE` if present); `sub` parses as a SPIFFE ID and
 * **its trust domain selects the bundle**; the key is found by `kid`; the signature verifies; `exp` is
 * required and in the future (± `leewaySeconds`, default 0); `nbf` is honoured; `aud` (string or array) must
 * contain `audience`, which must itself be non-empty (go-spiffe PR #407).
 * @param o.now validation time (default: now).
 * @throws JwtSvidError: `audience-required`, `malformed`, `header-param`, `alg-not-allowed`, `bad-typ`,
 *   `missing-kid`, `invalid-subject`, `missing-exp`, `missing-audience`, `no-bundle`, `key-not-found`,
 *   `signature`, `expired`, `not-yet-valid`, `audience-mismatch`, `invalid-claims`.
 */
export async function validateJwtSvid(
  token: string,
  audience: string,
  bundles: JwtBundleSource,
  o: { now?: Date; leewaySeconds?: number } = {},
): Promise<ValidatedJwtSvid> {
  if (typeof audience !== 'string' || audience === '')
    fail('audience-required', 'the expected audience must be non-empty');
  if (typeof token !== 'string' || !compactJws.test(token)) {
    fail('malformed', 'token is not a JWS compact serialization (three base64url parts)');
  }
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
    claims = decodeJwt(token) as Record<string, unknown>;
  } catch (err) {
    fail('malformed', `token does not decode: ${(err as Error).message}`, err);
  }
  for (const name of Object.keys(header)) {
    if (!allowedHeaderParams.has(name))
      fail('header-param', `header parameter ${JSON.stringify(name)} is not permitted`);
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || !(allowedJwtSvidAlgorithms as readonly string[]).includes(alg)) {
    fail('alg-not-allowed', `alg ${JSON.stringify(alg)} is not permitted for JWT-SVIDs`);
  }
  if (header.typ !== undefined && header.typ !== 'JWT' && header.typ !== 'JOSE') {
    fail('bad-typ', 'token header type not equal to either JWT or JOSE');
  }
  const kid = header.kid;
  if (typeof kid !== 'string' || kid === '') fail('missing-kid', 'token header missing key id');
  if (typeof claims.sub !== 'string') fail('invalid-subject', 'token has no sub claim');
  let spiffeId: SpiffeId;
  try {
    spiffeId = SpiffeId.parse(claims.sub);
  } catch (err) {
    fail('invalid-subject', `sub is not a SPIFFE ID: ${(err as Error).message}`, err);
  }
  if (typeof claims.exp !== 'number') fail('missing-exp', 'token has no numeric exp claim');
  if (claims.aud === undefined) fail('missing-audience', 'token has no aud claim');
  const bundle = bundles.getJwtBundleForTrustDomain(spiffeId.trustDomain);
  if (!bundle) fail('no-bundle', `no JWT bundle for trust domain ${spiffeId.trustDomain.name}`);
  const key = bundle.findKey(kid);
  if (!key)
    fail(
      'key-not-found',
      `no JWT authority with kid ${JSON.stringify(kid)} in the bundle of ${spiffeId.trustDomain.name}`,
    );

  try {
    await jwtVerify(token, key, {
      algorithms: [alg],
      audience,
      currentDate: o.now ?? new Date(),
      clockTolerance: o.leewaySeconds ?? 0,
      requiredClaims: ['sub', 'exp', 'aud'],
    });
  } catch (err) {
    if (err instanceof SpiffeError) throw err;
    if (err instanceof joseErrors.JWTExpired)
      fail('expired', `token expired at ${new Date(claims.exp * 1000).toISOString()}`, err);
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      if (err.claim === 'aud')
        fail('audience-mismatch', `expected audience ${JSON.stringify(audience)} is not in aud`, err);
      if (err.claim === 'nbf') fail('not-yet-valid', 'token is not valid yet (nbf)', err);
      fail('invalid-claims', `claim ${err.claim} is invalid: ${err.reason}`, err);
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed)
      fail('signature', 'signature verification failed', err);
    fail(
      'signature',
      `token does not verify with key ${JSON.stringify(kid)}: ${(err as Error).message}`,
      err,
    );
  }
  return { spiffeId, claims, expiresAt: new Date(claims.exp * 1000) };
}
