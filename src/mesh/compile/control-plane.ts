/**
 * The control plane: keeps every proxy node's xDS snapshot equal to the compiled mesh. It watches a
 * source of mesh state (the `ResourceStore`), recompiles on each change, and sets each node's snapshot
 * in the {@link SnapshotCache} the ADS server serves; unchanged nodes keep their versions, so only
 * nodes whose Envoy resources changed get pushes.
 *
 * Bad input never replaces good config: the store already keeps the last good version of an invalid
 * object; a dangling reference is reported and only what depends on it is left out; a node whose
 * resources fail to encode keeps its last good snapshot.
 */
import { EventEmitter } from 'node:events';
import type { MeshState, ValidationIssue } from '../model/index.js';
import { ResourceEncodingError, SnapshotCache, type XdsLogger } from '../xds/index.js';
import { compileMesh, meshNodeIds, toResourcesByType, type CompileOptions } from './compile.js';
import { dependencyKeysOf } from './tracked-state.js';
import { RouteMemo } from './route-memo.js';
import type { CompileIssue } from './errors.js';

/** A change event of a mesh source: the objects written or deleted (the `ResourceStore` event's shape). */
export interface MeshSourceChange {
  changes: readonly {
    resource: { kind: string; metadata: { name: string; namespace?: string }; spec?: unknown };
    previous?: { kind: string; metadata: { name: string; namespace?: string }; spec?: unknown };
  }[];
}

/** What the control plane needs from a mesh source (the `ResourceStore` satisfies it). */
export interface MeshSource {
  /** The current validated mesh state. */
  snapshot(): MeshState;
  on(event: 'change', listener: (event: MeshSourceChange) => void): unknown;
  off(event: 'change', listener: (event: MeshSourceChange) => void): unknown;
}

/** Outcome of one compile pass. */
export interface CompileReport {
  /** Node ids with a snapshot after this pass. */
  nodes: string[];
  /** Node ids compiled in this pass (all on a full pass; those an edit can affect otherwise). */
  compiledNodes: string[];
  /** Node ids whose snapshot changed (and got pushes). */
  changedNodes: string[];
  /** Node ids dropped because their virtual node / gateway is gone. */
  removedNodes: string[];
  /** Cross-object issues of the mesh state (dangling references, membership…). */
  meshIssues: ValidationIssue[];
  /**
   * What the compiler left out (current issues of every node, recompiled or not), plus encoding failures
   * (those nodes kept their last snapshot).
   */
  compileIssues: CompileIssue[];
  /** Wall time of the pass in milliseconds. */
  durationMs: number;
}

/** Options of {@link ControlPlane}. */
export interface ControlPlaneOptions {
  source: MeshSource;
  /** The cache to fill (and that an `XdsServer` serves); a new one when omitted. */
  cache?: SnapshotCache;
  compile?: CompileOptions;
  logger?: XdsLogger;
  /** Clock for `durationMs` (ms). */
  now?: () => number;
}

/** Events of {@link ControlPlane}. */
export interface ControlPlaneEvents {
  /** After every compile pass (initial and on change). */
  compiled: [CompileReport];
}

/**
 * Compiles the mesh into per-node snapshots and keeps them current. Lifecycle: `start()` compiles once
 * and subscribes to the source; `recompile()` forces a pass (e.g. when pod endpoints changed); `close()`
 * unsubscribes (the cache keeps its snapshots).
 */
export class ControlPlane extends EventEmitter<ControlPlaneEvents> {
  /** The snapshots served. */
  readonly cache: SnapshotCache;
  readonly #source: MeshSource;
  readonly #compile: CompileOptions;
  readonly #logger: XdsLogger | undefined;
  readonly #now: () => number;
  readonly #onChange = (event: MeshSourceChange) => this.#changed(event);
  /** Per node: the dependency keys its last compile read, and its current issues. */
  readonly #reads = new Map<string, ReadonlySet<string>>();
  readonly #issues = new Map<string, CompileIssue[]>();
  #pendingKeys = new Set<string>();
  #pendingFull = false;
  #scheduled = false;
  #started = false;

  constructor(options: ControlPlaneOptions) {
    super();
    this.#source = options.source;
    this.cache = options.cache ?? new SnapshotCache();
    // Routers' routes are compiled once per edit and shared by their callers (route-memo.ts).
    this.#compile = { memo: new RouteMemo(), ...options.compile };
    this.#logger = options.logger;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Compiles the current mesh, subscribes to changes, and returns the first report. */
  start(): CompileReport {
    if (!this.#started) {
      this.#started = true;
      this.#source.on('change', this.#onChange);
    }
    return this.recompile();
  }

  /** Stops following the source. */
  close(): void {
    this.#started = false;
    this.#source.off('change', this.#onChange);
  }

  /**
   * Records what an edit touched and schedules a pass. Namespaces and meshes decide membership, so
   * their edits recompile everything; other edits recompile the nodes that read the objects.
   */
  #changed(event: MeshSourceChange): void {
    for (const c of event.changes) {
      for (const r of [c.resource, c.previous]) {
        if (!r) continue;
        if (r.kind === 'Namespace' || r.kind === 'Mesh') this.#pendingFull = true;
        for (const key of dependencyKeysOf(r)) this.#pendingKeys.add(key);
      }
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Coalesces a burst of store changes into one pass on the next turn of the event loop.
    setImmediate(() => {
      this.#scheduled = false;
      const full = this.#pendingFull;
      const keys = this.#pendingKeys;
      this.#pendingFull = false;
      this.#pendingKeys = new Set();
      if (this.#started) this.#pass(full ? undefined : keys);
    });
  }

  /** Compiles every node now and updates the cache; emits and returns the report. */
  recompile(): CompileReport {
    return this.#pass(undefined);
  }

  /** One pass: every node when `changedKeys` is undefined, else new nodes and those that read a changed key. */
  #pass(changedKeys: ReadonlySet<string> | undefined): CompileReport {
    const started = this.#now();
    const state = this.#source.snapshot();
    const ids = meshNodeIds(state);
    const affected = (id: string) => {
      const reads = this.#reads.get(id);
      if (!changedKeys || !reads) return true;
      for (const k of changedKeys) if (reads.has(k)) return true;
      return false;
    };
    const configs = compileMesh(state, this.#compile, new Set(ids.filter(affected)));
    const report: CompileReport = {
      nodes: [],
      compiledNodes: [...configs.keys()],
      changedNodes: [],
      removedNodes: [],
      meshIssues: state.issues,
      compileIssues: [],
      durationMs: 0,
    };
    for (const [nodeId, config] of configs) {
      const issues = [...config.issues];
      this.#reads.set(nodeId, config.reads);
      try {
        const changed = this.cache.setSnapshot(nodeId, toResourcesByType(config));
        if (changed.length > 0) report.changedNodes.push(nodeId);
      } catch (err) {
        if (!(err instanceof ResourceEncodingError)) throw err;
        issues.push({
          severity: 'error',
          code: 'TM_ERR_COMPILE_UNSUPPORTED',
          nodeId,
          message: `${err.message}; the node keeps its last good configuration`,
        });
      }
      this.#issues.set(nodeId, issues);
    }
    const present = new Set(ids);
    for (const nodeId of this.cache.nodeIds()) {
      if (present.has(nodeId)) {
        report.nodes.push(nodeId);
        continue;
      }
      this.cache.clearSnapshot(nodeId);
      this.#reads.delete(nodeId);
      this.#issues.delete(nodeId);
      report.removedNodes.push(nodeId);
    }
    for (const issues of this.#issues.values()) report.compileIssues.push(...issues);
    report.durationMs = this.#now() - started;
    this.#logger?.info(
      {
        nodes: report.nodes.length,
        compiledNodes: report.compiledNodes.length,
        changedNodes: report.changedNodes.length,
        removedNodes: report.removedNodes.length,
        issues: report.compileIssues.length + report.meshIssues.length,
        durationMs: Math.round(report.durationMs),
      },
      'mesh compiled',
    );
    this.emit('compiled', report);
    return report;
  }
}
