/**
 * Pods as network namespaces: one bridge on the host, one netns + veth pair per pod, addresses
 * from a private range (default 198.18.0.0/15, RFC 2544 benchmarking space). The bridge carries
 * the whole range as one on-link host route; the host's ip_forward setting is left alone and pods
 * get no default route, so no pod traffic can leave the machine.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { AddressExhaustedError, ManifestError } from './errors.js';
import { run } from './exec.js';
import type { StateFile } from './state.js';

/** An IPv4 CIDR block as integers. */
export interface Cidr {
  base: number;
  prefix: number;
}

/** Parses `a.b.c.d/n`. Throws {@link ManifestError} on malformed input. */
export function parseCidr(text: string): Cidr {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(text);
  const parts = m?.slice(1, 5).map(Number);
  const prefix = Number(m?.[5]);
  if (!parts || parts.some((p) => p > 255) || prefix < 8 || prefix > 28)
    throw new ManifestError('--cidr', `expected an IPv4 CIDR with a prefix of 8..28, got "${text}"`);
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return {
    base: (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) & mask) >>> 0,
    prefix,
  };
}

/** Dotted-quad form of an integer address. */
export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function parseIp(ip: string): number {
  return ip.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
}

/**
 * Address pools carved from one range: the lower half for the bridge and pods, the upper half
 * for Service ClusterIPs (like a cluster's pod CIDR and service CIDR).
 */
export class AddressPools {
  readonly range: Cidr;
  readonly bridgeIp: string;
  readonly #used = new Set<number>();
  readonly #half: number;

  constructor(range: Cidr) {
    this.range = range;
    this.#half = 2 ** (32 - range.prefix) / 2;
    this.bridgeIp = formatIp(range.base + 1);
  }

  /** `a.b.c.d/<prefix>` of the whole range (the on-link route). */
  get rangeText(): string {
    return `${formatIp(this.range.base)}/${this.range.prefix}`;
  }

  /** Next free pod address. Throws {@link AddressExhaustedError}. */
  allocatePod(): string {
    return this.#allocate(this.range.base + 2, this.range.base + this.#half - 1, 'pod range');
  }

  /** Next free ClusterIP. Throws {@link AddressExhaustedError}. */
  allocateService(): string {
    return this.#allocate(
      this.range.base + this.#half + 1,
      this.range.base + 2 * this.#half - 1,
      'service range',
    );
  }

  /** Returns an address to its pool. */
  release(ip: string): void {
    this.#used.delete(parseIp(ip));
  }

  #allocate(from: number, to: number, what: string): string {
    for (let n = from; n < to; n++) {
      if (!this.#used.has(n)) {
        this.#used.add(n);
        return formatIp(n);
      }
    }
    throw new AddressExhaustedError(`${what} of ${this.rangeText}`);
  }
}

/** Creates the bridge with the range's first address (idempotent: an existing one is reused). */
export async function createBridge(state: StateFile, bridge: string, pools: AddressPools): Promise<void> {
  state.update((r) => (r.bridge = bridge));
  const exists = await run(['ip', 'link', 'show', bridge], { allowFailure: true });
  if (!exists.stdout.includes(bridge)) await run(['ip', 'link', 'add', bridge, 'type', 'bridge']);
  await run(['ip', 'addr', 'replace', `${pools.bridgeIp}/${pools.range.prefix}`, 'dev', bridge]);
  await run(['ip', 'link', 'set', bridge, 'up']);
}

/** A pod's network: its netns name, address and host-side veth. */
export interface PodNetwork {
  netns: string;
  ip: string;
  hostVeth: string;
}

let vethCounter = 0;

/**
 * Creates netns `netns` with loopback, an `eth0` veth to `bridge` holding `ip`, and
 * `/etc/netns/<netns>/hosts` (filled by {@link writeHostsFile}). Recorded in `state` before
 * creation so a crash mid-way is still cleaned up.
 */
export async function createPodNetwork(
  state: StateFile,
  netns: string,
  ip: string,
  bridge: string,
  prefix: number,
): Promise<PodNetwork> {
  const hostVeth = `tmv${process.pid.toString(36)}${(vethCounter++).toString(36)}`.slice(0, 15);
  const peer = `${hostVeth}p`.slice(0, 15);
  state.update((r) => {
    r.netns.push(netns);
    r.veths.push(hostVeth);
  });
  await run(['ip', 'netns', 'add', netns]);
  await run(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
  await run(['ip', 'link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', peer]);
  await run(['ip', 'link', 'set', peer, 'netns', netns]);
  await run(['ip', '-n', netns, 'link', 'set', peer, 'name', 'eth0']);
  await run(['ip', '-n', netns, 'addr', 'add', `${ip}/${prefix}`, 'dev', 'eth0']);
  await run(['ip', '-n', netns, 'link', 'set', 'eth0', 'up']);
  await run(['ip', 'link', 'set', hostVeth, 'master', bridge]);
  await run(['ip', 'link', 'set', hostVeth, 'up']);
  await mkdir(`/etc/netns/${netns}`, { recursive: true });
  return { netns, ip, hostVeth };
}

/** Deletes a pod's netns (its veth end goes with it), host veth and /etc/netns entry. */
export async function deletePodNetwork(state: StateFile, net: PodNetwork): Promise<void> {
  await run(['ip', 'netns', 'del', net.netns], { allowFailure: true });
  await run(['ip', 'link', 'del', net.hostVeth], { allowFailure: true });
  await rm(`/etc/netns/${net.netns}`, { recursive: true, force: true });
  state.update((r) => {
    r.netns = r.netns.filter((n) => n !== net.netns);
    r.veths = r.veths.filter((v) => v !== net.hostVeth);
  });
}

/** A Service name → ClusterIP entry for hosts files. */
export interface ServiceAddress {
  name: string;
  namespace: string;
  clusterIp: string;
}

/**
 * Renders a pod's hosts file: localhost, the pod's own name, and for every Service
 * `<svc>.<ns>.svc.cluster.local`, `<svc>.<ns>.svc`, `<svc>.<ns>` and (same namespace) `<svc>`.
 */
export function renderHosts(
  pod: { name: string; namespace: string; ip: string },
  services: ServiceAddress[],
): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${pod.ip}\t${pod.name}`,
  ];
  for (const s of [...services].sort((a, b) => a.clusterIp.localeCompare(b.clusterIp))) {
    const names = [
      `${s.name}.${s.namespace}.svc.cluster.local`,
      `${s.name}.${s.namespace}.svc`,
      `${s.name}.${s.namespace}`,
    ];
    if (s.namespace === pod.namespace) names.push(s.name);
    lines.push(`${s.clusterIp}\t${names.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Writes `/etc/netns/<netns>/hosts` in place. `ip netns exec` bind-mounts that file over
 * /etc/hosts, and a bind mount pins the inode, so the file is truncated and rewritten rather
 * than replaced: running containers see new Services at once.
 */
export async function writeHostsFile(netns: string, text: string): Promise<void> {
  await writeFile(`/etc/netns/${netns}/hosts`, text);
}
