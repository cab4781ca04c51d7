/**
 * The identity server as the benchmarks run it: `trustmesh server run` from source in a child
 * process (trust domain `bench.test`, sqlite in a temp dir, admin API on a unix socket, agent API on
 * an ephemeral loopback port, WARN logs), so its CPU and bytes can be read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminCall } from '../../src/identity/server/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** A running server child. */
export interface BenchServer {
  /** the admin API socket (for `adminCall`) */
  socketPath: string;
  /** the agent API port on 127.0.0.1 */
  agentApiPort: number;
  /** the server process, for /proc readings */
  pid: number;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, at once (for a run that ran out of time). */
  kill(): void;
}

/** Starts the server with its data under `dir`; resolves once its healthcheck answers (≤ 120 s). */
export async function startBenchServer(dir: string): Promise<BenchServer> {
  const socketPath = path.join(dir, 'api.sock');
  const flags = ['-trustDomain', 'bench.test', '-dataDir', path.join(dir, 'data'), '-socketPath', socketPath];
  const proc: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      `${root}src/cli/main.ts`,
      'server',
      'run',
      ...flags,
      '-bindAddress',
      '127.0.0.1',
      '-serverPort',
      '0',
      '-logLevel',
      'WARN',
    ],
    { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  proc.stderr!.resume();
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  };
  // WARN level hides the start line; poll the admin socket instead.
  const readyBy = Date.now() + 120_000;
  for (;;) {
    try {
      const r = await adminCall<{ agent_api_port?: number }>(socketPath, 'healthcheck', {});
      if (!r.agent_api_port) throw new Error('server did not report its agent API port');
      return {
        socketPath,
        agentApiPort: r.agent_api_port,
        pid: proc.pid!,
        stop,
        kill: () => proc.kill('SIGKILL'),
      };
    } catch (err) {
      if (Date.now() > readyBy || proc.exitCode !== null) {
        await stop();
        throw new Error(`server did not start: ${(err as Error).message}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
