/**
 * Workload attestors turn the kernel-verified caller of the agent socket into selectors
 * (SPIRE `WorkloadAttestor`). One file per implementation.
 */
import type { PeerProcess } from '../peer.js';
import type { Selector } from '../selectors.js';

/** A workload attestor plugin. `attest` throws when the caller cannot be examined (→ Unavailable). */
export interface WorkloadAttestor {
  /** plugin name = selector type (`unix`, `k8s`) */
  readonly name: string;
  /** Selectors of the caller; an empty list when the plugin does not apply (e.g. not in a pod). */
  attest(peer: PeerProcess): Promise<Selector[]>;
}

/** What the pod-info source tells about the pod (and container) that a pid runs in. */
export interface PodInfo {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
  nodeName: string;
  labels: Record<string, string>;
  containerName: string;
}

/**
 * Answers "which pod and container is pid N (or its ancestor) in". The local runtime serves it over
 * HTTP ({@link HttpPodInfoSource}); the kubelet's `/pods` will be another implementation.
 */
export interface PodInfoSource {
  /** The pod of `pid`, or undefined when the pid is not in any pod. Throws when the source fails. */
  podForPid(pid: number): Promise<PodInfo | undefined>;
}
