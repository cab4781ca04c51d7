/**
 * What the socket layer hands to the Workload API and SDS handlers through Connect's context values:
 * the caller as the kernel saw it when the connection was accepted.
 */
import { createContextKey, type HandlerContext } from '@connectrpc/connect';
import type { PeerProcess } from './peer.js';
import { WorkloadAttestationError } from './errors.js';

/** The caller of this connection (resolved once per connection, at accept). */
export const kPeer = createContextKey<Promise<PeerProcess> | undefined>(undefined, {
  description: 'caller process',
});

/** The caller of the RPC. Throws {@link WorkloadAttestationError} when it could not be identified. */
export async function peerOf(ctx: HandlerContext): Promise<PeerProcess> {
  const peer = ctx.values.get(kPeer);
  if (!peer)
    throw new WorkloadAttestationError(undefined, 'the connection did not come through the agent socket');
  return peer;
}
