/**
 * The local cluster: the objects applied (Namespace, ServiceAccount, Deployment, Service and App
 * Mesh kinds), the pods they produce, and the host plumbing that makes pods look like
 * Kubernetes pods (network namespaces, Service VIPs, hosts files, the injected sidecar).
 *
 * All mutations run one at a time through an internal queue, so `apply`, `delete`, readiness
 * changes and teardown never interleave.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ImageNotFoundError, ManifestError, NotFoundError } from './errors.js';
import { curlLocal, iptablesRestore } from './exec.js';
import { decideInjection, ADMIN_PORT, PROXY_UID, type Injection } from './injector.js';
import {
  hostServiceChains,
  installServiceChains,
  renderProxyInitRules,
  renderServiceRules,
  type ServiceRule,
} from './iptables.js';
import {
  isAppMesh,
  labelsMatch,
  objectKey,
  resolveImage,
  type ContainerSpec,
  type DeploymentManifest,
  type ImageMap,
  type Manifest,
  type ServiceManifest,
} from './manifests.js';
import type { AddressPools } from './network.js';
import {
  createPodNetwork,
  deletePodNetwork,
  renderHosts,
  writeHostsFile,
  type PodNetwork,
} from './network.js';
import { ContainerProcess, type ContainerProcessSpec } from './process.js';
import type { StateFile } from './state.js';
import { PACKAGE_ROOT } from './system.js';

/** Pod phase as `kubectl get pods` shows it. */
export type PodPhase = 'Pending' | 'Running' | 'Failed' | 'Terminating';

/** A container of a running pod. */
export interface Container {
  name: string;
  image: string;
  process: ContainerProcess;
  ready: boolean;
  /** Readiness probe: HTTP GET on this port and path inside the pod (the sidecar's /ready). */
  readinessProbe?: { port: number; path: string };
  ports: { containerPort: number; name?: string }[];
}

/** A pod of the local cluster. */
export interface Pod {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccount: string;
  /** Owning Deployment and its template hash, or undefined for `trustmesh run` pods. */
  owner?: { deployment: string; templateHash: string };
  network: PodNetwork;
  containers: Container[];
  phase: PodPhase;
  /** The injected sidecar, if any. */
  injection: Injection | null;
  createdAt: Date;
}

/** A Service with its ClusterIP. */
export interface Service {
  manifest: ServiceManifest;
  clusterIp: string;
}

/** Hooks the cluster calls so the mesh control plane follows the cluster. */
export interface ClusterListener {
  /**
   * The mesh's input changed: App Mesh objects or Namespaces (whose labels decide mesh
   * membership). The whole current set of both is passed, Namespaces first.
   */
  meshInputChanged?(objects: readonly Manifest[]): void | Promise<void>;
  /** Pods or Services changed (pod IPs, readiness): endpoint resolution may change. */
  endpointsChanged?(): void | Promise<void>;
}

/** Settings of the cluster. */
export interface ClusterOptions {
  state: StateFile;
  stateDir: string;
  pools: AddressPools;
  bridge: string;
  /** argv that runs this trustmesh CLI (e.g. `[node, --import, tsx, src/cli/main.ts]`). */
  selfArgv: string[];
  /** xDS address handed to sidecars as `--xds`. */
  xdsAddress: string;
  /** Agent socket handed to sidecars as APPMESH_SDS_SOCKET_PATH (null: SDS disabled). */
  sdsSocketPath: string | null;
  /** Capabilities the sidecar keeps as uid 1337 (`dac_read_search` when our code is not
   * world-readable, e.g. a checkout under /root). */
  proxyCaps?: string[];
  /** Whether App Mesh sidecar injection is on (off in network-only runs). */
  inject: boolean;
  /** Progress output. */
  log: (line: string) => void;
  listener?: ClusterListener;
  /** Readiness probe period (ms). */
  probePeriodMs?: number;
}

const KIND_ORDER = ['Namespace', 'ServiceAccount', 'Mesh', 'Service', 'Deployment'];
const READY_PROBE_MS = 2000;

function kindRank(doc: Manifest): number {
  const i = KIND_ORDER.indexOf(doc.kind);
  if (i >= 0) return i;
  return isAppMesh(doc) ? 2.5 : 99;
}

/** Resolves a container's env `valueFrom.fieldRef` (downward API basics). */
function fieldRef(pod: Pod, fieldPath: string): string {
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (label) return (label[1] === 'labels' ? pod.labels : pod.annotations)[label[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'metadata.uid':
      return pod.uid;
    case 'status.podIP':
      return pod.network.ip;
    case 'spec.serviceAccountName':
      return pod.serviceAccount;
    case 'spec.nodeName':
      return 'local';
    case 'status.hostIP':
      return '127.0.0.1';
    default:
      throw new ManifestError(
        `pod ${pod.name}`,
        `env valueFrom.fieldRef.fieldPath "${fieldPath}" is not supported`,
      );
  }
}

/** The local cluster. */
export class Cluster {
  readonly #o: ClusterOptions;
  readonly namespaces = new Map<string, Manifest>();
  readonly serviceAccounts = new Map<string, Manifest>();
  readonly deployments = new Map<string, { manifest: DeploymentManifest; images: ImageMap }>();
  readonly services = new Map<string, Service>();
  readonly appmesh = new Map<string, Manifest>();
  readonly pods = new Map<string, Pod>();
  #queue: Promise<unknown> = Promise.resolve();
  #probeTimer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: ClusterOptions) {
    this.#o = options;
  }

  /** Runs `task` after every earlier mutation finished. */
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(task, task);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Starts the readiness prober. */
  start(): void {
    const tick = () => {
      this.#probeTimer = setTimeout(
        () => void this.#probe().finally(() => !this.#closed && tick()),
        this.#o.probePeriodMs ?? READY_PROBE_MS,
      );
    };
    tick();
  }

  /**
   * Applies manifests (create or update), in dependency order: Namespaces, ServiceAccounts, App
   * Mesh objects, Services, Deployments. Returns one `kind/name verb` line per object.
   */
  apply(docs: readonly Manifest[], images: ImageMap, onLine?: (line: string) => void): Promise<string[]> {
    return this.#serial(async () => {
      const out: string[] = [];
      const sorted = [...docs].sort((a, b) => kindRank(a) - kindRank(b));
      let meshChanged = false;
      for (const doc of sorted) {
        const ns = doc.metadata.namespace ?? 'default';
        const key = objectKey({
          ...doc,
          metadata: {
            ...doc.metadata,
            namespace: doc.kind === 'Namespace' || doc.kind === 'Mesh' ? undefined : ns,
          },
        });
        const normalized: Manifest =
          doc.kind === 'Namespace' || doc.kind === 'Mesh'
            ? doc
            : { ...doc, metadata: { ...doc.metadata, namespace: ns } };
        let verb = 'created';
        if (doc.kind === 'Namespace') {
          if (this.namespaces.has(key)) verb = 'configured';
          this.namespaces.set(key, normalized);
          meshChanged = true;
        } else if (doc.kind === 'ServiceAccount') {
          if (this.serviceAccounts.has(key)) verb = 'unchanged';
          this.serviceAccounts.set(key, normalized);
        } else if (isAppMesh(doc)) {
          if (this.appmesh.has(key)) verb = 'configured';
          this.appmesh.set(key, normalized);
          meshChanged = true;
        } else if (doc.kind === 'Service') {
          verb = this.#applyService(key, normalized as ServiceManifest);
        } else if (doc.kind === 'Deployment') {
          this.#ensureNamespace(ns);
          const prev = this.deployments.get(key);
          this.deployments.set(key, { manifest: normalized as DeploymentManifest, images });
          verb = prev ? 'configured' : 'created';
        } else {
          throw new ManifestError(
            key,
            `kind ${doc.kind} (${doc.apiVersion}) is not supported by the local runtime`,
          );
        }
        out.push(`${doc.kind.toLowerCase()}/${doc.metadata.name} ${verb}`);
        onLine?.(out.at(-1)!);
      }
      if (meshChanged) await this.#notifyMesh();
      await this.#syncServices();
      for (const key of this.deployments.keys()) await this.#reconcileDeployment(key);
      await this.#syncServices();
      return out;
    });
  }

  /** Deletes the objects named by `docs` (a Namespace takes its contents with it). */
  delete(docs: readonly Manifest[]): Promise<string[]> {
    return this.#serial(async () => {
      const out: string[] = [];
      let meshChanged = false;
      for (const doc of [...docs].sort((a, b) => kindRank(b) - kindRank(a))) {
        const ns = doc.metadata.namespace ?? 'default';
        const name = doc.metadata.name;
        let found = false;
        if (doc.kind === 'Namespace') {
          found = this.namespaces.delete(`Namespace//${name}`);
          meshChanged = true;
          for (const [k, d] of this.deployments)
            if (d.manifest.metadata.namespace === name) this.deployments.delete(k);
          for (const [k, s] of this.services)
            if (s.manifest.metadata.namespace === name) this.#dropService(k, s);
          for (const [k, o] of this.appmesh) if (o.metadata.namespace === name) this.appmesh.delete(k);
          for (const [k, o] of this.serviceAccounts)
            if (o.metadata.namespace === name) this.serviceAccounts.delete(k);
          for (const pod of [...this.pods.values()]) if (pod.namespace === name) await this.#deletePod(pod);
        } else if (doc.kind === 'Deployment') {
          found = this.deployments.delete(`Deployment/${ns}/${name}`);
          for (const pod of [...this.pods.values()])
            if (pod.namespace === ns && pod.owner?.deployment === name) await this.#deletePod(pod);
        } else if (doc.kind === 'Service') {
          const k = `Service/${ns}/${name}`;
          const s = this.services.get(k);
          if (s) this.#dropService(k, s);
          found = !!s;
        } else if (doc.kind === 'ServiceAccount') {
          found = this.serviceAccounts.delete(`ServiceAccount/${ns}/${name}`);
        } else if (isAppMesh(doc)) {
          found = this.appmesh.delete(
            objectKey({
              ...doc,
              metadata: { ...doc.metadata, namespace: doc.kind === 'Mesh' ? undefined : ns },
            }),
          );
          meshChanged ||= found;
        }
        out.push(`${doc.kind.toLowerCase()}/${name} ${found ? 'deleted' : 'not found'}`);
      }
      if (meshChanged) await this.#notifyMesh();
      await this.#syncServices();
      return out;
    });
  }

  /**
   * Starts a throwaway pod in `default` (no sidecar, like `kubectl run`): `argv` runs as its
   * only container. Resolves with the pod once its process started.
   */
  runPod(name: string, argv: string[], namespace = 'default'): Promise<Pod> {
    return this.#serial(async () => {
      if (this.pods.has(`${namespace}/${name}`))
        throw new ManifestError(`pod ${name}`, 'a pod with this name exists');
      this.#ensureNamespace(namespace);
      const pod = await this.#createPod({
        name,
        namespace,
        labels: { run: name },
        annotations: { [`appmesh.k8s.aws/sidecarInjectorWebhook`]: 'disabled' },
        serviceAccount: 'default',
        containers: [{ name, image: 'local', command: argv }],
        images: new Map(),
      });
      await this.#syncServices();
      return pod;
    });
  }

  /** Deletes one pod by name (a Deployment's pod is replaced by its next reconcile). */
  deletePod(namespace: string, name: string): Promise<void> {
    return this.#serial(async () => {
      const pod = this.pods.get(`${namespace}/${name}`);
      if (!pod) throw new NotFoundError('pod', `${namespace}/${name}`);
      await this.#deletePod(pod);
      if (pod.owner) await this.#reconcileDeployment(`Deployment/${namespace}/${pod.owner.deployment}`);
      await this.#syncServices();
    });
  }

  /** Finds a pod by name in `namespace`, or by its Deployment's name (the oldest pod, as
   * `kubectl exec deploy/<name>` picks one). Throws {@link NotFoundError}. */
  findPod(namespace: string, name: string): Pod {
    const exact = this.pods.get(`${namespace}/${name}`);
    if (exact) return exact;
    const byPrefix = [...this.pods.values()].filter(
      (p) => p.namespace === namespace && p.name.startsWith(`${name}-`),
    );
    if (byPrefix.length > 0)
      return byPrefix.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())[0]!;
    throw new NotFoundError('pod', `${namespace}/${name}`);
  }

  /**
   * The pod and container a pid belongs to (the kubelet's view for workload attestation): walks
   * the parent chain from `pid` up to a container's root process. Undefined when none.
   */
  async podByPid(pid: number): Promise<{ pod: Pod; container: Container } | undefined> {
    const roots = new Map<number, { pod: Pod; container: Container }>();
    for (const pod of this.pods.values())
      for (const c of pod.containers)
        if (c.process.pid !== undefined) roots.set(c.process.pid, { pod, container: c });
    let current = pid;
    for (let hops = 0; hops < 64 && current > 1; hops++) {
      const hit = roots.get(current);
      if (hit) return hit;
      const parent = await parentPid(current);
      if (parent === undefined) return undefined;
      current = parent;
    }
    return undefined;
  }

  /** Whether every container of `pod` is ready. */
  static podReady(pod: Pod): boolean {
    return pod.phase === 'Running' && pod.containers.every((c) => c.ready);
  }

  /** Stops every pod and forgets all objects (the host plumbing is removed by the caller). */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#probeTimer) clearTimeout(this.#probeTimer);
    return this.#serial(async () => {
      await Promise.all([...this.pods.values()].map((p) => this.#deletePod(p, { quiet: true })));
    });
  }

  async #notifyMesh(): Promise<void> {
    await this.#o.listener?.meshInputChanged?.([...this.namespaces.values(), ...this.appmesh.values()]);
  }

  #ensureNamespace(ns: string): void {
    const key = `Namespace//${ns}`;
    if (!this.namespaces.has(key))
      this.namespaces.set(key, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }

  #applyService(key: string, manifest: ServiceManifest): string {
    this.#ensureNamespace(manifest.metadata.namespace!);
    const prev = this.services.get(key);
    if (prev) {
      prev.manifest = manifest;
      return 'configured';
    }
    const clusterIp = this.#o.pools.allocateService();
    this.services.set(key, { manifest, clusterIp });
    return 'created';
  }

  #dropService(key: string, s: Service): void {
    this.services.delete(key);
    this.#o.pools.release(s.clusterIp);
  }

  /** Brings a Deployment's pods to its replica count and current template (recreate strategy). */
  async #reconcileDeployment(key: string): Promise<void> {
    const entry = this.deployments.get(key);
    if (!entry) return;
    const { manifest, images } = entry;
    const ns = manifest.metadata.namespace!;
    const name = manifest.metadata.name;
    const template = manifest.spec.template;
    const hash = createHash('sha256')
      .update(JSON.stringify({ template, mesh: this.#meshFingerprint(ns, template.metadata?.labels ?? {}) }))
      .digest('hex')
      .slice(0, 10);
    const owned = [...this.pods.values()].filter((p) => p.namespace === ns && p.owner?.deployment === name);
    for (const pod of owned.filter((p) => p.owner!.templateHash !== hash)) await this.#deletePod(pod);
    const current = owned.filter((p) => p.owner!.templateHash === hash);
    const replicas = manifest.spec.replicas ?? 1;
    for (const pod of current.slice(replicas)) await this.#deletePod(pod);
    for (let i = current.length; i < replicas; i++) {
      const podName = `${name}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`;
      try {
        await this.#createPod({
          name: podName,
          namespace: ns,
          labels: { ...(template.metadata?.labels ?? {}), 'pod-template-hash': hash },
          annotations: template.metadata?.annotations ?? {},
          serviceAccount: template.spec.serviceAccountName ?? 'default',
          containers: template.spec.containers,
          images,
          owner: { deployment: name, templateHash: hash },
        });
      } catch (err) {
        // Admission failures (no image, injector rejects) are reported, not fatal to the runtime.
        this.#o.log(`  ✗ deployment/${name}: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    }
  }

  /** What the injector would match for a pod template, so a matching VN change recreates pods. */
  #meshFingerprint(ns: string, labels: Record<string, string>): string {
    try {
      const inj = decideInjection(
        { name: 'x', namespace: ns, labels, annotations: {}, containerNames: [] },
        this.namespaces.get(`Namespace//${ns}`)?.metadata.labels ?? {},
        [...this.appmesh.values()],
        { sdsSocketPath: this.#o.sdsSocketPath },
      );
      return inj ? `${inj.resourceArn} ${inj.proxyInit?.appPorts.join(',')}` : '';
    } catch {
      return '';
    }
  }

  async #createPod(p: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    serviceAccount: string;
    containers: ContainerSpec[];
    images: ImageMap;
    owner?: Pod['owner'];
  }): Promise<Pod> {
    const nsLabels = this.namespaces.get(`Namespace//${p.namespace}`)?.metadata.labels ?? {};
    const injection = !this.#o.inject
      ? null
      : decideInjection(
          {
            name: p.name,
            namespace: p.namespace,
            labels: p.labels,
            annotations: p.annotations,
            containerNames: p.containers.map((c) => c.name),
          },
          nsLabels,
          [...this.appmesh.values()],
          { sdsSocketPath: this.#o.sdsSocketPath },
        );
    // Resolve every command before touching the host, so a bad image leaves nothing behind.
    // A virtual gateway's own `envoy` container becomes our proxy (the webhook overrides its image).
    const argvs = p.containers.map((c) =>
      injection?.kind === 'virtualGateway' && c.name === 'envoy'
        ? undefined
        : this.#containerArgv(c, p.images),
    );
    const ip = this.#o.pools.allocatePod();
    let network: PodNetwork;
    try {
      network = await createPodNetwork(
        this.#o.state,
        `${p.name}.${p.namespace}`,
        ip,
        this.#o.bridge,
        this.#o.pools.range.prefix,
      );
    } catch (err) {
      this.#o.pools.release(ip);
      throw err;
    }
    const pod: Pod = {
      name: p.name,
      namespace: p.namespace,
      uid: randomUUID(),
      labels: p.labels,
      annotations: p.annotations,
      serviceAccount: p.serviceAccount,
      owner: p.owner,
      network,
      containers: [],
      phase: 'Pending',
      injection,
      createdAt: new Date(),
    };
    this.pods.set(`${p.namespace}/${p.name}`, pod);
    await writeHostsFile(network.netns, renderHosts({ ...pod, ip }, this.#serviceAddresses()));
    if (injection?.proxyInit) await iptablesRestore(network.netns, renderProxyInitRules(injection.proxyInit));
    await installServiceChains(network.netns);
    await iptablesRestore(network.netns, renderServiceRules(this.#serviceRules()));

    const logDir = path.join(this.#o.stateDir, 'logs', p.namespace, p.name);
    const baseEnv = (c: ContainerSpec): Record<string, string> => {
      const env: Record<string, string> = {
        PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        HOSTNAME: p.name,
        HOME: '/root',
      };
      for (const e of c.env ?? []) {
        env[e.name] = e.value ?? (e.valueFrom?.fieldRef ? fieldRef(pod, e.valueFrom.fieldRef.fieldPath) : '');
      }
      return env;
    };
    p.containers.forEach((c, i) => {
      const argv = argvs[i];
      if (!argv) {
        pod.containers.push(this.#sidecar(pod, injection!, logDir, baseEnv(c)));
        return;
      }
      pod.containers.push(
        this.#container(pod, c.name, c.image ?? 'local', c.ports ?? [], {
          argv: argv.argv,
          cwd: argv.cwd,
          env: baseEnv(c),
          logFile: path.join(logDir, `${c.name}.log`),
        }),
      );
    });
    if (injection?.addEnvoyContainer) pod.containers.push(this.#sidecar(pod, injection, logDir, {}));
    for (const c of pod.containers) {
      if (!c.readinessProbe) c.process.onChange = () => (c.ready = c.process.state === 'Running');
      c.process.start();
    }
    pod.phase = 'Running';
    const sidecar = injection ? ` + sidecar ${injection.resourceArn}` : '';
    this.#o.log(`  ▸ pod ${p.namespace}/${p.name} ${ip}${sidecar}`);
    return pod;
  }

  /** The `envoy` container: our proxy as uid 1337, with the injector's env over `baseEnv`. */
  #sidecar(pod: Pod, injection: Injection, logDir: string, baseEnv: Record<string, string>): Container {
    const env = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOSTNAME: pod.name,
      ...baseEnv,
      HOME: '/tmp',
      APPMESH_PLATFORM_K8S_POD_UID: pod.uid,
      ...injection.env,
    };
    const envoy = this.#container(
      pod,
      'envoy',
      'trustmesh/proxy',
      [{ containerPort: ADMIN_PORT, name: 'stats' }],
      {
        argv: [...this.#o.selfArgv, 'proxy', 'run', '--xds', this.#o.xdsAddress],
        cwd: PACKAGE_ROOT,
        env,
        uid: PROXY_UID,
        caps: this.#o.proxyCaps,
        logFile: path.join(logDir, 'envoy.log'),
      },
    );
    envoy.readinessProbe = { port: ADMIN_PORT, path: '/ready' };
    return envoy;
  }

  #container(
    pod: Pod,
    name: string,
    image: string,
    ports: Container['ports'],
    spec: Omit<ContainerProcessSpec, 'id' | 'netns'>,
  ): Container {
    const process_ = new ContainerProcess(
      { id: `${pod.namespace}/${pod.name}/${name}`, netns: pod.network.netns, ...spec },
      this.#o.state,
    );
    return { name, image, process: process_, ready: false, ports };
  }

  #containerArgv(c: ContainerSpec, images: ImageMap): { argv: string[]; cwd?: string } {
    const entry = c.image ? resolveImage(images, c.image) : undefined;
    if (c.command && c.command.length > 0)
      return { argv: [...c.command, ...(c.args ?? [])], cwd: c.workingDir ?? entry?.workdir };
    if (!entry) throw new ImageNotFoundError(c.image ?? '(none)', c.name);
    return { argv: [...entry.command, ...(c.args ?? [])], cwd: c.workingDir ?? entry.workdir };
  }

  async #deletePod(pod: Pod, options: { quiet?: boolean } = {}): Promise<void> {
    pod.phase = 'Terminating';
    await Promise.all(pod.containers.map((c) => c.process.stop()));
    await deletePodNetwork(this.#o.state, pod.network);
    this.#o.pools.release(pod.network.ip);
    this.pods.delete(`${pod.namespace}/${pod.name}`);
    if (!options.quiet) this.#o.log(`  ▹ pod ${pod.namespace}/${pod.name} deleted`);
  }

  #serviceAddresses() {
    return [...this.services.values()].map((s) => ({
      name: s.manifest.metadata.name,
      namespace: s.manifest.metadata.namespace!,
      clusterIp: s.clusterIp,
    }));
  }

  /** The ready endpoints (`ip:port`) of each Service port. */
  #serviceRules(): ServiceRule[] {
    const rules: ServiceRule[] = [];
    for (const s of this.services.values()) {
      const m = s.manifest;
      const backends = m.spec.selector
        ? [...this.pods.values()].filter(
            (p) =>
              p.namespace === m.metadata.namespace &&
              Cluster.podReady(p) &&
              labelsMatch(m.spec.selector, p.labels),
          )
        : [];
      for (const port of m.spec.ports ?? []) {
        const endpoints = backends.flatMap((p) => {
          const target = port.targetPort ?? port.port;
          const n =
            typeof target === 'number' || /^\d+$/.test(String(target))
              ? Number(target)
              : p.containers.flatMap((c) => c.ports).find((cp) => cp.name === target)?.containerPort;
          return n === undefined ? [] : [`${p.network.ip}:${n}`];
        });
        rules.push({
          id: `${m.metadata.namespace}/${m.metadata.name}:${port.port}`,
          clusterIp: s.clusterIp,
          port: port.port,
          protocol: (port.protocol ?? 'TCP').toLowerCase() === 'udp' ? 'udp' : 'tcp',
          endpoints,
        });
      }
    }
    return rules;
  }

  /** The endpoints of a Service (`<ns>/<name>`), ready pods only, as `{ ip, port }`. */
  serviceEndpoints(namespace: string, name: string): { ip: string; port: number }[] {
    return this.#serviceRules()
      .filter((r) => r.id.startsWith(`${namespace}/${name}:`))
      .flatMap((r) => r.endpoints.map((e) => ({ ip: e.split(':')[0]!, port: Number(e.split(':')[1]) })));
  }

  #lastRules = '';
  #lastHosts = '';

  /** Pushes Service rules and hosts files to the host and every pod, when they changed. */
  async #syncServices(): Promise<void> {
    const rules = renderServiceRules(this.#serviceRules());
    const addresses = this.#serviceAddresses();
    const hostsKey = JSON.stringify(addresses) + [...this.pods.keys()].join();
    if (rules !== this.#lastRules) {
      this.#lastRules = rules;
      await iptablesRestore(
        null,
        renderServiceRules(this.#serviceRules(), hostServiceChains(this.#o.bridge)),
      );
      await Promise.all(
        [...this.pods.values()]
          .filter((p) => p.phase !== 'Terminating')
          .map((p) => iptablesRestore(p.network.netns, rules).catch(() => undefined)),
      );
      await this.#o.listener?.endpointsChanged?.();
    }
    if (hostsKey !== this.#lastHosts) {
      this.#lastHosts = hostsKey;
      await Promise.all(
        [...this.pods.values()].map((p) =>
          writeHostsFile(p.network.netns, renderHosts({ ...p, ip: p.network.ip }, addresses)).catch(
            () => undefined,
          ),
        ),
      );
    }
  }

  /** Runs readiness probes; a change in any pod's readiness resyncs Service endpoints. */
  async #probe(): Promise<void> {
    const probes: Promise<void>[] = [];
    for (const pod of this.pods.values()) {
      for (const c of pod.containers) {
        if (!c.readinessProbe) continue;
        const { port, path: p } = c.readinessProbe;
        probes.push(
          (async () => {
            if (c.process.state !== 'Running') {
              c.ready = false;
              return;
            }
            const status = await curlLocal(pod.network.netns, port, p, { maxTimeS: 1, statusOnly: true });
            c.ready = status === '200';
          })(),
        );
      }
    }
    await Promise.all(probes);
    // Cheap when nothing changed: the rendered rules are compared before anything is pushed.
    await this.#serial(() => this.#syncServices());
  }

  /** Cleans every pod's log directory (teardown). */
  async removeLogs(): Promise<void> {
    await rm(path.join(this.#o.stateDir, 'logs'), { recursive: true, force: true });
  }
}

/** Parent pid of `pid` from /proc/<pid>/stat, or undefined when the pid is gone. */
async function parentPid(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}
