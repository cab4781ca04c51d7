/**
 * Node attestors: the evidence the agent presents in `AttestAgent` (reference spiffe.md §g.2).
 * `join_token`: the one-time token (UTF-8). `k8s_sat`: `{"cluster": …, "token": …}` JSON with the
 * service-account token read from a file at each attestation (kubelet rotates it).
 */
import { readFile } from 'node:fs/promises';
import { NodeAttestationError } from './errors.js';

/** A node attestor plugin: its `attestation_type` and a fresh payload per attempt. */
export interface NodeAttestor {
  readonly type: 'join_token' | 'k8s_sat';
  /** The evidence bytes. Throws {@link NodeAttestationError} when they cannot be produced. */
  payload(): Promise<Buffer>;
}

/** `join_token` attestor for a token from `trustmesh server token generate`. */
export function joinTokenAttestor(token: string): NodeAttestor {
  return {
    type: 'join_token',
    payload: () => Promise.resolve(Buffer.from(token, 'utf8')),
  };
}

/** `k8s_sat` attestor: `cluster` name and the path of the service-account token file. */
export function k8sSatAttestor(options: { cluster: string; tokenPath: string }): NodeAttestor {
  return {
    type: 'k8s_sat',
    async payload() {
      let token: string;
      try {
        token = (await readFile(options.tokenPath, 'utf8')).trim();
      } catch (err) {
        throw new NodeAttestationError(`cannot read the service account token ${options.tokenPath}`, {
          cause: err,
        });
      }
      return Buffer.from(JSON.stringify({ cluster: options.cluster, token }));
    },
  };
}
