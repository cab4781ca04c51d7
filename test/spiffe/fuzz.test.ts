/**
 * Property test: no byte string makes a SPIFFE parser throw anything but a SpiffeError subclass.
 * Deterministic (seeded PRNG); random bytes plus mutations of valid inputs, which reach deeper code paths.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  createCsr,
  generateKeyPair,
  JwtBundle,
  mintJwtSvid,
  mintX509SvidDer,
  parseCertificates,
  parseCsr,
  SpiffeBundle,
  SpiffeError,
  SpiffeId,
  TrustDomain,
  validateJwtSvid,
  verifyX509Svid,
  X509Bundle,
  X509Svid,
} from '../../src/spiffe/index.js';
import { makeIntermediateCa, makeRootCa } from './support.js';

/** mulberry32: small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const iterations = 2000;
const td = TrustDomain.parse('example.org');

function randomBytes(rnd: () => number, max = 200): Buffer {
  const b = Buffer.alloc(Math.floor(rnd() * max));
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** Flips, inserts or deletes a few bytes of a valid input. */
function mutate(rnd: () => number, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const n = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rnd() * b.length);
    const op = rnd();
    if (op < 0.5) b[at] = Math.floor(rnd() * 256);
    else if (op < 0.75)
      b = Buffer.concat([b.subarray(0, at), Buffer.from([Math.floor(rnd() * 256)]), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
  }
  return b;
}

function onlySpiffeErrors(what: string, input: unknown, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.ok(
      err instanceof SpiffeError,
      `${what}(${JSON.stringify(String(input).slice(0, 80))}) threw ${String(err)}`,
    );
  }
}

async function onlySpiffeErrorsAsync(
  what: string,
  input: unknown,
  fn: () => Promise<unknown>,
): Promise<void> {
  try {
    await fn();
  } catch (err) {
    assert.ok(
      err instanceof SpiffeError,
      `${what}(${JSON.stringify(String(input).slice(0, 80))}) threw ${String(err)}`,
    );
  }
}

describe('fuzz: parsers throw only SpiffeError', () => {
  let chainDer: Buffer;
  let bundle: X509Bundle;
  let bundleJson: Buffer;
  let keyDer: Buffer;
  let csrDer: Buffer;
  let token: string;
  let jwtBundle: JwtBundle;
  before(async () => {
    const root = await makeRootCa();
    const inter = await makeIntermediateCa(root);
    const keys = generateKeyPair();
    const leaf = mintX509SvidDer({
      spiffeId: SpiffeId.parse('spiffe://example.org/w'),
      publicKey: keys.publicKey,
      caCert: inter.cert,
      caKey: inter.key,
      ttlSeconds: 3600,
      dnsNames: ['w.example.org'],
    });
    chainDer = Buffer.concat([leaf, inter.cert.raw]);
    keyDer = keys.privateKey.export({ type: 'pkcs8', format: 'der' });
    bundle = new X509Bundle(td, [root.cert]);
    const jwtKeys = generateKeyPair();
    jwtBundle = new JwtBundle(td, new Map([['k', jwtKeys.publicKey]]));
    bundleJson = Buffer.from(
      new SpiffeBundle(td, { x509: bundle, jwt: jwtBundle, sequence: 3, refreshHintSeconds: 60 }).toJson(),
    );
    csrDer = await createCsr(keys, { spiffeId: SpiffeId.parse('spiffe://example.org/w') });
    token = await mintJwtSvid({
      spiffeId: SpiffeId.parse('spiffe://example.org/w'),
      audience: ['a'],
      key: jwtKeys.privateKey,
      kid: 'k',
      ttlSeconds: 60,
    });
  });

  it('SpiffeId.parse and TrustDomain.parse', () => {
    const rnd = prng(1);
    for (let i = 0; i < iterations; i++) {
      const raw = randomBytes(rnd, 60).toString('latin1');
      for (const s of [raw, `spiffe://${raw}`, `spiffe://example.org/${raw}`]) {
        onlySpiffeErrors('SpiffeId.parse', s, () => SpiffeId.parse(s));
        onlySpiffeErrors('TrustDomain.parse', s, () => TrustDomain.parse(s));
      }
    }
  });

  it('parseCertificates, X509Bundle.parse, X509Svid.parse, verifyX509Svid', () => {
    const rnd = prng(2);
    for (let i = 0; i < iterations; i++) {
      const input = i % 2 === 0 ? randomBytes(rnd) : mutate(rnd, chainDer);
      onlySpiffeErrors('parseCertificates', input, () => parseCertificates(input));
      onlySpiffeErrors('parseCertificates(pem)', input, () =>
        parseCertificates(
          `-----BEGIN CERTIFICATE-----\n${input.toString('base64')}\n-----END CERTIFICATE-----\n`,
        ),
      );
      onlySpiffeErrors('X509Bundle.parse', input, () => X509Bundle.parse(td, input));
      onlySpiffeErrors('X509Svid.parse', input, () =>
        X509Svid.parse(input, i % 3 === 0 ? mutate(rnd, keyDer) : keyDer),
      );
      onlySpiffeErrors('verifyX509Svid', input, () => verifyX509Svid(input, bundle));
    }
  });

  it('SpiffeBundle.parse and JwtBundle.parseJwks', () => {
    const rnd = prng(3);
    for (let i = 0; i < iterations; i++) {
      const input = i % 2 === 0 ? randomBytes(rnd) : mutate(rnd, bundleJson);
      onlySpiffeErrors('SpiffeBundle.parse', input, () => SpiffeBundle.parse(td, input));
      onlySpiffeErrors('JwtBundle.parseJwks', input, () => JwtBundle.parseJwks(td, input));
    }
  });

  it('parseCsr', async () => {
    const rnd = prng(4);
    for (let i = 0; i < iterations; i++) {
      const input = i % 2 === 0 ? randomBytes(rnd) : mutate(rnd, csrDer);
      await onlySpiffeErrorsAsync('parseCsr', input, () => parseCsr(input));
    }
  });

  it('validateJwtSvid', async () => {
    const rnd = prng(5);
    const tokenBytes = Buffer.from(token);
    for (let i = 0; i < iterations; i++) {
      const input =
        i % 2 === 0 ? randomBytes(rnd).toString('latin1') : mutate(rnd, tokenBytes).toString('latin1');
      await onlySpiffeErrorsAsync('validateJwtSvid', input, () => validateJwtSvid(input, 'a', jwtBundle));
    }
  });
});
