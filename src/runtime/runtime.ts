/**
 * `trustmesh up`: the local runtime as one foreground process. Order: preflight (root, tools),
 * cleanup of a crashed previous run, host network (bridge, Service chains), identity server,
 * agent, control plane, the pod view and control API, the registration script (`register.sh`
 * beside the manifests), then the manifests. Ctrl-C, SIGTERM or `trustmesh down` tear everything down.
 */
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import type http from 'node:http';
import { serveControl, servePodInfo } from './api.js';
import { Cluster } from './cluster.js';
import { RuntimeError } from './errors.js';
import { run } from './exec.js';
import { cleanupHost, preflight, runtimeAlive, setupHost } from './host.js';
import { loadManifests, type Manifest } from './manifests.js';
import { PROXY_UID } from './injector.js';
import { AddressPools, createBridge, parseCidr } from './network.js';
import { StateFile } from './state.js';
import { handleControl } from './control.js';
import {
  createServiceAccountIssuer,
  startAgent,
  startControlPlane,
  startIdentityServer,
  systemPaths,
  type Daemon,
  type SystemOptions,
  type SystemPaths,
} from './system.js';

/** Options of `trustmesh up`. */
export interface UpOptions {
  /** Manifest files and directories. */
  paths: string[];
  trustDomain: string;
  clusterName: string;
  stateDir: string;
  /** Address range of pods (lower half) and Services (upper half). */
  cidr: string;
  bridge: string;
  /** X509-SVID TTL for workloads (seconds). */
  svidTtlSeconds: number;
  /** argv that runs this CLI. */
  selfArgv: string[];
  /** Progress output (one line each). */
  log: (line: string) => void;
  /**
   * false: network only (no identity server, agent, control plane, no sidecar injection), for
   * tests of the pod network and apps that need no mesh.
   */
  withMesh?: boolean;
}

/** Default state directory. */
export const DEFAULT_STATE_DIR = '/run/trustmesh';

/** Path of the control socket in a state dir. */
export function controlSocketPath(stateDir: string): string {
  return path.join(stateDir, 'runtime.sock');
}

/** A running local runtime. */
export class LocalRuntime {
  readonly options: UpOptions;
  readonly cluster: Cluster;
  readonly state: StateFile;
  readonly daemons: Daemon[] = [];
  readonly #servers: http.Server[] = [];
  #closing: Promise<void> | null = null;
  /** Resolves when the runtime has been torn down. */
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;

  private constructor(options: UpOptions, state: StateFile, cluster: Cluster) {
    this.options = options;
    this.state = state;
    this.cluster = cluster;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
  }

  /**
   * Brings the runtime up (see the module docstring). On any failure during start-up, what was
   * created is torn down before the error is rethrown.
   */
  static async up(options: UpOptions): Promise<LocalRuntime> {
    const { log } = options;
    await preflight();
    await mkdir(options.stateDir, { recursive: true });
    // Sidecars (uid 1337) reach the agent and xDS sockets under it; private files inside keep 0600/0700.
    await chmod(options.stateDir, 0o755);
    const state = StateFile.open(options.stateDir);
    if (await runtimeAlive(state))
      throw new RuntimeError(
        'TM_ERR_RUNTIME_RUNNING',
        `a runtime (pid ${state.record.runtimePid}) already uses ${options.stateDir}; stop it with \`trustmesh down\``,
      );
    const leftovers = await cleanupHost(state);
    if (leftovers.length > 0) log(`• cleaned up a previous run: ${leftovers.join(', ')}`);
    state.update((r) => (r.runtimePid = process.pid));
    // Logs of the previous run stay readable after `down`; a new run starts fresh.
    await rm(path.join(options.stateDir, 'logs'), { recursive: true, force: true });

    const manifests = await loadManifests(options.paths);
    const pools = new AddressPools(parseCidr(options.cidr));
    const paths = systemPaths(options.stateDir);
    const proxyCaps = options.withMesh === false ? [] : await proxyCapabilities(options.selfArgv, log);
    const cluster = new Cluster({
      proxyCaps,
      state,
      stateDir: options.stateDir,
      pools,
      bridge: options.bridge,
      selfArgv: options.selfArgv,
      xdsAddress: `unix://${paths.xdsSocket}`,
      sdsSocketPath: paths.agentSocket,
      inject: options.withMesh !== false,
      log,
      listener: { meshInputChanged: (objects) => writeMeshDir(paths.meshDir, objects) },
    });
    const rt = new LocalRuntime(options, state, cluster);
    try {
      log(
        `• network: bridge ${options.bridge} ${pools.bridgeIp}/${pools.range.prefix} (pods and services in ${pools.rangeText})`,
      );
      await createBridge(state, options.bridge, pools);
      await setupHost(state, options.bridge);

      const sys: SystemOptions = {
        stateDir: options.stateDir,
        state,
        selfArgv: options.selfArgv,
        trustDomain: options.trustDomain,
        clusterName: options.clusterName,
        svidTtlSeconds: options.svidTtlSeconds,
      };
      rt.#servers.push(await servePodInfo(cluster, paths.podInfoSocket));
      if (options.withMesh !== false) await rt.#startMesh(sys, paths);
      rt.#servers.push(
        await serveControl((req) => handleControl(rt, req), controlSocketPath(options.stateDir)),
      );

      // As in the seed: registration entries first, then the apps, so sidecars get SVIDs at once.
      if (options.withMesh !== false)
        for (const dir of manifests.dirs) {
          const script = path.join(dir, 'register.sh');
          if (existsSync(script)) await rt.runRegistration(script);
        }
      log(`• applying ${manifests.docs.length} objects from ${options.paths.join(' ')}`);
      await cluster.apply(manifests.docs, manifests.images, (line) => log(`  ${line}`));
      cluster.start();
    } catch (err) {
      await rt.down();
      throw err;
    }
    return rt;
  }

  /** Starts the identity server, the agent and the control plane, in that order. */
  async #startMesh(sys: SystemOptions, paths: SystemPaths): Promise<void> {
    const { log } = this.options;
    log(`• identity server: trust domain ${sys.trustDomain}, admin socket ${paths.serverSocket}`);
    const issuer = await createServiceAccountIssuer(this.options.stateDir);
    const server = await startIdentityServer(sys, issuer);
    this.daemons.push(server.daemon);
    if (this.options.stateDir === DEFAULT_STATE_DIR) await this.#linkDefaultServerSocket(paths.serverSocket);
    log(
      `• identity agent: k8s_sat node attestation as spire/spire-agent of cluster ${this.options.clusterName}, socket ${paths.agentSocket}`,
    );
    this.daemons.push(await startAgent(sys, issuer, server.port));
    await writeMeshDir(paths.meshDir, []);
    log(`• control plane: xDS on ${paths.xdsSocket}`);
    this.daemons.push(await startControlPlane(sys));
  }

  /**
   * Points the identity server's default admin socket path at ours (when that path is free), so
   * `trustmesh server entry show` and scripts written for `spire-server` reach this runtime's
   * server without `-socketPath`.
   */
  async #linkDefaultServerSocket(target: string): Promise<void> {
    // Loaded here only: a network-only runtime does not load the identity server at all.
    const link = (await import('../identity/server/index.js')).DEFAULT_SOCKET_PATH;
    try {
      const st = await lstat(link);
      // A live socket of another server stays; a dangling link of a crashed run is replaced.
      if (!st.isSymbolicLink() || existsSync(link)) return;
      await rm(link);
    } catch {
      // Nothing there.
    }
    await mkdir(path.dirname(link), { recursive: true, mode: 0o700 });
    this.state.update((r) => (r.links = [...(r.links ?? []), link]));
    await symlink(target, link);
  }

  /**
   * Runs a registration script written for `spire-server` with `trustmesh` on PATH and
   * TRUSTMESH_SERVER_SOCKET pointing at this runtime's server.
   */
  async runRegistration(script: string, args: string[] = []): Promise<string> {
    const bin = path.join(this.options.stateDir, 'bin');
    await mkdir(bin, { recursive: true });
    const shim = path.join(bin, 'trustmesh');
    const quoted = this.options.selfArgv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    await writeFile(shim, `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
    this.options.log(`• registration: ${path.relative(process.cwd(), script) || script} ${args.join(' ')}`);
    const r = await run(['bash', script, ...args], {
      env: {
        ...process.env,
        PATH: `${bin}:${process.env['PATH'] ?? ''}`,
        TRUSTMESH: shim,
        TRUSTMESH_SERVER_SOCKET: systemPaths(this.options.stateDir).serverSocket,
        TRUST_DOMAIN: this.options.trustDomain,
        CLUSTER_NAME: this.options.clusterName,
      },
    }).catch((err: unknown) => {
      throw new RuntimeError(
        'TM_ERR_RUNTIME_REGISTRATION',
        `${script} failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    });
    for (const line of r.stdout.split('\n')) if (line.trim() !== '') this.options.log(`  ${line}`);
    return r.stdout;
  }

  /** Tears everything down (idempotent; concurrent calls share one teardown). */
  down(): Promise<void> {
    this.#closing ??= (async () => {
      const { log } = this.options;
      log('• tearing down');
      await this.cluster.close();
      await Promise.all(this.daemons.map((d) => d.process.stop()));
      await Promise.all(this.#servers.map((s) => new Promise((r) => s.close(r))));
      const removed = await cleanupHost(this.state);
      log(`• down${removed.length > 0 ? ` (removed ${removed.join(', ')})` : ''}`);
      this.#resolveClosed();
    })();
    return this.#closing;
  }
}

/**
 * The sidecar runs as uid 1337 (App Mesh's proxy user, exempt from the egress redirect). When
 * that user cannot read our code (a checkout under a private home such as /root), it keeps
 * CAP_DAC_READ_SEARCH; we say so, since a world-readable checkout needs no capability.
 */
async function proxyCapabilities(
  selfArgv: readonly string[],
  log: (line: string) => void,
): Promise<string[]> {
  const script = selfArgv.find((a) => /\.(m?js|ts)$/.test(a));
  if (!script) return [];
  const probe = await run(
    ['setpriv', `--reuid=${PROXY_UID}`, `--regid=${PROXY_UID}`, '--clear-groups', '--', 'test', '-r', script],
    {
      allowFailure: true,
    },
  );
  if (probe.code === 0) return [];
  log(
    `• note: uid ${PROXY_UID} cannot read ${script}; sidecars keep CAP_DAC_READ_SEARCH (a world-readable checkout avoids this)`,
  );
  return ['dac_read_search'];
}

/** Writes the objects the control plane reads (Namespaces, App Mesh kinds) as one YAML stream. */
async function writeMeshDir(dir: string, objects: readonly Manifest[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const text = objects.map((o) => toYaml(o)).join('---\n');
  // Rewritten in place, not renamed over: the control plane's watcher follows the file's inode
  // (a replaced file stops being watched), and its debounce covers the truncate-then-write.
  await writeFile(path.join(dir, 'appmesh.yaml'), text);
}
