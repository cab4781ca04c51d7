/**
 * The control API's handler: what `trustmesh apply|delete|get|logs|exec|run|status|down` ask
 * a running runtime (served by {@link serveControl} on `<stateDir>/runtime.sock`).
 *
 * Routes (JSON bodies):
 * - `POST /apply {docs, images}` / `POST /delete {docs}` → `{ lines }`
 * - `GET /get/<resource>?namespace=<ns>|all` → `{ items }` (Kubernetes-shaped objects)
 * - `GET /pod/<ns>/<name>` → where a pod runs: netns, ip, containers with log files and uid
 * - `POST /run {name, argv, namespace, attach}` / `DELETE /pod/<ns>/<name>`
 * - `POST /register {args}` runs the manifests' register.sh again with `args`
 * - `GET /status` → pods, SVIDs (from each sidecar's /certs), mesh edges
 * - `POST /down` → tears the runtime down after answering
 */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { Cluster, type Pod } from './cluster.js';
import { ManifestError, NotFoundError } from './errors.js';
import { curlLocal } from './exec.js';
import { ADMIN_PORT } from './injector.js';
import type { ImageMap, Manifest } from './manifests.js';
import type { LocalRuntime } from './runtime.js';

/** Resource names `get` accepts, with their aliases, mapped to kinds. */
const RESOURCES: Record<string, string> = {
  pods: 'Pod',
  pod: 'Pod',
  po: 'Pod',
  services: 'Service',
  service: 'Service',
  svc: 'Service',
  deployments: 'Deployment',
  deployment: 'Deployment',
  deploy: 'Deployment',
  namespaces: 'Namespace',
  namespace: 'Namespace',
  ns: 'Namespace',
  serviceaccounts: 'ServiceAccount',
  sa: 'ServiceAccount',
  meshes: 'Mesh',
  mesh: 'Mesh',
  virtualnodes: 'VirtualNode',
  virtualnode: 'VirtualNode',
  vn: 'VirtualNode',
  virtualservices: 'VirtualService',
  virtualservice: 'VirtualService',
  vs: 'VirtualService',
  virtualrouters: 'VirtualRouter',
  virtualrouter: 'VirtualRouter',
  vr: 'VirtualRouter',
  virtualgateways: 'VirtualGateway',
  virtualgateway: 'VirtualGateway',
  vg: 'VirtualGateway',
  gatewayroutes: 'GatewayRoute',
  gatewayroute: 'GatewayRoute',
  gr: 'GatewayRoute',
};

/** A pod as a Kubernetes-shaped object (what `get pods -o yaml` prints). */
export function podObject(pod: Pod): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      labels: pod.labels,
      annotations: pod.annotations,
      uid: pod.uid,
    } as Manifest['metadata'],
    spec: {
      serviceAccountName: pod.serviceAccount,
      nodeName: 'local',
      containers: pod.containers.map((c) => ({ name: c.name, image: c.image, ports: c.ports })),
    },
    status: {
      phase: pod.phase,
      podIP: pod.network.ip,
      startTime: pod.createdAt.toISOString(),
      conditions: [{ type: 'Ready', status: Cluster.podReady(pod) ? 'True' : 'False' }],
      containerStatuses: pod.containers.map((c) => ({
        name: c.name,
        ready: c.ready,
        restartCount: c.process.restarts,
        state: c.process.state,
        pid: c.process.pid,
      })),
    },
  };
}

/** Every object of `kind` in `namespace` (all namespaces when undefined). */
export function listObjects(rt: LocalRuntime, kind: string, namespace: string | undefined): Manifest[] {
  const c = rt.cluster;
  const inNs = (o: Manifest) => namespace === undefined || o.metadata.namespace === namespace;
  switch (kind) {
    case 'Pod':
      return [...c.pods.values()]
        .filter((p) => namespace === undefined || p.namespace === namespace)
        .map(podObject);
    case 'Service':
      return [...c.services.values()]
        .filter((s) => inNs(s.manifest))
        .map((s) => ({
          ...s.manifest,
          spec: { ...s.manifest.spec, type: 'ClusterIP', clusterIP: s.clusterIp },
          status: { endpoints: c.serviceEndpoints(s.manifest.metadata.namespace!, s.manifest.metadata.name) },
        }));
    case 'Deployment':
      return [...c.deployments.values()]
        .map((d) => d.manifest)
        .filter(inNs)
        .map((d) => {
          const pods = [...c.pods.values()].filter(
            (p) => p.namespace === d.metadata.namespace && p.owner?.deployment === d.metadata.name,
          );
          return {
            ...d,
            status: { replicas: pods.length, readyReplicas: pods.filter(Cluster.podReady).length },
          };
        });
    case 'Namespace':
      return [...c.namespaces.values()];
    case 'ServiceAccount':
      return [...c.serviceAccounts.values()].filter(inNs);
    default:
      return [...c.appmesh.values()].filter((o) => o.kind === kind && (kind === 'Mesh' || inNs(o)));
  }
}

/** The pod's placement: what `logs` and `exec` need. */
export function podPlacement(rt: LocalRuntime, pod: Pod) {
  return {
    name: pod.name,
    namespace: pod.namespace,
    netns: pod.network.netns,
    ip: pod.network.ip,
    containers: pod.containers.map((c) => ({
      name: c.name,
      logFile: c.process.spec.logFile,
      uid: c.process.spec.uid ?? 0,
      cwd: c.process.spec.cwd,
    })),
  };
}

/** The answer of `GET /status` (`trustmesh status`). */
export interface RuntimeStatus {
  trustDomain: string;
  /** Every pod, as `kubectl get pods -o json` items. */
  pods: Manifest[];
  svids: SvidStatus[];
  edges: MeshEdge[];
}

/** SVID seen by one sidecar, from its admin `/certs` (Envoy's JSON shape). */
export interface SvidStatus {
  pod: string;
  namespace: string;
  spiffeIds: string[];
  expires?: string;
  secondsLeft?: number;
}

interface EnvoyCerts {
  certificates?: {
    cert_chain?: { subject_alt_names?: { uri?: string }[]; expiration_time?: string }[];
    ca_cert?: unknown[];
  }[];
}

/** Asks each sidecar's admin endpoint (inside its pod) for its certificates. */
export async function sidecarSvids(rt: LocalRuntime): Promise<SvidStatus[]> {
  const pods = [...rt.cluster.pods.values()].filter((p) => p.containers.some((c) => c.name === 'envoy'));
  return Promise.all(
    pods.map(async (pod) => {
      const status: SvidStatus = { pod: pod.name, namespace: pod.namespace, spiffeIds: [] };
      const r = await adminGet(pod, '/certs');
      try {
        const certs = JSON.parse(r) as EnvoyCerts;
        for (const entry of certs.certificates ?? []) {
          for (const cert of entry.cert_chain ?? []) {
            for (const san of cert.subject_alt_names ?? []) if (san.uri) status.spiffeIds.push(san.uri);
            if (cert.expiration_time && (cert.subject_alt_names ?? []).length > 0) {
              status.expires = cert.expiration_time;
              status.secondsLeft = Math.round((Date.parse(cert.expiration_time) - Date.now()) / 1000);
            }
          }
        }
      } catch {
        // No admin answer yet: the pod shows no SVID.
      }
      status.spiffeIds = [...new Set(status.spiffeIds)];
      return status;
    }),
  );
}

/** GET on the sidecar admin port inside `pod` (empty string when it does not answer). */
export function adminGet(pod: Pod, urlPath: string): Promise<string> {
  return curlLocal(pod.network.netns, ADMIN_PORT, urlPath, { maxTimeS: 2 });
}

/** One mesh edge: a sidecar's backend cluster, the target's listener TLS mode and what the
 * client saw (TLS handshakes and failures, active health). */
export interface MeshEdge {
  from: string;
  cluster: string;
  /** The target virtual node's listener TLS mode (STRICT, PERMISSIVE, DISABLED; '' when none). */
  tlsMode: string;
  handshakes: number;
  failures: number;
  /** `ok` (only successful handshakes), `failing` (only failures), `mixed`, or '' (none yet). */
  lastHandshake: string;
  health: string;
}

interface VirtualNodeSpec {
  awsName?: string;
  listeners?: { tls?: { mode?: string } }[];
}

/** Mesh edges of every sidecar, from its admin `/stats` and `/clusters` (Envoy's text formats). */
export async function meshEdges(rt: LocalRuntime): Promise<MeshEdge[]> {
  const modes = [...rt.cluster.appmesh.values()]
    .filter((o) => o.kind === 'VirtualNode')
    .map((o) => {
      const spec = (o.spec ?? {}) as VirtualNodeSpec;
      return {
        awsName: spec.awsName ?? `${o.metadata.name}_${o.metadata.namespace}`,
        mode: spec.listeners?.[0]?.tls?.mode ?? 'DISABLED',
      };
    });
  const pods = [...rt.cluster.pods.values()].filter((p) => p.containers.some((c) => c.name === 'envoy'));
  const edges: MeshEdge[] = [];
  for (const pod of pods) {
    const stats = await adminGet(pod, '/stats');
    const clusters = await adminGet(pod, '/clusters');
    const counters = new Map<string, { handshakes: number; failures: number }>();
    for (const line of stats.split('\n')) {
      const m =
        /^cluster\.(cds_egress_[^:]+?)\.ssl\.(handshake|connection_error|fail_verify_\w+): (\d+)/.exec(line);
      if (!m) continue;
      const e = counters.get(m[1]!) ?? { handshakes: 0, failures: 0 };
      if (m[2] === 'handshake') e.handshakes += Number(m[3]);
      else e.failures += Number(m[3]);
      counters.set(m[1]!, e);
    }
    const health = new Map<string, string>();
    for (const line of clusters.split('\n')) {
      const m = /^(cds_egress_[^:]+)::[^:]+:\d+::health_flags::(.*)$/.exec(line);
      if (m) health.set(m[1]!, m[2]!);
    }
    for (const name of new Set([...counters.keys(), ...health.keys()])) {
      const c = counters.get(name) ?? { handshakes: 0, failures: 0 };
      edges.push({
        from: pod.name,
        cluster: name,
        tlsMode: modes.find((m) => name.includes(`_${m.awsName}_`))?.mode ?? '',
        ...c,
        lastHandshake: c.handshakes > 0 ? (c.failures > 0 ? 'mixed' : 'ok') : c.failures > 0 ? 'failing' : '',
        health: health.get(name) ?? '',
      });
    }
  }
  return edges;
}

/** Handles one control request against `rt`. Throws typed runtime errors (mapped to 4xx). */
export async function handleControl(
  rt: LocalRuntime,
  req: { method: string; path: string[]; query: URLSearchParams; body: unknown },
): Promise<unknown> {
  const [head, ...rest] = req.path;
  const body = (req.body ?? {}) as Record<string, unknown>;
  const route = `${req.method} ${head ?? ''}`;
  switch (route) {
    case 'POST apply':
      return {
        lines: await rt.cluster.apply(
          body['docs'] as Manifest[],
          new Map(body['images'] as [string, never][]) as ImageMap,
        ),
      };
    case 'POST delete':
      return { lines: await rt.cluster.delete(body['docs'] as Manifest[]) };
    case 'GET get': {
      const kind = RESOURCES[(rest[0] ?? '').toLowerCase()];
      if (!kind)
        throw new ManifestError(
          'get',
          `unknown resource type "${rest[0]}"; one of ${Object.keys(RESOURCES).join(', ')}`,
        );
      const ns = req.query.get('namespace') ?? 'default';
      const items = listObjects(rt, kind, ns === 'all' ? undefined : ns);
      const name = rest[1];
      return {
        kind,
        items: name
          ? items.filter((i) => i.metadata.name === name || i.metadata.name.startsWith(`${name}-`))
          : items,
      };
    }
    case 'GET pod':
      return podPlacement(rt, rt.cluster.findPod(rest[0]!, rest[1]!));
    case 'DELETE pod':
      await rt.cluster.deletePod(rest[0]!, rt.cluster.findPod(rest[0]!, rest[1]!).name);
      return {};
    case 'POST run': {
      const argv = body['argv'] as string[];
      // An attached run keeps the pod alive with a placeholder; the CLI runs argv itself, attached.
      const pod = await rt.cluster.runPod(
        String(body['name']),
        body['attach'] ? ['sleep', 'infinity'] : argv,
        String(body['namespace'] ?? 'default'),
      );
      return podPlacement(rt, pod);
    }
    case 'POST register': {
      const script = rt.options.paths
        .map((p) => path.join(path.resolve(p), 'register.sh'))
        .find((f) => existsSync(f));
      if (!script) throw new NotFoundError('registration script', 'register.sh');
      await rt.runRegistration(script, (body['args'] as string[]) ?? []);
      return {};
    }
    case 'GET status': {
      const status: RuntimeStatus = {
        trustDomain: rt.options.trustDomain,
        pods: listObjects(rt, 'Pod', undefined),
        svids: await sidecarSvids(rt),
        edges: await meshEdges(rt),
      };
      return status;
    }
    case 'POST down':
      setImmediate(() => void rt.down());
      return {};
    default:
      throw new NotFoundError('route', `${req.method} /${req.path.join('/')}`);
  }
}
