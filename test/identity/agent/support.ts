/**
 * Test support for the agent: a real CA minting real X509-SVIDs, a populated SvidCache, the agent
 * socket serving the Workload API and SDS from that cache (no identity server needed), and a Python
 * Workload API client as a second-language peer.
 */
import { execFile as execFileCb, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { X509Certificate, KeyObject } from 'node:crypto';
import { pino, type Logger } from 'pino';
import {
  generateKeyPair,
  mintCaCertificate,
  mintX509Svid,
  SpiffeBundle,
  SpiffeId,
  TrustDomain,
} from '../../../src/spiffe/index.js';
import type { SvidCache } from '../../../src/identity/agent/index.js';
import {
  AgentEndpoints,
  UnixAttestor,
  WorkloadAttestation,
  registerReflection,
  registerSds,
  registerWorkloadApi,
  certificateChain,
  type CachedSvid,
  type SdsOptions,
} from '../../../src/identity/agent/index.js';
import type { EntryMessage } from '../../../src/identity/api/index.js';
import { spawnTrustmesh } from '../../support/cli.js';

/** A self-signed test CA of `td`. */
export async function testCa(
  td = 'example.org',
): Promise<{ trustDomain: TrustDomain; cert: X509Certificate; key: KeyObject }> {
  const trustDomain = TrustDomain.parse(td);
  const k = generateKeyPair();
  const cert = await mintCaCertificate({
    trustDomain,
    publicKey: k.publicKey,
    privateKey: k.privateKey,
    ttlSeconds: 3600,
  } as never);
  return { trustDomain, cert, key: k.privateKey };
}

/** A fresh X509-SVID for `spiffeId` from `ca`, as the cache stores it. */
export function cachedSvid(
  ca: { cert: X509Certificate; key: KeyObject },
  spiffeId: string,
  revision = 1,
  ttlSeconds = 600,
): CachedSvid {
  const k = generateKeyPair();
  const cert = mintX509Svid({
    spiffeId: SpiffeId.parse(spiffeId),
    publicKey: k.publicKey,
    caCert: ca.cert,
    caKey: ca.key,
    ttlSeconds,
  });
  return {
    spiffeId,
    ...certificateChain([cert.raw]),
    privateKey: k.privateKey,
    entryRevision: revision,
    jitter: 0,
  };
}

/** A registration entry message with defaults. */
export function entry(
  id: string,
  spiffeId: string,
  selectors: string[],
  extra: Partial<EntryMessage> = {},
): EntryMessage {
  return {
    id,
    spiffe_id: spiffeId,
    parent_id: 'spiffe://example.org/spire/agent/test',
    selectors: selectors.map((s) => ({
      type: s.slice(0, s.indexOf(':')),
      value: s.slice(s.indexOf(':') + 1),
    })),
    x509_svid_ttl: 0,
    jwt_svid_ttl: 0,
    dns_names: [],
    federates_with: [],
    admin: false,
    downstream: false,
    expires_at: 0,
    hint: '',
    revision_number: 1,
    created_at: 1,
    ...extra,
  };
}

/** A bundle of `ca`'s trust domain holding its certificate. */
export function bundleOf(ca: { trustDomain: TrustDomain; cert: X509Certificate }): SpiffeBundle {
  return new SpiffeBundle(ca.trustDomain, { x509: [ca.cert] } as never);
}

/** The agent socket over a hand-filled cache, in a temp dir. Call `close()` in `after`. */
export async function startTestSocket(
  cache: SvidCache,
  options: { sds?: Partial<SdsOptions>; log?: Logger } = {},
): Promise<{ socketPath: string; dir: string; endpoints: AgentEndpoints; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tm-agent-'));
  // Workloads under other uids (nobody) must reach the socket inside.
  await chmod(dir, 0o755);
  const socketPath = path.join(dir, 'api.sock');
  const log = options.log ?? pino({ level: 'silent' });
  // discoverWorkloadPath off: hashing the node binary for every test caller is slow and not under test here.
  const attestation = new WorkloadAttestation([new UnixAttestor({ discoverWorkloadPath: false })], log);
  const endpoints = await AgentEndpoints.listen({
    socketPath,
    log,
    routes: (router) => {
      registerWorkloadApi(router, {
        cache,
        attestation,
        jwt: { fetchJwtSvid: () => Promise.reject(new Error('no JWT in this test')) },
        log,
      });
      registerSds(router, { cache, attestation, log, options: options.sds });
      registerReflection(router);
    },
  });
  return {
    socketPath,
    dir,
    endpoints,
    async close() {
      cache.close();
      await endpoints.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const execFile = promisify(execFileCb);
const repoRoot = path.resolve(import.meta.dirname, '../../..');
// Debian's python3 has python3-grpcio; a pyenv python3 earlier on PATH may not.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * A second-language Workload API client: Debian's python3-grpcio with stubs compiled from our
 * `proto/spiffe/workload.proto` at test time (python3-grpc-tools), into a temp dir that uid nobody
 * can read. `run(socketPath, mode)` runs `workload_client.py` (modes: see the script) and parses the
 * JSON it prints; `asNobody` runs it as uid/gid 65534 (needs root). Call `close()` in `after`.
 */
export async function pythonWorkloadClient(): Promise<{
  run<T>(socketPath: string, mode: string, options?: { asNobody?: boolean }): Promise<T>;
  close(): Promise<void>;
}> {
  const genDir = await mkdtemp(path.join(tmpdir(), 'tm-agent-py-'));
  try {
    await chmod(genDir, 0o755);
    await execFile(PYTHON, [
      '-m',
      'grpc_tools.protoc',
      `-I${path.join(repoRoot, 'proto/spiffe')}`,
      `--python_out=${genDir}`,
      `--grpc_python_out=${genDir}`,
      path.join(repoRoot, 'proto/spiffe/workload.proto'),
    ]);
  } catch (err) {
    await rm(genDir, { recursive: true, force: true });
    throw err;
  }
  return {
    async run<T>(socketPath: string, mode: string, options: { asNobody?: boolean } = {}): Promise<T> {
      const { stdout } = await execFile(
        PYTHON,
        [path.join(repoRoot, 'test/identity/agent/workload_client.py'), socketPath, genDir, mode],
        options.asNobody ? { uid: 65534, gid: 65534 } : {},
      );
      return JSON.parse(stdout) as T;
    },
    close: () => rm(genDir, { recursive: true, force: true }),
  };
}

/** A running `trustmesh agent run` child process (see {@link startAgentProcess}). */
export interface RunningAgent {
  proc: ChildProcess;
  /** what the agent wrote to stdout and stderr (the last 5 MB) */
  logs(): string;
  /** SIGTERM and wait for exit */
  stop(): Promise<void>;
}

/**
 * Starts `trustmesh agent run -config <configPath>` and resolves once it logged "agent started"
 * (bounded: rejects with its output after 90 s or when it exits first).
 */
export async function startAgentProcess(configPath: string): Promise<RunningAgent> {
  const proc = spawnTrustmesh(['agent', 'run', '-config', configPath]);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`agent did not start within 90 s:\n${out}`));
    }, 90_000);
    const onData = (d: string) => {
      out = (out + d).slice(-5_000_000);
      if (out.includes('"msg":"agent started"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout!.setEncoding('utf8').on('data', onData);
    proc.stderr!.setEncoding('utf8').on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited (${code}) before starting:\n${out}`));
    });
  });
  let stopping = false;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.once('exit', (code, signal) => {
    if (!stopping) console.log(`the agent exited unexpectedly (${code ?? signal}):\n${out.slice(-6000)}`);
  });
  return {
    proc,
    logs: () => out,
    async stop() {
      stopping = true;
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
