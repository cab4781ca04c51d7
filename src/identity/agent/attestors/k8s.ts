/**
 * The `k8s` workload attestor (SPIRE `workloadattestor/k8s`): `k8s:ns:`, `k8s:sa:`,
 * `k8s:pod-name:`, `k8s:pod-uid:`, `k8s:node-name:`, `k8s:container-name:`, `k8s:pod-label:<k>:<v>`,
 * from a pluggable {@link PodInfoSource} (the local runtime's pod view now, the kubelet later).
 */
import type { PeerProcess } from '../peer.js';
import type { Selector } from '../selectors.js';
import { WorkloadAttestationError } from '../errors.js';
import type { PodInfoSource, WorkloadAttestor } from './types.js';

/** See the module docstring. A pid in no pod yields no selectors (not an error). */
export class K8sAttestor implements WorkloadAttestor {
  readonly name = 'k8s';
  readonly #source: PodInfoSource;

  constructor(source: PodInfoSource) {
    this.#source = source;
  }

  async attest(peer: PeerProcess): Promise<Selector[]> {
    let pod;
    try {
      pod = await this.#source.podForPid(peer.pid);
    } catch (err) {
      throw new WorkloadAttestationError(peer.pid, 'the pod-info source failed', { cause: err });
    }
    if (!pod) return [];
    const k8s = (value: string): Selector => ({ type: 'k8s', value });
    return [
      k8s(`ns:${pod.namespace}`),
      k8s(`sa:${pod.serviceAccount}`),
      k8s(`pod-name:${pod.podName}`),
      k8s(`pod-uid:${pod.podUid}`),
      k8s(`node-name:${pod.nodeName}`),
      k8s(`container-name:${pod.containerName}`),
      ...Object.entries(pod.labels).map(([k, v]) => k8s(`pod-label:${k}:${v}`)),
    ];
  }
}
