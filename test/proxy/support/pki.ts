/**
 * Test PKI for the proxy tests, minted with the project's own CA code (src/spiffe): P-256 roots for
 * `example.org` and `other.org`, a second unrelated `example.org` root ("wrong CA"), and leaves for
 * every row of the negative matrix. Files are PEM in `dir`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { KeyObject, X509Certificate } from 'node:crypto';
import {
  SpiffeId,
  TrustDomain,
  generateKeyPair,
  mintCaCertificate,
  mintX509Svid,
} from '../../../src/spiffe/index.js';

/** SPIFFE ID of proxy A's SVID ({@link TestPki.a}). */
export const A_ID = 'spiffe://example.org/ns/default/sa/a';
/** SPIFFE ID of proxy B's SVID ({@link TestPki.b}). */
export const B_ID = 'spiffe://example.org/ns/default/sa/b';
/** The trust domain of {@link TestPki.ca}, as a SPIFFE ID. */
export const TD = 'spiffe://example.org';

/** Paths of one certificate + key pair (PEM). */
export interface PemPair {
  cert: string;
  key: string;
}

/** Everything a proxy test needs. */
export interface TestPki {
  dir: string;
  /** example.org root (PEM path). */
  ca: string;
  /** other.org root. */
  otherCa: string;
  /** unrelated example.org root. */
  wrongCa: string;
  /** spiffe://example.org/ns/default/sa/a (proxy A, the client). */
  a: PemPair;
  /** spiffe://example.org/ns/default/sa/b (proxy B, the server). */
  b: PemPair;
  /** Second version of B's SVID (rotation). */
  b2: PemPair;
  /** Bad client certificates, one per negative-matrix row. */
  wrongCaLeaf: PemPair;
  wrongSan: PemPair;
  expired: PemPair;
  notYetValid: PemPair;
  caLeaf: PemPair;
  otherTd: PemPair;
}

function pem(k: KeyObject): string {
  return k.export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Mints the PKI into `dir`. */
export async function makePki(dir: string): Promise<TestPki> {
  const td = TrustDomain.parse('example.org');
  const otherTd = TrustDomain.parse('other.org');
  const past = new Date(Date.now() - 3 * 86400_000);
  const root = async (t: TrustDomain): Promise<{ cert: X509Certificate; key: KeyObject }> => {
    const kp = generateKeyPair();
    const cert = await mintCaCertificate({
      trustDomain: t,
      publicKey: kp.publicKey,
      privateKey: kp.privateKey,
      ttlSeconds: 10 * 86400,
      now: past,
    });
    return { cert, key: kp.privateKey };
  };
  const ca = await root(td);
  const other = await root(otherTd);
  const wrong = await root(td);
  const write = (name: string, content: string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const leaf = (
    name: string,
    id: string,
    issuer: { cert: X509Certificate; key: KeyObject },
    o: { now?: Date; ttlSeconds?: number } = {},
  ): PemPair => {
    const kp = generateKeyPair();
    const cert = mintX509Svid({
      spiffeId: SpiffeId.parse(id),
      publicKey: kp.publicKey,
      caCert: issuer.cert,
      caKey: issuer.key,
      ttlSeconds: o.ttlSeconds ?? 3600,
      now: o.now,
      dnsNames: ['localhost'],
    });
    return { cert: write(`${name}.pem`, cert.toString()), key: write(`${name}.key`, pem(kp.privateKey)) };
  };
  const caLeafKp = generateKeyPair();
  const caLeafCert = await mintCaCertificate({
    trustDomain: td,
    publicKey: caLeafKp.publicKey,
    ttlSeconds: 3600,
    signer: ca,
  });
  return {
    dir,
    ca: write('ca.pem', ca.cert.toString()),
    otherCa: write('other-ca.pem', other.cert.toString()),
    wrongCa: write('wrong-ca.pem', wrong.cert.toString()),
    a: leaf('a', A_ID, ca),
    b: leaf('b', B_ID, ca),
    b2: leaf('b2', B_ID, ca),
    wrongCaLeaf: leaf('wrong-ca-leaf', A_ID, wrong),
    wrongSan: leaf('wrong-san', 'spiffe://example.org/ns/default/sa/mallory', ca),
    expired: leaf('expired', A_ID, ca, {
      now: new Date(Date.now() - 2 * 86400_000),
      ttlSeconds: 3600,
    }),
    notYetValid: leaf('not-yet-valid', A_ID, ca, {
      now: new Date(Date.now() + 2 * 86400_000),
      ttlSeconds: 3600,
    }),
    caLeaf: {
      cert: write('ca-leaf.pem', caLeafCert.toString()),
      key: write('ca-leaf.key', pem(caLeafKp.privateKey)),
    },
    otherTd: leaf('other-td', 'spiffe://other.org/ns/default/sa/a', other),
  };
}
