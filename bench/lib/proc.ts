/**
 * Per-process resource readings from /proc (Linux): CPU time, resident memory and bytes written.
 * They measure a child process from outside, so a figure never depends on the child's cooperation.
 */
import fs from 'node:fs';

/** Kernel clock ticks per second of `utime`/`stime` in /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU time (user + system) of `pid` so far, in microseconds (resolution 10 ms). */
export function cpuMicros(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / USER_HZ;
}

/** Resident memory of `pid` in MB: `VmHWM` (peak) or `VmRSS` (now). 0 when unreadable. */
export function rssMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/**
 * Bytes `pid` has passed to write-like system calls so far (`wchar` of /proc/<pid>/io): socket
 * writes included, so across an RPC it counts what the process sent on the wire (TLS records and
 * HTTP/2 frames), plus any log or file writes in the same interval. Needs ptrace access (root or the
 * same user).
 */
export function bytesWritten(pid: number): number {
  const m = /^wchar:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
