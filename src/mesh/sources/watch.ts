/**
 * Manifest sources for the store: a one-shot load and a watcher that reloads on file changes
 * (`fs.watch` on every directory of the tree, debounced), applying the new contents and deleting
 * objects whose documents disappeared. A file with a YAML syntax error keeps its objects (last good)
 * until fixed.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { EventEmitter } from 'node:events';
import type { ValidationIssue } from '../model/index.js';
import { readManifests } from './manifests.js';
import { rawKeyOf, type ApplyResult, type ResourceKey, type ResourceStore } from './store.js';

/** Outcome of one (re)load of manifest files into a store. */
export interface ReloadReport {
  /** Store changes and per-object issues of the apply. */
  apply: ApplyResult;
  /** Every issue of this load: file/YAML errors, rejected objects, warnings. */
  issues: ValidationIssue[];
  files: string[];
}

/**
 * Loads manifests once into `store`, deleting objects this source loaded before (`owned`) that are no
 * longer in the files. Returns the report and the new owned set.
 */
export async function loadManifestsInto(
  paths: readonly string[],
  store: ResourceStore,
  owned: ReadonlyMap<string, ReadonlySet<ResourceKey>> = new Map(),
  defaultNamespace?: string,
): Promise<{ report: ReloadReport; owned: Map<string, Set<ResourceKey>> }> {
  const read = await readManifests(paths);
  const next = new Map<string, Set<ResourceKey>>();
  for (const doc of read.documents) {
    const key = rawKeyOf(doc.object, defaultNamespace);
    const file = doc.origin.file!;
    if (!next.has(file)) next.set(file, new Set());
    if (key) next.get(file)!.add(key);
  }
  // A broken file keeps what it held: its objects stay as they were until the file parses again.
  for (const file of read.brokenFiles) {
    for (const key of owned.get(file) ?? []) {
      if (!next.has(file)) next.set(file, new Set());
      next.get(file)!.add(key);
    }
  }
  const present = new Set([...next.values()].flatMap((s) => [...s]));
  const gone = [...owned.values()].flatMap((s) => [...s]).filter((k) => !present.has(k));
  const apply = store.apply(read.documents, { delete: gone });
  return { report: { apply, issues: [...read.issues, ...apply.issues], files: read.files }, owned: next };
}

/** Options of {@link ManifestWatcher.start}. */
export interface ManifestWatcherOptions {
  /** Quiet time after the last file event before reloading, in milliseconds (default 100). */
  debounceMs?: number;
  /** Namespace for objects without one (default `default`). */
  defaultNamespace?: string;
}

/** Events of {@link ManifestWatcher}. */
export interface ManifestWatcherEvents {
  /** After each reload (not the initial load, which `start` returns). */
  reload: [ReloadReport];
  /** A reload failed as a whole (e.g. a watched path vanished); the store keeps its contents. */
  error: [Error];
}

/**
 * Feeds a {@link ResourceStore} from manifest files and keeps it in sync as they change. Create with
 * {@link ManifestWatcher.start} (resolves after the initial load); stop with {@link close}.
 */
export class ManifestWatcher extends EventEmitter<ManifestWatcherEvents> {
  readonly #paths: readonly string[];
  readonly #store: ResourceStore;
  readonly #debounceMs: number;
  readonly #defaultNamespace: string | undefined;
  /** One non-recursive watcher per directory: see {@link ManifestWatcher.#watchTree}. */
  readonly #watchers = new Map<string, FSWatcher>();
  #owned = new Map<string, Set<ResourceKey>>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(paths: readonly string[], store: ResourceStore, options: ManifestWatcherOptions) {
    super();
    this.#paths = paths.map((p) => resolve(p));
    this.#store = store;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#defaultNamespace = options.defaultNamespace;
  }

  /** Loads `paths` into `store`, starts watching, and resolves with the initial load's report. */
  static async start(
    paths: readonly string[],
    store: ResourceStore,
    options: ManifestWatcherOptions = {},
  ): Promise<{ watcher: ManifestWatcher; report: ReloadReport }> {
    const w = new ManifestWatcher(paths, store, options);
    const report = await w.#reload();
    await w.#watchTree();
    return { watcher: w, report };
  }

  /** Stops watching; waits for a reload in progress. The store keeps its contents. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    await this.#running;
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.#running.then(async () => {
        if (this.#closed) return;
        try {
          const report = await this.#reload();
          await this.#watchTree();
          this.emit('reload', report);
        } catch (err) {
          this.emit('error', err as Error);
        }
      });
    }, this.#debounceMs);
  }

  /**
   * Watches each directory of the watched paths on its own (hidden ones skipped, as the loader
   * skips them), adding new directories and dropping removed ones after every reload. Node 20's
   * `recursive: true` on Linux watches the files themselves, so it goes deaf to a file once it is
   * replaced by a rename, which is how editors, `sed -i` and `kubectl`-style tools save; a
   * directory's own watch sees every entry created, renamed over, changed or removed.
   */
  async #watchTree(): Promise<void> {
    const dirs = new Set<string>();
    const walk = async (dir: string): Promise<void> => {
      dirs.add(dir);
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) await walk(join(dir, e.name));
    };
    for (const p of this.#paths) {
      const isDir = await stat(p).then(
        (st) => st.isDirectory(),
        () => false,
      );
      if (isDir) await walk(p);
      else dirs.add(dirname(p));
    }
    if (this.#closed) return;
    for (const [dir, w] of this.#watchers) {
      if (dirs.has(dir)) continue;
      w.close();
      this.#watchers.delete(dir);
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, () => this.#schedule());
        // A directory removed under us: forget its watcher; the reload that follows re-walks the tree.
        w.on('error', () => {
          w.close();
          if (this.#watchers.get(dir) === w) this.#watchers.delete(dir);
          this.#schedule();
        });
        this.#watchers.set(dir, w);
      } catch {
        // Gone between the walk and the watch; the event that removed it schedules a reload.
      }
    }
  }

  async #reload(): Promise<ReloadReport> {
    const { report, owned } = await loadManifestsInto(
      this.#paths,
      this.#store,
      this.#owned,
      this.#defaultNamespace,
    );
    this.#owned = owned;
    return report;
  }
}
