/**
 * Sidecar injection as App Mesh's pod mutating webhook does it (reference appmesh-api §c.4):
 * which pods get the `envoy` container and proxyinit's iptables rules, with which settings.
 */
import { InjectionError } from './errors.js';
import type { ProxyInitConfig } from './iptables.js';
import type { Manifest } from './manifests.js';

/** Namespace label / pod annotation that turns the injector on or off. */
export const INJECTOR_LABEL = 'appmesh.k8s.aws/sidecarInjectorWebhook';
/** The proxy's uid (Envoy's `runAsUser`), exempt from the egress redirect. */
export const PROXY_UID = 1337;
/** Envoy admin port of the sidecar (`ENVOY_ADMIN_ACCESS_PORT`). */
export const ADMIN_PORT = 9901;

/** A Kubernetes label selector (`matchLabels` + `matchExpressions`). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: string[];
  }[];
}

/**
 * k8s `LabelSelectorAsSelector`: an absent selector selects nothing, an empty one everything;
 * every `matchLabels` pair and `matchExpressions` requirement must hold.
 */
export function selectorMatches(
  selector: LabelSelector | undefined | null,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    const ok =
      e.operator === 'In'
        ? inValues
        : e.operator === 'NotIn'
          ? !inValues
          : e.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/** The pod as the webhook sees it at admission. */
export interface PodAdmission {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  containerNames: string[];
}

/** What to add to an admitted pod. */
export interface Injection {
  /** `mesh/<mesh>/virtualNode/<vn awsName>` (or `…/virtualGateway/…`). */
  resourceArn: string;
  kind: 'virtualNode' | 'virtualGateway';
  /** The matched App Mesh object's name (in the pod's namespace). */
  targetName: string;
  /** Env of the `envoy` container (controller-managed values win over annotation ones). */
  env: Record<string, string>;
  /** Whether to append an `envoy` container (false when the pod already has one). */
  addEnvoyContainer: boolean;
  /** proxyinit settings; null for a VirtualGateway pod. */
  proxyInit: ProxyInitConfig | null;
}

/** Injector settings (the controller's flags). */
export interface InjectorOptions {
  sdsSocketPath: string | null;
  ignoredIps?: string[];
}

interface AppMeshObject extends Manifest {
  spec?: {
    awsName?: string;
    podSelector?: LabelSelector | null;
    namespaceSelector?: LabelSelector | null;
    listeners?: { portMapping?: { port?: number } }[];
  };
}

function parseList(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * Decides injection for `pod` given its namespace's labels and the App Mesh objects known.
 * Returns null when nothing is injected. Throws {@link InjectionError} with the webhook's
 * messages when mode is `enabled` and no VirtualNode/VirtualGateway matches, or when several do.
 */
export function decideInjection(
  pod: PodAdmission,
  namespaceLabels: Record<string, string>,
  appmesh: readonly Manifest[],
  options: InjectorOptions,
): Injection | null {
  const nsMode = namespaceLabels[INJECTOR_LABEL];
  if (nsMode !== 'enabled' && nsMode !== 'disabled') return null;
  const mode = pod.annotations[INJECTOR_LABEL] ?? nsMode;
  if (mode === 'disabled') return null;

  const inNs = (kind: string) =>
    (appmesh as AppMeshObject[]).filter(
      (o) =>
        o.kind === kind &&
        (o.metadata.namespace ?? 'default') === pod.namespace &&
        selectorMatches(o.spec?.podSelector, pod.labels),
    );
  const nodes = inNs('VirtualNode');
  const gateways = inNs('VirtualGateway');
  if (nodes.length > 1)
    throw new InjectionError(
      pod.name,
      `found multiple matching VirtualNodes for pod: ${nodes.map((n) => n.metadata.name).join(',')}`,
    );
  if (gateways.length > 1)
    throw new InjectionError(
      pod.name,
      `found multiple matching VirtualGateways for pod: ${gateways.map((n) => n.metadata.name).join(',')}`,
    );
  if (nodes.length === 1 && gateways.length === 1)
    throw new InjectionError(
      pod.name,
      `sidecarInject enabled for both virtualNode ${nodes[0]!.metadata.name} and virtualGateway ${gateways[0]!.metadata.name}`,
    );
  const target = nodes[0] ?? gateways[0];
  if (!target) {
    if (mode === 'enabled')
      throw new InjectionError(
        pod.name,
        'sidecarInject enabled but no matching VirtualNode or VirtualGateway found',
      );
    return null;
  }

  const meshes = (appmesh as AppMeshObject[]).filter(
    (o) => o.kind === 'Mesh' && selectorMatches(o.spec?.namespaceSelector, namespaceLabels),
  );
  if (meshes.length !== 1)
    throw new InjectionError(
      pod.name,
      `failed to find matching mesh for namespace: ${pod.namespace}, expecting 1 but found ${meshes.length}`,
    );
  const mesh = meshes[0]!.spec?.awsName ?? meshes[0]!.metadata.name;
  const kind = nodes.length === 1 ? 'virtualNode' : 'virtualGateway';
  const awsName = target.spec?.awsName ?? `${target.metadata.name}_${pod.namespace}`;
  const resourceArn = `mesh/${mesh}/${kind}/${awsName}`;

  const env: Record<string, string> = {};
  for (const pair of parseList(pod.annotations['appmesh.k8s.aws/sidecarEnv']) ?? []) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  const json = pod.annotations['appmesh.k8s.aws/sidecarEnvJson'];
  if (json) {
    try {
      for (const o of JSON.parse(json) as Record<string, string>[]) Object.assign(env, o);
    } catch {
      throw new InjectionError(
        pod.name,
        'annotation appmesh.k8s.aws/sidecarEnvJson: expected a JSON list of objects',
      );
    }
  }
  Object.assign(env, {
    APPMESH_RESOURCE_ARN: resourceArn,
    APPMESH_VIRTUAL_NODE_NAME: resourceArn,
    ENVOY_LOG_LEVEL: env['ENVOY_LOG_LEVEL'] ?? 'info',
    ENVOY_ADMIN_ACCESS_PORT: String(ADMIN_PORT),
  });
  if (options.sdsSocketPath && pod.annotations['appmesh.k8s.aws/sds'] !== 'disabled')
    env['APPMESH_SDS_SOCKET_PATH'] = options.sdsSocketPath;

  let proxyInit: ProxyInitConfig | null = null;
  if (kind === 'virtualNode') {
    const listenerPorts = (target.spec?.listeners ?? [])
      .map((l) => l.portMapping?.port)
      .filter((p): p is number => !!p);
    const ports = parseList(pod.annotations['appmesh.k8s.aws/ports'])?.map(Number) ?? listenerPorts;
    proxyInit = {
      ignoreUid: PROXY_UID,
      ingressPort: 15000,
      egressPort: 15001,
      appPorts: ports,
      egressIgnoredIps: parseList(pod.annotations['appmesh.k8s.aws/egressIgnoredIPs']) ??
        options.ignoredIps ?? ['169.254.169.254'],
      egressIgnoredPorts: (parseList(pod.annotations['appmesh.k8s.aws/egressIgnoredPorts']) ?? ['22']).map(
        Number,
      ),
    };
  }
  return {
    resourceArn,
    kind,
    targetName: target.metadata.name,
    env,
    addEnvoyContainer: kind === 'virtualNode' && !pod.containerNames.includes('envoy'),
    proxyInit,
  };
}
