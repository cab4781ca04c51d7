/**
 * Host preflight, setup and teardown: the root check, required tools, the bridge, the host's
 * Service chains, and the cleanup of everything a state record names (after `down`, Ctrl-C, or a
 * crashed run).
 */
import { rm } from 'node:fs/promises';
import { MissingToolError, NotRootError } from './errors.js';
import { run } from './exec.js';
import { hostServiceChains, installServiceChains, removeHostChains, serviceJumps } from './iptables.js';
import { killGroup } from './process.js';
import { processStartTime, type StateFile } from './state.js';

const TOOLS: readonly [string, string][] = [
  ['ip', 'iproute2'],
  ['iptables', 'iptables'],
  ['iptables-restore', 'iptables'],
  ['setpriv', 'util-linux'],
  ['curl', 'curl'],
];

/**
 * Checks that we run as root and that the host tools exist. Throws {@link NotRootError} or
 * {@link MissingToolError} (each a one-sentence message saying what to do).
 */
export async function preflight(): Promise<void> {
  if (process.getuid?.() !== 0) throw new NotRootError();
  for (const [tool, pkg] of TOOLS) {
    const found = await run(['sh', '-c', `command -v ${tool}`], { allowFailure: true });
    if (found.stdout.trim() === '') throw new MissingToolError(tool, pkg);
  }
}

/** Installs the host's Service chains of the runtime owning `bridge` (the bridge itself is
 * created by the network module). */
export async function setupHost(state: StateFile, bridge: string): Promise<void> {
  const chains = hostServiceChains(bridge);
  state.update((r) => (r.hostChains = serviceJumps(chains)));
  await installServiceChains(null, chains);
}

/** Whether the runtime that wrote `state` is still alive. */
export async function runtimeAlive(state: StateFile): Promise<boolean> {
  const pid = state.record.runtimePid;
  if (pid === undefined || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes everything `state` names, in reverse order of creation: processes (only when their
 * start time still matches, so a reused pid is never killed), network namespaces with their
 * `/etc/netns` entries, host veths, host iptables chains, the bridge. Never throws: each step
 * tolerates things already gone. Returns a summary line per kind removed.
 */
export async function cleanupHost(state: StateFile): Promise<string[]> {
  const r = state.record;
  const done: string[] = [];
  let killed = 0;
  for (const p of r.processes) {
    if ((await processStartTime(p.pid)) === p.startTime) {
      killGroup(p.pid, 'SIGKILL');
      killed++;
    }
  }
  if (killed > 0) done.push(`${killed} processes`);
  for (const ns of r.netns) {
    await run(['ip', 'netns', 'del', ns], { allowFailure: true });
    await rm(`/etc/netns/${ns}`, { recursive: true, force: true });
  }
  if (r.netns.length > 0) done.push(`${r.netns.length} network namespaces`);
  for (const v of r.veths) await run(['ip', 'link', 'del', v], { allowFailure: true });
  if (r.hostChains.length > 0) {
    await removeHostChains(r.hostChains);
    done.push('iptables chains');
  }
  for (const link of r.links ?? []) await rm(link, { force: true });
  if (r.bridge) {
    await run(['ip', 'link', 'del', r.bridge], { allowFailure: true });
    done.push(`bridge ${r.bridge}`);
  }
  state.update((rec) => {
    rec.processes = [];
    rec.netns = [];
    rec.veths = [];
    rec.hostChains = [];
    rec.links = [];
    delete rec.bridge;
    delete rec.runtimePid;
  });
  return done;
}
