/**
 * The agent daemon: node attestation and SVID management against the identity server
 * ({@link AgentManager}), workload attestation, and the unix socket serving the SPIFFE Workload API
 * and Envoy SDS v3 ({@link AgentEndpoints}). The socket opens after the first successful sync, so
 * the first workload request already sees the cache.
 */
import { mkdir, readFile } from 'node:fs/promises';
import type http from 'node:http';
import type { Logger } from 'pino';
import { parseCertificates } from '../../spiffe/index.js';
import { SvidCache } from './cache.js';
import { AgentManager } from './manager.js';
import { AgentEndpoints } from './endpoints.js';
import { WorkloadAttestation } from './workload-attestation.js';
import { UnixAttestor } from './attestors/unix.js';
import { K8sAttestor } from './attestors/k8s.js';
import { HttpPodInfoSource } from './attestors/pod-info.js';
import type { WorkloadAttestor } from './attestors/types.js';
import { joinTokenAttestor, k8sSatAttestor } from './node-attestors.js';
import { registerWorkloadApi } from './workload-api.js';
import { registerSds } from './sds.js';
import { registerReflection } from './reflection.js';
import { AgentMetrics } from './metrics.js';
import type { AgentConfig } from './config.js';
import { AgentConfigError } from './errors.js';

/** Test and embedding hooks of {@link Agent.start}. */
export interface AgentStartOptions {
  log: Logger;
  /** wall clock, ms since the epoch */
  now?: () => number;
}

/** A running agent. */
export class Agent {
  readonly config: AgentConfig;
  readonly cache: SvidCache;
  readonly metrics: AgentMetrics;
  readonly #manager: AgentManager;
  readonly #endpoints: AgentEndpoints;
  readonly #podInfo: HttpPodInfoSource | undefined;
  readonly #metricsServer: http.Server | undefined;

  private constructor(parts: {
    config: AgentConfig;
    cache: SvidCache;
    metrics: AgentMetrics;
    manager: AgentManager;
    endpoints: AgentEndpoints;
    podInfo: HttpPodInfoSource | undefined;
    metricsServer: http.Server | undefined;
  }) {
    this.config = parts.config;
    this.cache = parts.cache;
    this.metrics = parts.metrics;
    this.#manager = parts.manager;
    this.#endpoints = parts.endpoints;
    this.#podInfo = parts.podInfo;
    this.#metricsServer = parts.metricsServer;
  }

  /**
   * Attests the node, syncs once, then opens the agent socket. Resolves when the socket listens.
   * Keeps retrying the server with backoff until the first sync succeeds. Throws
   * {@link AgentConfigError} when the trust bundle file is unreadable.
   */
  static async start(config: AgentConfig, options: AgentStartOptions): Promise<Agent> {
    const { log } = options;
    await mkdir(config.dataDir, { recursive: true });
    let bootstrapRoots;
    if (config.trustBundlePath) {
      try {
        bootstrapRoots = parseCertificates(await readFile(config.trustBundlePath));
      } catch (err) {
        throw new AgentConfigError(
          'agent.trust_bundle_path',
          `cannot load ${config.trustBundlePath}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
    }
    const cache = new SvidCache(config.trustDomain);
    const metrics = new AgentMetrics(() => cache.svidCount());
    const manager = new AgentManager({
      serverAddress: `${config.serverAddress}:${config.serverPort}`,
      trustDomain: config.trustDomain,
      bootstrapRoots,
      insecureBootstrap: config.insecureBootstrap,
      nodeAttestor:
        config.nodeAttestor.type === 'join_token'
          ? joinTokenAttestor(config.nodeAttestor.token)
          : k8sSatAttestor({
              cluster: config.nodeAttestor.cluster,
              tokenPath: config.nodeAttestor.tokenPath,
            }),
      cache,
      log: log.child({ subsystem: 'manager' }),
      now: options.now,
      syncIntervalMs: config.syncIntervalMs,
      onSvidRotated: () => metrics.rotations.inc(),
    });
    const attestors: WorkloadAttestor[] = [];
    if (config.workloadAttestors.unix) attestors.push(new UnixAttestor(config.workloadAttestors.unix));
    let podInfo: HttpPodInfoSource | undefined;
    if (config.workloadAttestors.k8s) {
      podInfo = new HttpPodInfoSource({ url: config.workloadAttestors.k8s.podInfoUrl });
      attestors.push(new K8sAttestor(podInfo));
    }
    const attestation = new WorkloadAttestation(
      attestors,
      log.child({ subsystem: 'workload_attestor' }),
      (s, ok) => metrics.attestationSeconds.observe({ result: ok ? 'ok' : 'error' }, s),
    );
    await manager.start();
    const onStream = (d: 1 | -1) => metrics.streams.inc(d);
    const endpoints = await AgentEndpoints.listen({
      socketPath: config.socketPath,
      log: log.child({ subsystem: 'endpoints' }),
      routes: (router) => {
        registerWorkloadApi(router, {
          cache,
          attestation,
          jwt: manager,
          log: log.child({ subsystem: 'workload_api' }),
          onStream,
        });
        registerSds(router, {
          cache,
          attestation,
          log: log.child({ subsystem: 'sds' }),
          options: config.sds,
          onStream,
        });
        registerReflection(router);
      },
    });
    const metricsServer = config.prometheus
      ? (await metrics.listen(config.prometheus.host, config.prometheus.port)).server
      : undefined;
    if (config.ignoredKeys.length > 0)
      log.warn(
        { keys: config.ignoredKeys },
        'configuration keys not used by trustmesh are ignored (SPIRE would refuse unknown ones)',
      );
    log.info(
      { agentId: manager.agentSpiffeId, socketPath: config.socketPath, svids: cache.svidCount() },
      'agent started',
    );
    return new Agent({ config, cache, metrics, manager, endpoints, podInfo, metricsServer });
  }

  /** The agent's SPIFFE ID (from node attestation). */
  get spiffeId(): string | undefined {
    return this.#manager.agentSpiffeId;
  }

  /** Closes the socket (open streams end), stops syncing, releases connections. */
  async close(): Promise<void> {
    this.cache.close();
    await this.#endpoints.close();
    await this.#manager.close();
    await this.#podInfo?.close();
    await new Promise<void>((resolve) =>
      this.#metricsServer ? this.#metricsServer.close(() => resolve()) : resolve(),
    );
  }
}
