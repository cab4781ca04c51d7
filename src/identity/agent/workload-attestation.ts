/**
 * Runs every configured workload attestor for one caller and re-checks afterwards that the pid still
 * names the process that connected (pid-reuse guard). The result is the caller's selector set.
 */
import type { Logger } from 'pino';
import type { WorkloadAttestor } from './attestors/types.js';
import { assertPeerUnchanged, type PeerProcess } from './peer.js';
import { selectorString } from './selectors.js';
import { WorkloadAttestationError } from './errors.js';

/** Observed attestation latency, for metrics (seconds). */
export type AttestationObserver = (seconds: number, ok: boolean) => void;

/** See the module docstring. */
export class WorkloadAttestation {
  readonly #attestors: WorkloadAttestor[];
  readonly #log: Logger;
  readonly #observe: AttestationObserver | undefined;

  constructor(attestors: WorkloadAttestor[], log: Logger, observe?: AttestationObserver) {
    this.#attestors = attestors;
    this.#log = log;
    this.#observe = observe;
  }

  /**
   * Selectors (`type:value` strings) of the caller. Throws {@link WorkloadAttestationError} when an
   * attestor fails or the pid changed hands meanwhile.
   */
  async attest(peer: PeerProcess): Promise<Set<string>> {
    const started = performance.now();
    try {
      const lists = await Promise.all(this.#attestors.map((a) => a.attest(peer)));
      await assertPeerUnchanged(peer);
      const selectors = new Set(lists.flat().map(selectorString));
      this.#observe?.((performance.now() - started) / 1000, true);
      return selectors;
    } catch (err) {
      this.#observe?.((performance.now() - started) / 1000, false);
      const wrapped =
        err instanceof WorkloadAttestationError
          ? err
          : new WorkloadAttestationError(peer.pid, 'attestor failed', { cause: err });
      this.#log.warn({ pid: peer.pid, err: wrapped }, 'workload attestation failed');
      throw wrapped;
    }
  }
}
