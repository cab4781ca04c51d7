/**
 * Test CA for the SPIFFE tests: a real root (+ optional intermediate) minted by trustmesh, and temp-dir
 * helpers for running openssl as an independent checker.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyObject, X509Certificate } from 'node:crypto';
import { generateKeyPair, mintCaCertificate, TrustDomain, type KeyPair } from '../../src/spiffe/index.js';

/** A CA: its certificate and key pair. */
export interface TestCa {
  cert: X509Certificate;
  key: KeyObject;
  keys: KeyPair;
}

/** Mints a self-signed root CA for `td` (default `example.org`). */
export async function makeRootCa(
  td = 'example.org',
  o: { ttlSeconds?: number; now?: Date } = {},
): Promise<TestCa> {
  const keys = generateKeyPair();
  const cert = await mintCaCertificate({
    trustDomain: TrustDomain.parse(td),
    publicKey: keys.publicKey,
    privateKey: keys.privateKey,
    ttlSeconds: o.ttlSeconds ?? 86_400,
    ...(o.now ? { now: o.now } : {}),
  });
  return { cert, key: keys.privateKey, keys };
}

/** Mints an intermediate CA signed by `parent`. */
export async function makeIntermediateCa(
  parent: TestCa,
  td = 'example.org',
  o: { ttlSeconds?: number; now?: Date } = {},
): Promise<TestCa> {
  const keys = generateKeyPair();
  const cert = await mintCaCertificate({
    trustDomain: TrustDomain.parse(td),
    publicKey: keys.publicKey,
    ttlSeconds: o.ttlSeconds ?? 86_400,
    signer: { cert: parent.cert, key: parent.key },
    ...(o.now ? { now: o.now } : {}),
  });
  return { cert, key: keys.privateKey, keys };
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

/** Runs openssl; resolves with exit status and combined output (never throws on a non-zero exit). */
export function openssl(args: string[]): { status: number; output: string } {
  try {
    const out = execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: 0, output: out };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { status: e.status ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}
