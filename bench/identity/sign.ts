/**
 * Micro-benchmark of X509-SVID minting, the identity server's hot path, against raw ECDSA P-256 signing in
 * the same run: `node --import tsx bench/identity/sign.ts [--quick]`. Prints JSON measurement lines
 * (bench/run.ts format) for: crypto.sign (baseline); mintX509SvidDer with the workload key as SPKI DER (the
 * server's path: the key comes from a CSR) and as a fresh KeyObject (pays OpenSSL 3's first key export);
 * mintX509Svid (adds node's X509Certificate parse); and @peculiar/x509's generator (the general-purpose
 * path) — each with its ratio to the baseline. Every mint uses a distinct workload key.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { generateKeyPairSync, sign, webcrypto, type KeyObject } from 'node:crypto';
import { cpus } from 'node:os';
import { median } from '../lib/report.js';
import {
  generateKeyPair,
  mintCaCertificate,
  mintX509Svid,
  mintX509SvidDer,
  SpiffeId,
  TrustDomain,
} from '../../src/spiffe/index.js';

const quick = process.argv.includes('--quick');
const maxMs = quick ? 700 : 2500;
const name = 'x509-svid-mint';
const baseline = 'crypto.sign P-256';

interface Rate {
  /** Median of the per-chunk rates. */
  opsPerSecond: number;
  ops: number;
  ms: number;
  /** Median over rounds of (this variant's rate / the baseline's rate in the same round). */
  ratio?: number;
}

/**
 * Runs the synchronous variants in rounds of one chunk each, so load from other processes on this shared
 * machine hits every variant alike; rates and ratios are medians over rounds (paired with the baseline of
 * the same round). The first variant is the baseline.
 */
function interleaved(
  variants: Record<string, (i: number) => unknown>,
  maxOps: number,
  warmup: number,
): Record<string, Rate> {
  const chunk = 50;
  const names = Object.keys(variants);
  const rates: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  const totals = Object.fromEntries(names.map((k) => [k, { ops: 0, ms: 0 }]));
  // Warm-up (JIT) on the tail of the key pool, which the measured calls never reach.
  for (const fn of Object.values(variants)) for (let i = 0; i < warmup; i++) fn(maxOps + i);
  const t0 = performance.now();
  for (
    let round = 0;
    (round + 1) * chunk <= maxOps && performance.now() - t0 < maxMs * names.length;
    round++
  ) {
    for (const [k, fn] of Object.entries(variants)) {
      const start = performance.now();
      for (let i = 0; i < chunk; i++) fn(round * chunk + i);
      const ms = performance.now() - start;
      rates[k]!.push((chunk / ms) * 1000);
      totals[k]!.ops += chunk;
      totals[k]!.ms += ms;
    }
  }
  const base = rates[names[0]!]!;
  return Object.fromEntries(
    names.map((k) => [
      k,
      {
        opsPerSecond: median(rates[k]!),
        ops: totals[k]!.ops,
        ms: totals[k]!.ms,
        ratio: median(rates[k]!.map((r, i) => r / base[i]!)),
      },
    ]),
  );
}

/** Runs async `fn(i)` until `maxOps` calls or `maxMs` elapsed (after a short warm-up), returning ops/s. */
async function measure(fn: (i: number) => Promise<unknown>, maxOps: number): Promise<Rate> {
  for (let i = 0; i < 20; i++) await fn(i);
  const t0 = performance.now();
  let ops = 0;
  while (ops < maxOps && performance.now() - t0 < maxMs) await fn(ops++);
  const ms = performance.now() - t0;
  return { opsPerSecond: (ops / ms) * 1000, ops, ms };
}

function emit(variant: string, r: Rate, extra: Record<string, unknown> = {}): void {
  const line = {
    name,
    variant,
    unit: 'ops/s',
    value: Math.round(r.opsPerSecond),
    conditions: { ops: r.ops, ms: Math.round(r.ms), cpu: cpus()[0]?.model, node: process.version, ...extra },
    ...(variant === baseline ? {} : { ratio_to: baseline }),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const td = TrustDomain.parse('example.org');
const ca = generateKeyPair();
const caCert = await mintCaCertificate({
  trustDomain: td,
  publicKey: ca.publicKey,
  privateKey: ca.privateKey,
  ttlSeconds: 86_400,
});
const spiffeId = SpiffeId.parse('spiffe://example.org/ns/default/sa/web');

// Distinct workload keys. SPKI DER straight from key generation (as the server gets it from a CSR), and
// separate never-exported KeyObjects: OpenSSL 3 pays a one-time conversion on a key's first export, and the
// encoding is cached per KeyObject, so reusing keys would flatter the KeyObject path.
const warmupOps = 600;
const poolSize = (quick ? 3_000 : 12_000) + warmupOps;
const ecOptions = { namedCurve: 'P-256' } as const;
const workloadSpkis: Buffer[] = Array.from(
  { length: poolSize },
  () =>
    generateKeyPairSync('ec', {
      ...ecOptions,
      publicKeyEncoding: { type: 'spki', format: 'der' },
      privateKeyEncoding: { type: 'pkcs8', format: 'der' },
    }).publicKey,
);
const workloadKeys: KeyObject[] = Array.from({ length: poolSize }, () => generateKeyPair().publicKey);
const mintOptions = (publicKey: KeyObject | Buffer) => ({
  spiffeId,
  publicKey,
  caCert,
  caKey: ca.privateKey,
  ttlSeconds: 3600,
});
const tbsSized = mintX509SvidDer(mintOptions(workloadSpkis[0]!)).subarray(0, 380);

const rates = interleaved(
  {
    [baseline]: () => sign('sha256', tbsSized, ca.privateKey),
    'mintX509SvidDer (SPKI DER key)': (i) => mintX509SvidDer(mintOptions(workloadSpkis[i]!)),
    'mintX509SvidDer (fresh KeyObject)': (i) => mintX509SvidDer(mintOptions(workloadKeys[i]!)),
    'mintX509Svid (X509Certificate)': (i) => mintX509Svid(mintOptions(workloadSpkis[i]!)),
  },
  poolSize - warmupOps,
  warmupOps,
);
for (const [variant, r] of Object.entries(rates)) {
  emit(variant, r, variant === baseline ? { bytes: tbsSized.length } : { ratio: r.ratio });
}

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: 'ECDSA', namedCurve: 'P-256' };
const signingKey = await webcrypto.subtle.importKey(
  'pkcs8',
  ca.privateKey.export({ type: 'pkcs8', format: 'der' }),
  alg,
  false,
  ['sign'],
);
const peculiarCa = new x509.X509Certificate(caCert.raw);
const peculiarKeys = await Promise.all(
  workloadSpkis.slice(0, 400).map((spki) => webcrypto.subtle.importKey('spki', spki, alg, true, ['verify'])),
);
const peculiar = await measure(
  (i) =>
    x509.X509CertificateGenerator.create({
      subject: 'C=US, O=SPIRE',
      issuer: peculiarCa.subjectName,
      notBefore: new Date(Date.now() - 10_000),
      notAfter: new Date(Date.now() + 3_600_000),
      publicKey: peculiarKeys[
        i % peculiarKeys.length
      ] as unknown as x509.X509CertificateCreateWithKeyParams['publicKey'],
      signingKey: signingKey as unknown as x509.X509CertificateCreateWithKeyParams['signingKey'],
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature |
            x509.KeyUsageFlags.keyEncipherment |
            x509.KeyUsageFlags.keyAgreement,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId.toString() }]),
      ],
    }),
  peculiarKeys.length,
);
// Not interleaved (async): its ratio is against the baseline's median, so it is only indicative.
emit('@peculiar/x509 generator', peculiar, { ratio: peculiar.opsPerSecond / rates[baseline]!.opsPerSecond });
