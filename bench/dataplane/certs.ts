/**
 * The SVIDs every data-plane variant uses (performance.md §5.3): a P-256 CA and two X509-SVIDs minted
 * by our own CA code, 1 h TTL, URI SAN SPIFFE IDs plus the DNS SAN `localhost` (HAProxy's `verifyhost`
 * and nginx's `proxy_ssl_name` can match only DNS names), written as PEM files.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  SpiffeId,
  TrustDomain,
  generateKeyPair,
  mintCaCertificate,
  mintX509Svid,
} from '../../src/spiffe/index.js';

/** PEM files of one SVID: certificate, PKCS#8 key, and both in one file (HAProxy's `crt`). */
export interface SvidFiles {
  spiffeId: string;
  cert: string;
  key: string;
  combined: string;
}

/** The bench's trust material: the CA file, proxy A's SVID (client) and proxy B's (server). */
export interface BenchCerts {
  caFile: string;
  a: SvidFiles;
  b: SvidFiles;
}

/** Mints the CA and the SVIDs of A and B into `dir`. */
export async function mintBenchCerts(dir: string): Promise<BenchCerts> {
  const kp = generateKeyPair();
  const ca = await mintCaCertificate({
    trustDomain: TrustDomain.parse('example.org'),
    publicKey: kp.publicKey,
    privateKey: kp.privateKey,
    ttlSeconds: 3600,
  });
  const write = (n: string, s: string): string => {
    const p = path.join(dir, n);
    fs.writeFileSync(p, s);
    return p;
  };
  const leaf = (n: string, spiffeId: string): SvidFiles => {
    const k = generateKeyPair();
    const cert = mintX509Svid({
      spiffeId: SpiffeId.parse(spiffeId),
      publicKey: k.publicKey,
      caCert: ca,
      caKey: kp.privateKey,
      ttlSeconds: 3600,
      dnsNames: ['localhost'],
    }).toString();
    const key = k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    return {
      spiffeId,
      cert: write(`${n}.pem`, cert),
      key: write(`${n}.key`, key),
      combined: write(`${n}-combined.pem`, cert + key),
    };
  };
  return {
    caFile: write('ca.pem', ca.toString()),
    a: leaf('a', 'spiffe://example.org/ns/default/sa/a'),
    b: leaf('b', 'spiffe://example.org/ns/default/sa/b'),
  };
}
