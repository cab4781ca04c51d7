/**
 * The runtime's iptables rules, rendered as `iptables-restore --noflush` input. Every rule lives
 * in a chain of our own (`TRUSTMESH-*`), reached by one jump from a built-in chain, so teardown
 * is "delete the jump, flush and delete the chain".
 *
 * Service VIPs are DNAT-ed in the nat OUTPUT chain of each pod's netns (and of the host), not on
 * the host's forwarding path as kube-proxy does: pod-to-pod traffic is bridged at layer 2, so the
 * host never forwards and its `ip_forward` setting is left untouched.
 */
import { iptablesRestore, run } from './exec.js';

/** nat chain holding the Service DNAT rules. */
export const SERVICES_CHAIN = 'TRUSTMESH-SERVICES';
/** filter chain rejecting Service ports that have no ready endpoint (as kube-proxy does). */
export const REJECT_CHAIN = 'TRUSTMESH-NO-ENDPOINTS';
/** nat chain of the sidecar's inbound redirect (App Mesh proxyinit's APPMESH_INGRESS). */
export const PROXY_INGRESS_CHAIN = 'TRUSTMESH-PROXY-INGRESS';
/** nat chain of the sidecar's outbound redirect (App Mesh proxyinit's APPMESH_EGRESS). */
export const PROXY_EGRESS_CHAIN = 'TRUSTMESH-PROXY-EGRESS';

/** Names of the two Service chains: fixed inside a pod's netns, per bridge on the host (so two
 * runtimes on one host never share a chain). */
export interface ServiceChains {
  nat: string;
  filter: string;
}

/** The Service chains inside pod network namespaces. */
export const POD_SERVICE_CHAINS: ServiceChains = { nat: SERVICES_CHAIN, filter: REJECT_CHAIN };

/** The host's Service chains for the runtime owning `bridge` (names ≤ 28 characters). */
export function hostServiceChains(bridge: string): ServiceChains {
  return { nat: `TM-SVC-${bridge}`, filter: `TM-NOEP-${bridge}` };
}

/** One Service port with the endpoints traffic to it goes to. */
export interface ServiceRule {
  /** `<ns>/<name>:<port>`, a comment on the rules. */
  id: string;
  clusterIp: string;
  port: number;
  protocol: 'tcp' | 'udp';
  /** Ready endpoints as `ip:port`. */
  endpoints: string[];
}

/**
 * Renders the Service chains: per Service port, one DNAT rule per endpoint, each chosen with
 * probability 1/(remaining) (`statistic --mode random`), the last one unconditionally; a port
 * without endpoints is rejected with a TCP reset / ICMP port unreachable.
 */
export function renderServiceRules(
  rules: readonly ServiceRule[],
  chains: ServiceChains = POD_SERVICE_CHAINS,
): string {
  const nat = [`*nat`, `:${chains.nat} - [0:0]`];
  const filter = [`*filter`, `:${chains.filter} - [0:0]`];
  for (const r of rules) {
    const match = `-d ${r.clusterIp}/32 -p ${r.protocol} -m ${r.protocol} --dport ${r.port} -m comment --comment "${r.id}"`;
    if (r.endpoints.length === 0) {
      const reject = r.protocol === 'tcp' ? 'tcp-reset' : 'icmp-port-unreachable';
      filter.push(`-A ${chains.filter} ${match} -j REJECT --reject-with ${reject}`);
      continue;
    }
    r.endpoints.forEach((ep, i) => {
      const left = r.endpoints.length - i;
      const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
      nat.push(`-A ${chains.nat} ${match}${pick} -j DNAT --to-destination ${ep}`);
    });
  }
  return [...nat, 'COMMIT', ...filter, 'COMMIT', ''].join('\n');
}

/** Settings of App Mesh's proxyinit (reference §c.4), already resolved from annotations. */
export interface ProxyInitConfig {
  ignoreUid: number;
  ingressPort: number;
  egressPort: number;
  /** Inbound TCP ports sent to the proxy's ingress listener. */
  appPorts: number[];
  egressIgnoredIps: string[];
  egressIgnoredPorts: number[];
}

/**
 * Renders proxyinit's rules: inbound TCP to the app ports (from outside the pod) → ingress port;
 * outbound TCP to non-local addresses from any uid but the proxy's → egress port, except the
 * ignored IPs and ports.
 */
export function renderProxyInitRules(c: ProxyInitConfig): string {
  const lines = ['*nat', `:${PROXY_INGRESS_CHAIN} - [0:0]`, `:${PROXY_EGRESS_CHAIN} - [0:0]`];
  if (c.appPorts.length > 0)
    lines.push(
      `-A ${PROXY_INGRESS_CHAIN} -p tcp -m multiport --dports ${c.appPorts.join(',')} -j REDIRECT --to-ports ${c.ingressPort}`,
    );
  lines.push(`-A ${PROXY_EGRESS_CHAIN} -m owner --uid-owner ${c.ignoreUid} -j RETURN`);
  if (c.egressIgnoredPorts.length > 0)
    lines.push(
      `-A ${PROXY_EGRESS_CHAIN} -p tcp -m multiport --dports ${c.egressIgnoredPorts.join(',')} -j RETURN`,
    );
  for (const ip of c.egressIgnoredIps) lines.push(`-A ${PROXY_EGRESS_CHAIN} -p tcp -d ${ip} -j RETURN`);
  lines.push(`-A ${PROXY_EGRESS_CHAIN} -p tcp -j REDIRECT --to-ports ${c.egressPort}`);
  lines.push(
    `-A PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j ${PROXY_INGRESS_CHAIN}`,
    `-A OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j ${PROXY_EGRESS_CHAIN}`,
    'COMMIT',
    '',
  );
  return lines.join('\n');
}

/** Jumps from the built-in chains to the Service chains (installed once per netns). */
export function serviceJumps(chains: ServiceChains): { table: string; chain: string; from: string[] }[] {
  return [
    { table: 'nat', chain: chains.nat, from: ['OUTPUT'] },
    { table: 'filter', chain: chains.filter, from: ['OUTPUT'] },
  ];
}

/**
 * Creates the Service chains in `netns` (host when null) and jumps to them. In a sidecar pod,
 * proxyinit's egress jump must come first (the app's connections are redirected to the proxy
 * before any DNAT), so call this after {@link renderProxyInitRules} is loaded.
 */
export async function installServiceChains(
  netns: string | null,
  chains: ServiceChains = POD_SERVICE_CHAINS,
): Promise<void> {
  const text = ['*nat', `:${chains.nat} - [0:0]`, `-A OUTPUT -j ${chains.nat}`, 'COMMIT'];
  text.push('*filter', `:${chains.filter} - [0:0]`, `-A OUTPUT -j ${chains.filter}`, 'COMMIT', '');
  await iptablesRestore(netns, text.join('\n'));
}

/** Removes the host's jumps and chains (pod netns chains go with the netns). Never throws. */
export async function removeHostChains(
  chains: readonly { table: string; chain: string; from: string[] }[],
): Promise<void> {
  for (const { table, chain, from } of chains) {
    for (const builtin of from) {
      // A jump may have been added more than once by a crashed run: delete until none is left.
      for (let i = 0; i < 16; i++) {
        const r = await run(['iptables', '-w', '-t', table, '-D', builtin, '-j', chain], {
          allowFailure: true,
        });
        if (r.code !== 0) break;
      }
    }
    await run(['iptables', '-w', '-t', table, '-F', chain], { allowFailure: true });
    await run(['iptables', '-w', '-t', table, '-X', chain], { allowFailure: true });
  }
}
