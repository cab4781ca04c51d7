/**
 * The runtime's record of everything it created on the host, kept in `<stateDir>/state.json`
 * and rewritten on each change, so `trustmesh down` (or the next `up` after a crash) can remove
 * exactly those things: processes, network namespaces, host veths, the bridge, host iptables
 * chains and `/etc/netns/<name>` directories.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** A process the runtime started; `startTime` (clock ticks since boot, /proc/<pid>/stat field 22)
 * guards against killing an unrelated process that reused the pid. */
export interface ProcessRecord {
  pid: number;
  startTime: string;
  what: string;
}

/** The record's JSON shape. */
export interface StateRecord {
  runtimePid?: number;
  bridge?: string;
  netns: string[];
  veths: string[];
  hostChains: { table: string; chain: string; from: string[] }[];
  processes: ProcessRecord[];
  /** Symlinks we placed outside the state dir (the server's default admin socket path). */
  links?: string[];
}

/** Reads a process's start time from /proc, or undefined when the pid is gone. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Mutable state record bound to a file; each mutator persists synchronously (small file). */
export class StateFile {
  readonly file: string;
  readonly record: StateRecord;

  private constructor(file: string, record: StateRecord) {
    this.file = file;
    this.record = record;
  }

  /** Opens (or creates) `<stateDir>/state.json`. A corrupt file is treated as empty. */
  static open(stateDir: string): StateFile {
    mkdirSync(stateDir, { recursive: true, mode: 0o755 });
    const file = path.join(stateDir, 'state.json');
    let record: StateRecord = { netns: [], veths: [], hostChains: [], processes: [] };
    if (existsSync(file)) {
      try {
        record = { ...record, ...(JSON.parse(readFileSync(file, 'utf8')) as Partial<StateRecord>) };
      } catch {
        // A half-written record from a crash: cleanup falls back to what is still named in it.
      }
    }
    return new StateFile(file, record);
  }

  /** Writes the record atomically (temp file + rename). */
  save(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.record, null, 2));
    renameSync(tmp, this.file);
  }

  /** Applies `change` to the record and persists it. */
  update(change: (r: StateRecord) => void): void {
    change(this.record);
    this.save();
  }
}
