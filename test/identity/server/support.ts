/**
 * Test support: runs `trustmesh server run` as a real child process in a temp dir, waits for its
 * "server started" log line, and drives it with the real CLI and a real grpc-js agent API client.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { runTrustmesh, spawnTrustmesh } from '../../support/cli.js';
import { opensslNewP256Key } from '../../spiffe/support.js';
import { loadAgentApi, type AgentClient } from '../../../src/identity/api/index.js';

export interface RunningServer {
  dir: string;
  dataDir: string;
  socketPath: string;
  configPath: string;
  port: number;
  proc: ChildProcess;
  /** everything the daemon wrote to stderr so far */
  logs(): string;
  /** `trustmesh server <args> -socketPath <ours>` */
  cli(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** SIGTERM and wait for exit */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit */
  kill(): Promise<void>;
}

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix = 'tm-server-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Default HCL config for tests: ephemeral agent API port, everything under `dir`. */
export function hclConfig(o: {
  trustDomain?: string;
  dataDir: string;
  socketPath: string;
  server?: string;
  plugins?: string;
  /** extra top-level blocks */
  top?: string;
}): string {
  return `
server {
  bind_address = "127.0.0.1"
  bind_port = "0"
  socket_path = "${o.socketPath}"
  trust_domain = "${o.trustDomain ?? 'example.org'}"
  data_dir = "${o.dataDir}"
  log_level = "DEBUG"
  ${o.server ?? ''}
}

plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${o.dataDir}/datastore.sqlite3"
    }
  }
  KeyManager "disk" {
    plugin_data { keys_path = "${o.dataDir}/keys.json" }
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
  ${o.plugins ?? ''}
}
${o.top ?? ''}
`;
}

/**
 * Starts a server in `dir` (config written to `dir/server.conf` unless `configText` is null and
 * `args` give flags). Resolves once it logged "server started"; rejects with its stderr if it exits.
 */
export async function startServer(
  dir: string,
  o: {
    server?: string;
    plugins?: string;
    top?: string;
    trustDomain?: string;
    extraArgs?: string[];
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<RunningServer> {
  const dataDir = path.join(dir, 'data');
  const socketPath = path.join(dir, 'private', 'api.sock');
  const configPath = path.join(dir, 'server.conf');
  writeFileSync(configPath, hclConfig({ dataDir, socketPath, ...o }));
  const proc = spawnTrustmesh(['server', 'run', '-config', configPath, ...(o.extraArgs ?? [])], {
    env: { ...process.env, ...o.env },
  });
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    // Bounded, so a server stuck before "server started" fails the test with its log instead of
    // hanging the run; generous, as tsx start-up alone takes seconds on a loaded CI machine.
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start within 120 s:\n${stderr}`));
    }, 120_000);
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m =
        /"agentApiAddress":"[^"]*:(\d+)".*"server started"|"msg":"server started".*"agentApiAddress":"[^"]*:(\d+)"/.exec(
          stderr,
        );
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1] ?? m[2]));
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before starting:\n${stderr}`));
    });
  });
  proc.stdout!.resume();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stopWith = async (sig: NodeJS.Signals): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
    await exited;
  };
  return {
    dir,
    dataDir,
    socketPath,
    configPath,
    port,
    proc,
    logs: () => stderr,
    cli: (args, input) => runTrustmesh(['server', ...args, '-socketPath', socketPath], { input }),
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}

/** Runs a CLI command and fails with its output when the exit code isn't 0. */
export async function cliOk(s: RunningServer, args: string[], input?: string): Promise<string> {
  const r = await s.cli(args, input);
  if (r.code !== 0)
    throw new Error(
      `trustmesh server ${args.join(' ')} → exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  return r.stdout;
}

/** The server's bundle roots (PEM) via `bundle show`. */
export async function bundlePem(s: RunningServer): Promise<string> {
  return cliOk(s, ['bundle', 'show']);
}

/**
 * A grpc-js agent API client. Trusts `rootsPem`, checks the server presents
 * `spiffe://<td>/spire/server`, and authenticates with `identity` when given.
 */
export function agentClient(
  s: RunningServer,
  rootsPem: string,
  identity?: { certPem: string; keyPem: string },
  trustDomain = 'example.org',
): AgentClient {
  const { Client } = loadAgentApi();
  const creds = grpc.credentials.createSsl(
    Buffer.from(rootsPem),
    identity ? Buffer.from(identity.keyPem) : null,
    identity ? Buffer.from(identity.certPem) : null,
    {
      checkServerIdentity: (_host, cert) => {
        const want = `URI:spiffe://${trustDomain}/spire/server`;
        return cert.subjectaltname === want
          ? undefined
          : new Error(`server presented ${cert.subjectaltname}, want ${want}`);
      },
    },
  );
  return new Client(`127.0.0.1:${s.port}`, creds);
}

/** Promisifies a unary call on `client`. */
export function call<Req, Res>(
  client: AgentClient,
  method: keyof AgentClient & string,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client[method] as unknown as (r: Req, cb: (e: grpc.ServiceError | null, v?: Res) => void) => void).call(
      client,
      req,
      (err, v) => (err ? reject(err) : resolve(v!)),
    );
  });
}

/** DER chain → PEM. */
export function derChainToPem(chain: Buffer[]): string {
  return chain.map((d) => new X509Certificate(d).toString()).join('');
}

/**
 * A self-signed P-256 certificate made by openssl (an independent issuer, not our minting code),
 * valid for `days`, with `-addext` values `extensions`. Writes `<dir>/<name>.key` and
 * `<dir>/<name>.pem` (PEM) and returns both paths.
 */
export function opensslSelfSigned(
  dir: string,
  name: string,
  o: { subject: string; days: number; extensions: string[] },
): { keyFile: string; certFile: string } {
  const keyFile = path.join(dir, `${name}.key`);
  const certFile = path.join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...opensslNewP256Key(keyFile),
      '-out',
      certFile,
      '-subj',
      o.subject,
      '-days',
      String(o.days),
      ...o.extensions.flatMap((e) => ['-addext', e]),
    ],
    { stdio: 'ignore' },
  );
  return { keyFile, certFile };
}
