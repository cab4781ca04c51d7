/**
 * Test CA for the SPIFFE tests: a real root (+ optional intermediate) minted by trustmesh, and temp-dir
 * helpers for running openssl as an independent checker.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { generateKeyPair, mintCaCertificate, TrustDomain, type KeyPair } from '../../src/spiffe/index.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };

/** A CA: its certificate and key pair. */
export interface TestCa {
  cert: X509Certificate;
  key: KeyObject;
  keys: KeyPair;
}

/** A CA of `td`: self-signed, or signed by `parent` (an intermediate). */
async function makeCa(td: string, o: { ttlSeconds?: number; now?: Date }, parent?: TestCa): Promise<TestCa> {
  const keys = generateKeyPair();
  const cert = await mintCaCertificate({
    trustDomain: TrustDomain.parse(td),
    publicKey: keys.publicKey,
    ...(parent ? { signer: { cert: parent.cert, key: parent.key } } : { privateKey: keys.privateKey }),
    ttlSeconds: o.ttlSeconds ?? 86_400,
    ...(o.now ? { now: o.now } : {}),
  });
  return { cert, key: keys.privateKey, keys };
}

/** Mints a self-signed root CA for `td` (default `example.org`). */
export function makeRootCa(td = 'example.org', o: { ttlSeconds?: number; now?: Date } = {}): Promise<TestCa> {
  return makeCa(td, o);
}

/** Mints an intermediate CA signed by `parent`. */
export function makeIntermediateCa(
  parent: TestCa,
  td = 'example.org',
  o: { ttlSeconds?: number; now?: Date } = {},
): Promise<TestCa> {
  return makeCa(td, o, parent);
}

/** A temp directory removed by `cleanup()`. */
export function tempDir(): {
  dir: string;
  file: (name: string, content: string) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'tm-spiffe-'));
  return {
    dir,
    file: (name, content) => {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** openssl arguments that make a new unencrypted P-256 key in `keyFile` (for `req`). */
export function opensslNewP256Key(keyFile: string): string[] {
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile];
}

/** Runs openssl; returns exit status and stdout+stderr (never throws on a non-zero exit). */
export function openssl(args: string[]): { status: number; output: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
}

/** Options of {@link customCert}: every field an X509-SVID rule looks at. */
export interface CustomCertOptions {
  /** Signing CA; absent = self-signed. */
  issuer?: TestCa;
  uris?: string[];
  /** basicConstraints cA; undefined = no basicConstraints extension. */
  ca?: boolean;
  pathLength?: number;
  /** @peculiar/x509 KeyUsageFlags bit mask; undefined = no keyUsage extension. */
  keyUsage?: number;
  notBefore?: Date;
  notAfter?: Date;
  /** Extra extensions (e.g. an unknown critical one). */
  extensions?: x509.Extension[];
  subject?: string;
}

/**
 * Mints an arbitrary certificate with @peculiar/x509 (an implementation independent of trustmesh's
 * template), for the negative rows of the verification tests.
 */
export async function customCert(o: CustomCertOptions): Promise<TestCa> {
  const keys = generateKeyPair();
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const pub = await webcrypto.subtle.importKey(
    'spki',
    keys.publicKey.export({ type: 'spki', format: 'der' }),
    alg,
    true,
    ['verify'],
  );
  const signer = o.issuer?.key ?? keys.privateKey;
  const signingKey = await webcrypto.subtle.importKey(
    'pkcs8',
    signer.export({ type: 'pkcs8', format: 'der' }),
    alg,
    false,
    ['sign'],
  );
  const subject = o.subject ?? `CN=custom-${Math.random().toString(36).slice(2)}`;
  const extensions: x509.Extension[] = [
    await x509.SubjectKeyIdentifierExtension.create(pub as unknown as CryptoKeyLike),
    ...(o.extensions ?? []),
  ];
  if (o.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(o.ca, o.pathLength, true));
  if (o.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(o.keyUsage, true));
  if (o.uris)
    extensions.push(
      new x509.SubjectAlternativeNameExtension(o.uris.map((value) => ({ type: 'url', value }))),
    );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber:
      '01' +
      Buffer.from(keys.publicKey.export({ format: 'jwk' }).x!, 'base64url')
        .toString('hex')
        .slice(0, 14),
    subject,
    issuer: o.issuer ? new x509.X509Certificate(o.issuer.cert.raw).subjectName : subject,
    notBefore: o.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: o.notAfter ?? new Date(Date.now() + 3_600_000),
    publicKey: pub as unknown as CryptoKeyLike,
    signingKey: signingKey as unknown as CryptoKeyLike,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions,
  });
  return { cert: new X509Certificate(Buffer.from(cert.rawData)), key: keys.privateKey, keys };
}

type CryptoKeyLike = x509.X509CertificateCreateWithKeyParams['signingKey'];
