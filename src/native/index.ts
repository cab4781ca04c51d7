/**
 * The getsockopt calls Node does not expose, from the N-API addon in `native/`.
 *
 * Both functions take the file descriptor of a connected socket (`socket._handle.fd`; see
 * {@link socketFd}) and throw a `SockoptError` (`code` EBADF, ENOTSOCK, ENOENT or ESOCKOPT,
 * `errno` set) when the kernel refuses.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/** The peer process of a unix socket as the kernel recorded it at connect(2) time (SO_PEERCRED). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** Where a connection was addressed before an iptables REDIRECT/DNAT (SO_ORIGINAL_DST). */
export interface OriginalDestination {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

interface Addon {
  getPeerCredentials(fd: number): PeerCredentials;
  getOriginalDestination(fd: number): OriginalDestination;
}

// src/native and dist/native are both two levels under the package root.
const addon = createRequire(import.meta.url)('../../native/build/Release/trustmesh_native.node') as Addon;

/** SO_PEERCRED of a connected unix socket fd. Throws on a non-unix or closed fd. */
export function getPeerCredentials(fd: number): PeerCredentials {
  return addon.getPeerCredentials(fd);
}

/** SO_ORIGINAL_DST (IPv4, then IPv6) of an accepted TCP socket fd. Throws ENOENT when the
 * connection was not redirected by netfilter. */
export function getOriginalDestination(fd: number): OriginalDestination {
  return addon.getOriginalDestination(fd);
}

/** The OS file descriptor behind a net.Socket, or undefined when it has none (closed, piped). */
export function socketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}
