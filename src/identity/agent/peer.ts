/**
 * Caller identification on the agent socket: SO_PEERCRED of the accepted unix socket, plus the
 * process start time from `/proc/<pid>/stat`, so a pid that is reused by another process between
 * accept and the end of attestation is detected (SPIRE `pkg/common/peertracker`).
 */
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { getPeerCredentials, socketFd } from '../../native/index.js';
import { WorkloadAttestationError } from './errors.js';

/** The kernel's view of the process on the other end of an accepted unix socket. */
export interface PeerProcess {
  pid: number;
  uid: number;
  gid: number;
  /** field 22 of /proc/<pid>/stat (clock ticks since boot); undefined when the process was gone at accept */
  startTime: string | undefined;
}

/**
 * The start time of `pid` (field 22 of `/proc/<pid>/stat`, clock ticks after boot, as a decimal
 * string), or undefined when the process does not exist. The command name (field 2) may contain
 * spaces and parentheses, so fields are counted after the last `)`.
 */
export async function processStartTime(pid: number): Promise<string | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  return rest[19];
}

/**
 * Reads SO_PEERCRED of an accepted unix socket and the caller's start time. Call it when the
 * connection is accepted. Throws {@link WorkloadAttestationError} when the socket has no fd or the
 * kernel refuses (not a unix socket).
 */
export async function identifyPeer(socket: Socket): Promise<PeerProcess> {
  const fd = socketFd(socket);
  if (fd === undefined)
    throw new WorkloadAttestationError(undefined, 'the connection has no file descriptor');
  let creds;
  try {
    creds = getPeerCredentials(fd);
  } catch (err) {
    throw new WorkloadAttestationError(undefined, 'SO_PEERCRED failed', { cause: err });
  }
  return { ...creds, startTime: await processStartTime(creds.pid) };
}

/**
 * Checks that `peer.pid` still names the process that connected: it must still exist with the start
 * time recorded at accept. Call after attestation, before handing out anything. Throws
 * {@link WorkloadAttestationError} otherwise.
 */
export async function assertPeerUnchanged(peer: PeerProcess): Promise<void> {
  if (peer.startTime === undefined) {
    throw new WorkloadAttestationError(peer.pid, 'the process had exited when the connection was accepted');
  }
  const now = await processStartTime(peer.pid);
  if (now !== peer.startTime) {
    throw new WorkloadAttestationError(
      peer.pid,
      now === undefined ? 'the process exited during attestation' : 'the pid was reused by another process',
    );
  }
}
