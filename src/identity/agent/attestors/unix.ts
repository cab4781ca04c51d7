/**
 * The `unix` workload attestor (SPIRE `workloadattestor/unix`): `unix:uid:`, `unix:gid:`,
 * `unix:user:`, `unix:group:`, `unix:supplementary_gid:`, `unix:supplementary_group:` and, with
 * `discoverWorkloadPath`, `unix:path:` (the binary, `/proc/<pid>/exe`) and `unix:sha256:` (its hash).
 * uid and gid come from SO_PEERCRED, never from /proc, so they are what the kernel saw at connect.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readlink, stat } from 'node:fs/promises';
import type { PeerProcess } from '../peer.js';
import type { Selector } from '../selectors.js';
import { WorkloadAttestationError } from '../errors.js';
import type { WorkloadAttestor } from './types.js';

/** Options of {@link UnixAttestor}. */
export interface UnixAttestorOptions {
  /** emit `unix:path:` and `unix:sha256:` (default true) */
  discoverWorkloadPath?: boolean;
  /** binaries larger than this are not hashed (bytes; default 512 MiB) */
  workloadSizeLimitBytes?: number;
}

/** See the module docstring. */
export class UnixAttestor implements WorkloadAttestor {
  readonly name = 'unix';
  readonly #discoverPath: boolean;
  readonly #sizeLimit: number;
  // Hashing a 100 MB binary costs ~0.2 s; the key changes whenever the file is replaced or modified.
  // The in-flight hash is cached, so workloads of one binary calling at once share one read of it.
  readonly #hashCache = new Map<string, Promise<string>>();
  // /etc/passwd and /etc/group, parsed once per version of the file (a stat per attestation instead
  // of open, read and parse for every call of every workload).
  readonly #nameDbs = new Map<string, { version: string; db: Promise<Map<number, string>> }>();

  constructor(options: UnixAttestorOptions = {}) {
    this.#discoverPath = options.discoverWorkloadPath ?? true;
    this.#sizeLimit = options.workloadSizeLimitBytes ?? 512 * 1024 * 1024;
  }

  async attest(peer: PeerProcess): Promise<Selector[]> {
    const out: Selector[] = [
      { type: 'unix', value: `uid:${peer.uid}` },
      { type: 'unix', value: `gid:${peer.gid}` },
    ];
    const [users, groups] = await Promise.all([this.#nameDb('/etc/passwd'), this.#nameDb('/etc/group')]);
    const user = users.get(peer.uid);
    if (user) out.push({ type: 'unix', value: `user:${user}` });
    const group = groups.get(peer.gid);
    if (group) out.push({ type: 'unix', value: `group:${group}` });
    for (const gid of await supplementaryGids(peer.pid)) {
      out.push({ type: 'unix', value: `supplementary_gid:${gid}` });
      const name = groups.get(gid);
      if (name) out.push({ type: 'unix', value: `supplementary_group:${name}` });
    }
    if (this.#discoverPath) out.push(...(await this.#pathSelectors(peer.pid)));
    return out;
  }

  /** id → name of an /etc/passwd- or /etc/group-style file, re-read when the file changed. */
  async #nameDb(file: string): Promise<Map<number, string>> {
    let version: string;
    try {
      const st = await stat(file);
      version = `${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return new Map();
    }
    let cached = this.#nameDbs.get(file);
    if (cached?.version !== version) {
      cached = { version, db: readNameDb(file) };
      this.#nameDbs.set(file, cached);
    }
    return cached.db;
  }

  async #pathSelectors(pid: number): Promise<Selector[]> {
    const exe = `/proc/${pid}/exe`;
    let target: string;
    let st;
    try {
      target = await readlink(exe);
      st = await stat(exe);
    } catch (err) {
      throw new WorkloadAttestationError(pid, `cannot read ${exe}`, { cause: err });
    }
    const out: Selector[] = [{ type: 'unix', value: `path:${target}` }];
    if (st.size > this.#sizeLimit) return out;
    const key = `${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}`;
    let digest = this.#hashCache.get(key);
    if (digest === undefined) {
      digest = sha256File(exe);
      this.#hashCache.set(key, digest);
      // A failed read (the process exited mid-hash) must not poison the binary's entry.
      digest.catch(() => this.#hashCache.delete(key));
    }
    try {
      out.push({ type: 'unix', value: `sha256:${await digest}` });
    } catch (err) {
      throw new WorkloadAttestationError(pid, `cannot hash ${exe}`, { cause: err });
    }
    return out;
  }
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** id → name from an /etc/passwd- or /etc/group-style file (name:x:id:…). */
async function readNameDb(file: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && /^\d+$/.test(id) && !out.has(Number(id))) out.set(Number(id), name);
  }
  return out;
}

/** Supplementary group ids from the `Groups:` line of /proc/<pid>/status. */
async function supplementaryGids(pid: number): Promise<number[]> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch (err) {
    throw new WorkloadAttestationError(pid, `cannot read /proc/${pid}/status`, { cause: err });
  }
  const line = text.split('\n').find((l) => l.startsWith('Groups:'));
  return (line?.slice('Groups:'.length).trim().split(/\s+/) ?? []).filter((g) => /^\d+$/.test(g)).map(Number);
}
