/**
 * The runtime's system components, each a `trustmesh` child process on the host: the identity
 * server, the identity agent (node-attested with `k8s_sat` as `spire/spire-agent`, with a
 * service-account token the runtime signs with its own key) and the mesh control plane. Their
 * configuration files and sockets live in the state dir.
 */
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { randomUUID } from 'node:crypto';
import { RuntimeError } from './errors.js';
import { run } from './exec.js';
import { ContainerProcess } from './process.js';
import type { StateFile } from './state.js';

/** Settings shared by the system components. */
export interface SystemOptions {
  stateDir: string;
  state: StateFile;
  selfArgv: string[];
  trustDomain: string;
  clusterName: string;
  /** X509-SVID TTL handed out to workloads (seconds; the seed's 1 h by default). */
  svidTtlSeconds: number;
}

/**
 * The package root (`src/runtime` and `dist/runtime` are both two levels below it): the working
 * directory of every `trustmesh` child, so `--import tsx` resolves and uid 1337 can enter it.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Paths of the sockets and files the components expose. */
export interface SystemPaths {
  serverSocket: string;
  agentSocket: string;
  podInfoSocket: string;
  xdsSocket: string;
  meshDir: string;
  logDir: string;
}

/** The paths used under `stateDir`. */
export function systemPaths(stateDir: string): SystemPaths {
  return {
    serverSocket: path.join(stateDir, 'server', 'api.sock'),
    agentSocket: path.join(stateDir, 'agent', 'agent.sock'),
    podInfoSocket: path.join(stateDir, 'podinfo.sock'),
    xdsSocket: path.join(stateDir, 'xds.sock'),
    meshDir: path.join(stateDir, 'mesh'),
    logDir: path.join(stateDir, 'logs', 'system'),
  };
}

/**
 * Asks the identity server's admin socket for its health (`POST /v1/healthcheck`, the call behind
 * `trustmesh server healthcheck`) and returns the agent API port it bound, or `undefined` while
 * the server is not up or not healthy.
 */
function serverAgentApiPort(socketPath: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(
      {
        socketPath,
        path: '/v1/healthcheck',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          try {
            const doc = JSON.parse(body) as { healthy?: boolean; agent_api_port?: number };
            resolve(res.statusCode === 200 && doc.healthy === true ? doc.agent_api_port : undefined);
          } catch {
            resolve(undefined);
          }
        });
      },
    );
    req.on('error', () => resolve(undefined));
    req.end('{}');
  });
}

/** Waits until `check` resolves true, polling every `everyMs`; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new RuntimeError('TM_ERR_RUNTIME_TIMEOUT', `${what} did not come up within ${timeoutMs / 1000} s`);
}

/** A started system component. */
export interface Daemon {
  name: string;
  process: ContainerProcess;
}

/**
 * Starts `trustmesh <args…>` as a host daemon and waits until `ready()` holds. If the daemon
 * exits first, or is not ready within 60 s, it is stopped and a {@link RuntimeError} names its
 * log file.
 */
async function startDaemon(
  o: SystemOptions,
  name: string,
  what: string,
  args: string[],
  ready: () => Promise<boolean> | boolean,
): Promise<Daemon> {
  const proc = new ContainerProcess(
    {
      id: `system/${name}`,
      netns: null,
      argv: [...o.selfArgv, ...args],
      cwd: PACKAGE_ROOT,
      env: { ...(process.env as Record<string, string>) },
      logFile: path.join(systemPaths(o.stateDir).logDir, `${name}.log`),
    },
    o.state,
  );
  proc.start();
  try {
    await waitFor(
      what,
      () => {
        if (proc.lastExit !== null)
          throw new RuntimeError(
            'TM_ERR_RUNTIME_DAEMON',
            `${what} exited (${proc.lastExit}); see ${proc.spec.logFile}`,
          );
        return ready();
      },
      60_000,
    );
  } catch (err) {
    await proc.stop();
    throw err instanceof RuntimeError && err.code === 'TM_ERR_RUNTIME_TIMEOUT'
      ? new RuntimeError(err.code, `${err.message.replace(/^runtime: /, '')}; see ${proc.spec.logFile}`)
      : err;
  }
  return { name, process: proc };
}

/** The cluster's service-account signing key: signs the agent's token, verified by the server. */
export interface ServiceAccountIssuer {
  publicKeyFile: string;
  /** Signs a legacy (non-projected) service-account JWT for `namespace:name`. */
  sign(namespace: string, name: string): Promise<string>;
}

/** Creates an ES256 signing key and writes its public key (SPKI PEM) to the state dir. */
export async function createServiceAccountIssuer(stateDir: string): Promise<ServiceAccountIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const publicKeyFile = path.join(stateDir, 'sa-signer.pub.pem');
  await writeFile(publicKeyFile, await exportSPKI(publicKey));
  return {
    publicKeyFile,
    sign: (namespace, name) =>
      new SignJWT({
        'kubernetes.io/serviceaccount/namespace': namespace,
        'kubernetes.io/serviceaccount/service-account.name': name,
        'kubernetes.io/serviceaccount/service-account.uid': randomUUID(),
        'kubernetes.io/serviceaccount/secret.name': `${name}-token`,
      })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
        .setIssuer('kubernetes/serviceaccount')
        .setSubject(`system:serviceaccount:${namespace}:${name}`)
        .setIssuedAt()
        .sign(privateKey),
  };
}

/**
 * Starts the identity server with a SPIRE-style config (k8s_sat node attestor for
 * `clusterName` allowing `spire:spire-agent`). Resolves once its admin socket answers.
 */
export async function startIdentityServer(
  o: SystemOptions,
  issuer: ServiceAccountIssuer,
): Promise<{ daemon: Daemon; port: number }> {
  const p = systemPaths(o.stateDir);
  const dir = path.dirname(p.serverSocket);
  // Each run starts a fresh trust domain: no entries or agents of an earlier run.
  await rm(dir, { recursive: true, force: true });
  // The CA key lives here: root only.
  await mkdir(path.join(dir, 'data'), { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const config = {
    server: {
      trust_domain: o.trustDomain,
      bind_address: '127.0.0.1',
      // Port 0: a port probed here and bound later could be taken in between by another process.
      bind_port: 0,
      socket_path: p.serverSocket,
      data_dir: path.join(dir, 'data'),
      log_level: 'info',
      default_x509_svid_ttl: `${o.svidTtlSeconds}s`,
      ca_ttl: '24h',
    },
    plugins: {
      DataStore: {
        sql: {
          plugin_data: {
            database_type: 'sqlite3',
            connection_string: path.join(dir, 'data', 'datastore.sqlite3'),
          },
        },
      },
      // On disk (mode 0600), so a restarted server keeps its CA and the agent's trust in it.
      KeyManager: { disk: { plugin_data: { keys_path: path.join(dir, 'data', 'keys.json') } } },
      NodeAttestor: {
        k8s_sat: {
          plugin_data: {
            clusters: {
              [o.clusterName]: {
                service_account_key_file: issuer.publicKeyFile,
                service_account_allow_list: ['spire:spire-agent'],
              },
            },
          },
        },
      },
    },
  };
  const configFile = path.join(dir, 'server.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  let port: number | undefined;
  const daemon = await startDaemon(
    o,
    'identity-server',
    'the identity server',
    ['server', 'run', '-config', configFile],
    async () => {
      if (existsSync(p.serverSocket)) port = await serverAgentApiPort(p.serverSocket);
      return port !== undefined;
    },
  );
  return { daemon, port: port! };
}

/**
 * Starts the agent: bootstrap bundle from the server, a `spire:spire-agent` token signed by the
 * cluster key, k8s workload attestor asking the runtime's pod view. Resolves once its socket
 * exists (made reachable for the proxies' uid 1337).
 */
export async function startAgent(
  o: SystemOptions,
  issuer: ServiceAccountIssuer,
  serverPort: number,
): Promise<Daemon> {
  const p = systemPaths(o.stateDir);
  const dir = path.dirname(p.agentSocket);
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'data'), { recursive: true });
  await chmod(dir, 0o755);
  const bundle = await run([...o.selfArgv, 'server', 'bundle', 'show', '-socketPath', p.serverSocket]);
  const bundleFile = path.join(dir, 'bootstrap.crt');
  await writeFile(bundleFile, bundle.stdout);
  const tokenFile = path.join(dir, 'sa-token');
  await writeFile(tokenFile, await issuer.sign('spire', 'spire-agent'), { mode: 0o600 });
  const config = {
    agent: {
      trust_domain: o.trustDomain,
      server_address: '127.0.0.1',
      server_port: serverPort,
      socket_path: p.agentSocket,
      data_dir: path.join(dir, 'data'),
      trust_bundle_path: bundleFile,
      log_level: 'info',
    },
    plugins: {
      KeyManager: { memory: { plugin_data: {} } },
      NodeAttestor: { k8s_sat: { plugin_data: { cluster: o.clusterName, token_path: tokenFile } } },
      WorkloadAttestor: {
        k8s: { plugin_data: { pod_info_url: `unix://${p.podInfoSocket}` } },
        unix: { plugin_data: {} },
      },
    },
  };
  const configFile = path.join(dir, 'agent.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const daemon = await startDaemon(
    o,
    'identity-agent',
    'the identity agent',
    ['agent', 'run', '-config', configFile],
    () => existsSync(p.agentSocket),
  );
  // Envoy runs as uid 1337 and must reach the socket, as SPIRE's hostPath socket allows.
  await chmod(p.agentSocket, 0o777);
  return daemon;
}

/**
 * Starts the control plane serving xDS on a unix socket, reading App Mesh resources from the
 * mesh dir the runtime keeps in step with the cluster. Resolves once the socket exists.
 */
export async function startControlPlane(o: SystemOptions): Promise<Daemon> {
  const p = systemPaths(o.stateDir);
  await mkdir(p.meshDir, { recursive: true });
  const daemon = await startDaemon(
    o,
    'control-plane',
    'the control plane',
    ['controlplane', 'run', '-f', p.meshDir, '--listen', `unix://${p.xdsSocket}`],
    () => existsSync(p.xdsSocket),
  );
  await chmod(p.xdsSocket, 0o777);
  return daemon;
}
