/**
 * Child processes of the data-plane run: started pinned to one core with `taskset`, all killed at the
 * end of the run (also on SIGINT/SIGTERM, and by the run's time budget), plus the port helpers.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';

const children: ChildProcess[] = [];

/** True when `cmd` is on the PATH. */
export function has(cmd: string): boolean {
  try {
    execFileSync('which', [cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A loopback TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

/** Resolves once 127.0.0.1:`port` accepts connections; throws after 60 s. */
export async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} never opened`);
}

/** Starts `cmd args` on CPU `core`; its stderr shows only with BENCH_DEBUG set. */
export function start(cmd: string, args: string[], core: number, cwd: string): ChildProcess {
  const c = spawn('taskset', ['-c', String(core), cmd, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  c.stdout!.resume();
  c.stderr!.on('data', (d: Buffer) => {
    if (process.env.BENCH_DEBUG) process.stderr.write(d);
  });
  children.push(c);
  return c;
}

/** Kills `cs` (default: every child started so far). */
export function stop(cs: readonly ChildProcess[] = children): void {
  for (const c of cs) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/**
 * Bounds the whole run: after `seconds` every child is killed and the process exits 1. SIGINT and
 * SIGTERM kill the children too.
 */
export function guardRun(seconds: number, label: string): void {
  const deadline = setTimeout(() => {
    process.stderr.write(`${label}: time budget of ${seconds} s exceeded\n`);
    stop();
    process.exit(1);
  }, seconds * 1000);
  deadline.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      stop();
      process.exit(130);
    });
}
