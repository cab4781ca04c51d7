import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT, UnsecuredJWT } from 'jose';
import {
  BundleSet,
  generateKeyPair,
  JwtBundle,
  JwtSvidError,
  mintJwtSvid,
  SpiffeId,
  TrustDomain,
  validateJwtSvid,
} from '../../src/spiffe/index.js';

const td = TrustDomain.parse('example.org');
const id = SpiffeId.parse('spiffe://example.org/ns/default/sa/web');
const keys = generateKeyPair();
const kid = 'kid-1';
const bundle = new JwtBundle(td, new Map([[kid, keys.publicKey]]));
const now = new Date('2030-01-01T00:00:00Z');

const mint = (o: Partial<Parameters<typeof mintJwtSvid>[0]> = {}) =>
  mintJwtSvid({ spiffeId: id, audience: ['db'], key: keys.privateKey, kid, ttlSeconds: 300, now, ...o });

async function assertRule(p: Promise<unknown>, rule: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof JwtSvidError, `expected JwtSvidError, got ${String(err)}`);
    assert.equal(err.rule, rule, err.message);
    return true;
  });
}

describe('mintJwtSvid', () => {
  it('emits SPIRE’s header and claims: ES256, kid, typ JWT, aud array, iat, exp', async () => {
    const token = await mint({ extraClaims: { iss: 'https://oidc.example.org', sub: 'spoofed' } });
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'ES256', kid, typ: 'JWT' });
    const claims = decodeJwt(token);
    assert.equal(claims.sub, id.toString());
    assert.deepEqual(claims.aud, ['db']);
    assert.equal(claims.iat, now.getTime() / 1000);
    assert.equal(claims.exp, now.getTime() / 1000 + 300);
    assert.equal(claims.iss, 'https://oidc.example.org');
  });
  for (const [what, o, rule] of [
    ['an empty audience', { audience: [] }, 'audience-required'],
    ['an empty audience value', { audience: [''] }, 'audience-required'],
    ['an empty kid', { kid: '' }, 'missing-kid'],
    ['a trust domain ID as sub', { spiffeId: SpiffeId.parse('spiffe://example.org') }, 'invalid-subject'],
    ['a zero TTL', { ttlSeconds: 0 }, 'invalid-ttl'],
    ['an Ed25519 key', { key: generateKeyPairSync('ed25519').privateKey }, 'unsupported-key'],
  ] as const) {
    it(`rejects ${what} (${rule})`, () => assertRule(mint(o as never), rule));
  }
  it('rejects a sub longer than 2048 bytes (SPIFFE-ID §2: not generated)', async () => {
    const long = SpiffeId.parse(`spiffe://example.org/${'a'.repeat(2028)}`);
    await assert.rejects(mint({ spiffeId: long }), { name: 'SpiffeIdError', rule: 'too-long' });
  });
});

describe('validateJwtSvid', () => {
  it('accepts a valid token; the bundle is chosen by the trust domain of sub', async () => {
    const other = new JwtBundle(
      TrustDomain.parse('other.org'),
      new Map([[kid, generateKeyPair().publicKey]]),
    );
    const set = new BundleSet([other, bundle]);
    const r = await validateJwtSvid(await mint({ audience: ['db', 'cache'] }), 'cache', set, { now });
    assert.equal(r.spiffeId.toString(), id.toString());
    assert.equal(r.expiresAt.getTime(), now.getTime() + 300_000);
    assert.deepEqual(r.claims.aud, ['db', 'cache']);
  });
  it('accepts a string aud (py-spiffe#324) and typ JOSE', async () => {
    const token = await new SignJWT({ sub: id.toString(), aud: 'db', exp: now.getTime() / 1000 + 60 })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JOSE' })
      .sign(keys.privateKey);
    assert.ok(await validateJwtSvid(token, 'db', bundle, { now }));
  });

  const sign = (header: Record<string, unknown>, claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', ...header }).sign(keys.privateKey);
  const exp = now.getTime() / 1000 + 60;

  const rows: [string, () => Promise<unknown>, string][] = [
    [
      'empty expected audience',
      async () => validateJwtSvid(await mint(), '', bundle, { now }),
      'audience-required',
    ],
    ['not a JWS', async () => validateJwtSvid('abc', 'db', bundle, { now }), 'malformed'],
    ['a JWE-shaped token', async () => validateJwtSvid('a.b.c.d.e', 'db', bundle, { now }), 'malformed'],
    [
      'alg none',
      async () =>
        validateJwtSvid(new UnsecuredJWT({ sub: id.toString(), aud: ['db'], exp }).encode(), 'db', bundle, {
          now,
        }),
      'alg-not-allowed',
    ],
    [
      'alg HS256',
      async () =>
        validateJwtSvid(
          await new SignJWT({ sub: id.toString(), aud: ['db'], exp })
            .setProtectedHeader({ alg: 'HS256', kid })
            .sign(new Uint8Array(32)),
          'db',
          bundle,
          { now },
        ),
      'alg-not-allowed',
    ],
    [
      'an extra header parameter',
      async () =>
        validateJwtSvid(
          await sign({ kid, cty: 'x' }, { sub: id.toString(), aud: ['db'], exp }),
          'db',
          bundle,
          { now },
        ),
      'header-param',
    ],
    [
      'typ other than JWT/JOSE',
      async () =>
        validateJwtSvid(
          await sign({ kid, typ: 'at+jwt' }, { sub: id.toString(), aud: ['db'], exp }),
          'db',
          bundle,
          { now },
        ),
      'bad-typ',
    ],
    [
      'no kid',
      async () =>
        validateJwtSvid(await sign({}, { sub: id.toString(), aud: ['db'], exp }), 'db', bundle, { now }),
      'missing-kid',
    ],
    [
      'sub not a SPIFFE ID',
      async () =>
        validateJwtSvid(await sign({ kid }, { sub: 'https://x', aud: ['db'], exp }), 'db', bundle, { now }),
      'invalid-subject',
    ],
    [
      'no sub',
      async () => validateJwtSvid(await sign({ kid }, { aud: ['db'], exp }), 'db', bundle, { now }),
      'invalid-subject',
    ],
    [
      'no exp',
      async () =>
        validateJwtSvid(await sign({ kid }, { sub: id.toString(), aud: ['db'] }), 'db', bundle, { now }),
      'missing-exp',
    ],
    [
      'no aud',
      async () => validateJwtSvid(await sign({ kid }, { sub: id.toString(), exp }), 'db', bundle, { now }),
      'missing-audience',
    ],
    [
      'no bundle for the sub trust domain',
      async () =>
        validateJwtSvid(await mint({ spiffeId: SpiffeId.parse('spiffe://other.org/x') }), 'db', bundle, {
          now,
        }),
      'no-bundle',
    ],
    [
      'unknown kid',
      async () => validateJwtSvid(await mint({ kid: 'other' }), 'db', bundle, { now }),
      'key-not-found',
    ],
    [
      'signed by another key',
      async () => validateJwtSvid(await mint({ key: generateKeyPair().privateKey }), 'db', bundle, { now }),
      'signature',
    ],
    [
      'expired',
      async () => validateJwtSvid(await mint(), 'db', bundle, { now: new Date(now.getTime() + 301_000) }),
      'expired',
    ],
    [
      'nbf in the future',
      async () =>
        validateJwtSvid(
          await sign({ kid }, { sub: id.toString(), aud: ['db'], exp, nbf: exp - 1 }),
          'db',
          bundle,
          { now },
        ),
      'not-yet-valid',
    ],
    [
      'audience not in aud',
      async () => validateJwtSvid(await mint(), 'other', bundle, { now }),
      'audience-mismatch',
    ],
  ];
  for (const [what, fn, rule] of rows) {
    it(`rejects ${what} (${rule})`, () => assertRule(fn(), rule));
  }
  it('a tampered payload fails the signature', async () => {
    const [h, , s] = (await mint()).split('.');
    const forged = Buffer.from(
      JSON.stringify({ sub: 'spiffe://example.org/admin', aud: ['db'], exp: 2e9 }),
    ).toString('base64url');
    await assertRule(validateJwtSvid(`${h}.${forged}.${s}`, 'db', bundle, { now }), 'signature');
  });
});
