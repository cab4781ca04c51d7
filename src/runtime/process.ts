/**
 * A container as a local process: started inside its pod's network namespace with
 * `ip netns exec` (which also bind-mounts `/etc/netns/<netns>/hosts` over /etc/hosts), optionally
 * under another uid via `setpriv`; both exec in place, so the pid we spawn is the container's
 * root process. Output goes to a log file; an exited process is restarted with back-off, as the
 * kubelet does for `restartPolicy: Always`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { StateFile } from './state.js';
import { processStartTime } from './state.js';

/** What to run for one container. */
export interface ContainerProcessSpec {
  /** `<ns>/<pod>/<container>`, for logs and the state record. */
  id: string;
  /** Network namespace, or null for a host process (the runtime's own daemons). */
  netns: string | null;
  argv: string[];
  cwd?: string;
  env: Record<string, string>;
  uid?: number;
  /** Capabilities kept (ambient) after switching to `uid`, e.g. `dac_read_search`. */
  caps?: string[];
  logFile: string;
}

/** Lifecycle state, as `kubectl get pods` shows it. */
export type ContainerState = 'Waiting' | 'Running' | 'Terminated';

const MAX_BACKOFF_MS = 10_000;

/** One supervised container process. */
export class ContainerProcess {
  readonly spec: ContainerProcessSpec;
  readonly #state: StateFile;
  #child: ChildProcess | null = null;
  #stopping = false;
  #restartTimer: NodeJS.Timeout | null = null;
  /** Times the process was restarted after exiting. */
  restarts = 0;
  /** Exit code or signal of the last run. */
  lastExit: string | null = null;
  /** Called after each (re)start and exit. */
  onChange: () => void = () => {};

  constructor(spec: ContainerProcessSpec, state: StateFile) {
    this.spec = spec;
    this.#state = state;
  }

  /** pid of the running root process, or undefined. */
  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }

  /** Current state. */
  get state(): ContainerState {
    if (this.pid !== undefined) return 'Running';
    return this.lastExit === null ? 'Waiting' : 'Terminated';
  }

  /** Starts the process (and keeps restarting it until {@link stop}). */
  start(): void {
    this.#stopping = false;
    this.#spawn();
  }

  #spawn(): void {
    const { spec } = this;
    mkdirSync(path.dirname(spec.logFile), { recursive: true });
    const fd = openSync(spec.logFile, 'a');
    const priv =
      spec.uid === undefined
        ? []
        : [
            'setpriv',
            `--reuid=${spec.uid}`,
            `--regid=${spec.uid}`,
            '--clear-groups',
            ...(spec.caps?.length
              ? [
                  `--inh-caps=${spec.caps.map((c) => `+${c}`).join(',')}`,
                  `--ambient-caps=${spec.caps.map((c) => `+${c}`).join(',')}`,
                ]
              : []),
            '--',
          ];
    const argv = [...(spec.netns === null ? [] : ['ip', 'netns', 'exec', spec.netns]), ...priv, ...spec.argv];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', fd, fd],
      // Own process group, so stop() reaches whatever the container forks.
      detached: true,
    });
    closeSync(fd);
    this.#child = child;
    child.on('error', (err) => this.#log(`failed to start: ${err.message}`));
    if (child.pid !== undefined) {
      const pid = child.pid;
      void processStartTime(pid).then((startTime) => {
        if (startTime === undefined) return;
        this.#state.update((r) => r.processes.push({ pid, startTime, what: spec.id }));
      });
    }
    child.on('exit', (code, signal) => {
      this.lastExit = signal ?? String(code);
      const pid = child.pid;
      this.#state.update((r) => (r.processes = r.processes.filter((p) => p.pid !== pid)));
      this.onChange();
      if (this.#stopping) return;
      const delay = Math.min(1000 * 2 ** this.restarts, MAX_BACKOFF_MS);
      this.#log(`exited (${this.lastExit}); restarting in ${delay} ms`);
      this.#restartTimer = setTimeout(() => {
        this.restarts++;
        this.#spawn();
        this.onChange();
      }, delay);
    });
    this.onChange();
  }

  #log(line: string): void {
    try {
      const fd = openSync(this.spec.logFile, 'a');
      writeSync(fd, `[trustmesh] ${new Date().toISOString()} ${line}\n`);
      closeSync(fd);
    } catch {
      // The log directory is gone during teardown; nothing to report to.
    }
  }

  /**
   * Stops the process group: SIGTERM, then SIGKILL after `graceMs`. Resolves once it exited.
   */
  async stop(graceMs = 3000): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    killGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    // Stragglers the container forked into its group.
    killGroup(child.pid, 'SIGKILL');
  }
}

/** Signals process group `pid`, ignoring a group that is already gone. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: nothing left to signal.
  }
}
