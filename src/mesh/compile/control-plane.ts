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
import { compileMesh, toResourcesByType, type CompileOptions } from './compile.js';
import type { CompileIssue } from './errors.js';

/** What the control plane needs from a mesh source (the `ResourceStore` satisfies it). */
export interface MeshSource {
  /** The current validated mesh state. */
  snapshot(): MeshState;
  on(event: 'change', listener: () => void): unknown;
  off(event: 'change', listener: () => void): unknown;
}

/** Outcome of one compile pass. */
export interface CompileReport {
  /** Node ids with a snapshot after this pass. */
  nodes: string[];
  /** Node ids whose snapshot changed (and got pushes). */
  changedNodes: string[];
  /** Node ids dropped because their virtual node / gateway is gone. */
  removedNodes: string[];
  /** Cross-object issues of the mesh state (dangling references, membership…). */
  meshIssues: ValidationIssue[];
  /** What the compiler left out, per node; plus encoding failures (those nodes kept their last snapshot). */
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
  readonly #onChange = () => this.#schedule();
  #scheduled = false;
  #started = false;

  constructor(options: ControlPlaneOptions) {
    super();
    this.#source = options.source;
    this.cache = options.cache ?? new SnapshotCache();
    this.#compile = options.compile ?? {};
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

  /** Coalesces a burst of store changes into one pass on the next turn of the event loop. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#started) this.recompile();
    });
  }

  /** Compiles every node now and updates the cache; emits and returns the report. */
  recompile(): CompileReport {
    const started = this.#now();
    const state = this.#source.snapshot();
    const configs = compileMesh(state, this.#compile);
    const report: CompileReport = {
      nodes: [],
      changedNodes: [],
      removedNodes: [],
      meshIssues: state.issues,
      compileIssues: [],
      durationMs: 0,
    };
    for (const [nodeId, config] of configs) {
      report.compileIssues.push(...config.issues);
      try {
        if (this.cache.setSnapshot(nodeId, toResourcesByType(config)).length > 0)
          report.changedNodes.push(nodeId);
      } catch (err) {
        if (!(err instanceof ResourceEncodingError)) throw err;
        report.compileIssues.push({
          severity: 'error',
          code: 'TM_ERR_COMPILE_UNSUPPORTED',
          nodeId,
          message: `${err.message}; the node keeps its last good configuration`,
        });
      }
      if (this.cache.getSnapshot(nodeId)) report.nodes.push(nodeId);
    }
    for (const nodeId of this.cache.nodeIds()) {
      if (configs.has(nodeId)) continue;
      this.cache.clearSnapshot(nodeId);
      report.removedNodes.push(nodeId);
    }
    report.durationMs = this.#now() - started;
    this.#logger?.info(
      {
        nodes: report.nodes.length,
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
