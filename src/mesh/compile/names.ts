/**
 * App Mesh's names for proxy node ids and the Envoy resources it serves (reference §c.1, §c.2).
 */

/** Port of the inbound listener that iptables redirects app ports to (injector `APPMESH_ENVOY_INGRESS_PORT`). */
export const INGRESS_PORT = 15000;
/** Port of the outbound listener that iptables redirects app traffic to (`APPMESH_ENVOY_EGRESS_PORT`). */
export const EGRESS_PORT = 15001;
/** The bootstrap cluster every proxy defines for SDS, pointing at `APPMESH_SDS_SOCKET_PATH` (§c.2). */
export const SDS_CLUSTER = 'static_cluster_sds_unix_socket';

/** A parsed proxy node id (`APPMESH_RESOURCE_ARN`). */
export interface ProxyNodeId {
  /** Mesh awsName. */
  mesh: string;
  kind: 'virtualNode' | 'virtualGateway';
  /** awsName of the virtual node or virtual gateway. */
  name: string;
}

/** `mesh/<mesh>/virtualNode/<vn awsName>` or `mesh/<mesh>/virtualGateway/<vg awsName>` (§c.1). */
export function formatNodeId(id: ProxyNodeId): string {
  return `mesh/${id.mesh}/${id.kind}/${id.name}`;
}

/** Parses a proxy node id; `undefined` when it is not of the form {@link formatNodeId} writes. */
export function parseNodeId(nodeId: string): ProxyNodeId | undefined {
  const m = /^mesh\/([^/]+)\/(virtualNode|virtualGateway)\/([^/]+)$/.exec(nodeId);
  if (!m) return undefined;
  return { mesh: m[1]!, kind: m[2] as ProxyNodeId['kind'], name: m[3]! };
}

/** `lds_ingress_0.0.0.0_<port>`: the inbound listener (15000 for a VN; the listener port for a VG). */
export function ingressListenerName(port: number = INGRESS_PORT): string {
  return `lds_ingress_0.0.0.0_${port}`;
}

/** `lds_egress_0.0.0.0_15001`: the outbound listener. */
export function egressListenerName(): string {
  return `lds_egress_0.0.0.0_${EGRESS_PORT}`;
}

/** `cds_ingress_<mesh>_<vn>_<protocol>_<port>`: the local app cluster behind an inbound listener port. */
export function ingressClusterName(mesh: string, node: string, protocol: string, port: number): string {
  return `cds_ingress_${mesh}_${node}_${protocol}_${port}`;
}

/** `cds_egress_<mesh>_<vn>_<protocol>_<port>`: a backend virtual node's listener as seen by its clients. */
export function egressClusterName(mesh: string, node: string, protocol: string, port: number): string {
  return `cds_egress_${mesh}_${node}_${protocol}_${port}`;
}

/** `cds_egress_<mesh>_allow_all`: original-destination passthrough of an ALLOW_ALL egress filter. */
export function passthroughClusterName(mesh: string): string {
  return `cds_egress_${mesh}_allow_all`;
}

/** `cds_ingress_<mesh>_<vg>_self_redirect_<protocol>_<port>`: a gateway's hop to its own egress listener. */
export function selfRedirectClusterName(
  mesh: string,
  gateway: string,
  protocol: string,
  port: number,
): string {
  return `cds_ingress_${mesh}_${gateway}_self_redirect_${protocol}_${port}`;
}

/** `rds_egress_http_<port>`: outbound routes of one backend port. */
export function egressRouteName(port: number): string {
  return `rds_egress_http_${port}`;
}

/** `rds_ingress_<protocol>_<port>`: a gateway listener's gateway routes. */
export function gatewayRouteConfigName(protocol: string, port: number): string {
  return `rds_ingress_${protocol}_${port}`;
}
