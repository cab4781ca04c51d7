/* eslint-disable @typescript-eslint/no-explicit-any -- test manifests are untyped JSON, edited row by row */
/**
 * Small manifest builders for mesh/model tests: valid minimal objects per kind (App Mesh reference §a),
 * which each test row then breaks in exactly one way.
 */
export const API = 'appmesh.k8s.aws/v1beta2';
export const NS = 'howto-k8s-mtls-sds-based';

/** A deep copy with `patch` applied by a mutator, so rows never share state. */
export function variant<T>(base: T, mutate: (o: any) => void): T {
  const copy = structuredClone(base);
  mutate(copy);
  return copy;
}

export function namespace(name = NS, labels: Record<string, string> = { mesh: NS }) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

/** A Mesh; `namespaceSelector: null` leaves the selector out (nil selector). */
export function mesh(name = NS, namespaceSelector: unknown = { matchLabels: { mesh: NS } }) {
  return {
    apiVersion: API,
    kind: 'Mesh',
    metadata: { name },
    spec: namespaceSelector === null ? {} : { namespaceSelector },
  };
}

export function virtualNode(name: string, extra: Record<string, unknown> = {}, ns = NS) {
  return {
    apiVersion: API,
    kind: 'VirtualNode',
    metadata: { name, namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: name } },
      listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
      serviceDiscovery: { dns: { hostname: `${name}.${ns}.svc.cluster.local` } },
      ...extra,
    },
  };
}

export function virtualService(name: string, provider: unknown, ns = NS) {
  return { apiVersion: API, kind: 'VirtualService', metadata: { name, namespace: ns }, spec: { provider } };
}

export function httpRoute(name: string, target: string, match: Record<string, unknown> = { prefix: '/' }) {
  return {
    name,
    httpRoute: { match, action: { weightedTargets: [{ virtualNodeRef: { name: target }, weight: 1 }] } },
  };
}

export function virtualRouter(name: string, routes: unknown[], ns = NS) {
  return {
    apiVersion: API,
    kind: 'VirtualRouter',
    metadata: { name, namespace: ns },
    spec: { listeners: [{ portMapping: { port: 8080, protocol: 'http' } }], routes },
  };
}

export function virtualGateway(name: string, extra: Record<string, unknown> = {}, ns = NS) {
  return {
    apiVersion: API,
    kind: 'VirtualGateway',
    metadata: { name, namespace: ns },
    spec: {
      namespaceSelector: { matchLabels: { gateway: name } },
      podSelector: { matchLabels: { app: name } },
      listeners: [{ portMapping: { port: 8088, protocol: 'http' } }],
      ...extra,
    },
  };
}

export function gatewayRoute(
  name: string,
  spec: Record<string, unknown> = {},
  ns = NS,
  labels?: Record<string, string>,
) {
  return {
    apiVersion: API,
    kind: 'GatewayRoute',
    metadata: { name, namespace: ns, ...(labels ? { labels } : {}) },
    spec: {
      httpRoute: {
        match: { prefix: '/color' },
        action: { target: { virtualService: { virtualServiceRef: { name: 'color' } } } },
      },
      ...spec,
    },
  };
}

export function deployment(
  name: string,
  labels: Record<string, string>,
  ns = NS,
  containers = [{ name: 'app', image: 'colorapp' }],
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns },
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers } } },
  };
}

/** STRICT SDS listener TLS with client validation, as the walkthrough's color nodes carry. */
export function strictSdsTls(cert: string, sans: string[]) {
  return {
    mode: 'STRICT',
    certificate: { sds: { secretName: cert } },
    validation: {
      trust: { sds: { secretName: 'spiffe://howto-k8s-mtls-sds-based.aws' } },
      subjectAlternativeNames: { match: { exact: sans } },
    },
  };
}
