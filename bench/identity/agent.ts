/**
 * Agent benchmark (issue #8, identity): a real agent (in this process, so its clock can be moved)
 * against the identity server (child process), with 100 workloads in a second child process
 * (bench/identity/workloads.ts) on the agent's Workload API socket. `--quick`: 10 workloads and 100
 * SVIDs (a smoke test of the same path; the cold first fetch alone takes ~0.2 s per workload).
 *
 * Design:
 *  - N registration entries (10,000; `--quick` 100) parented to the agent, each selecting one
 *    `unix:uid:`. 100 of them, spread through the list, select the uids of the 100 connected
 *    workloads; the rest select uids nobody connects with (cached SVIDs of workloads not running
 *    now). As root, each workload connects with its own effective uid, so SO_PEERCRED names 100
 *    distinct callers and each gets its own SVID; otherwise all 100 connections share this
 *    process's uid and one entry (stated in the conditions).
 *  - `agent.start`: attestation, the first entry sync and N SVIDs minted (one P-256 key and CSR each,
 *    BatchNewX509Svid in batches of 256). Single shot: it is one start.
 *  - `workload API fetch`: the 100 workloads fetch concurrently in a closed loop (new FetchX509SVID
 *    stream, first answer, cancel), 3 runs of ≥ 1 s and ≥ 3 fetches per workload (`--quick`: 1 run,
 *    1 fetch each): p50/p99 latency and fetches/s (over the elapsed time), medians.
 *  - `rotation`: the 100 workloads hold FetchX509SVID streams open; the agent's injected clock moves
 *    forward by 70 % of the SVID TTL (every SVID is past its jittered half-life, SPIRE's rule) and an
 *    entry change wakes its sync loop at once; the clock moves back as soon as the first rotated SVID
 *    is stored (the due list is computed before that), so each SVID rotates exactly once. Measured:
 *    time until all N SVIDs are replaced in the cache, and until every open stream has received its
 *    rotated SVID. Single shot: 10,000 rotations are themselves the repetition.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Agent, resolveAgentConfig, type CachedSvid } from '../../src/identity/agent/index.js';
import { adminCall } from '../../src/identity/server/index.js';
import { emit, median, percentile } from '../lib/report.js';
import { startBenchServer } from './server-process.js';
import type { WorkloadCommand, WorkloadReport } from './workloads.js';

const quick = process.argv.includes('--quick');
const WORKLOADS = quick ? 10 : 100;
const CACHED = quick ? 100 : 10_000;
const FETCH_RUNS = quick ? 1 : 3;
const FETCH_SECONDS = 1;
/** fetches per workload per run at least, so that p99 rests on several answers per workload */
const MIN_FETCHES = quick ? 1 : 3;
/** Default X509-SVID TTL of the server (seconds): the clock jump is a fraction of it. */
const SVID_TTL_S = 3600;
const UID_BASE = 40_000;
const isRoot = process.getuid?.() === 0;
const workloadsScript = fileURLToPath(new URL('./workloads.ts', import.meta.url));

/** Latency figures of one fetch run (ms), its rate (fetches/s) and counts. */
interface FetchRun {
  p50: number;
  p99: number;
  max: number;
  rate: number;
  errors: number;
  samples: number;
}

/** The workloads child: commands out, reports in. */
class Workloads {
  readonly #child: ChildProcess;
  readonly #listeners = new Set<(r: WorkloadReport) => void>();

  constructor() {
    this.#child = fork(workloadsScript, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.#child.on('message', (r: WorkloadReport) => {
      for (const l of [...this.#listeners]) l(r);
    });
  }

  send(c: WorkloadCommand): void {
    this.#child.send(c);
  }

  /** Calls `l` for every report until it returns true; rejects after `timeoutMs`. */
  until(l: (r: WorkloadReport) => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#listeners.delete(f);
        reject(new Error(`workloads: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const f = (r: WorkloadReport): void => {
        if ('watchError' in r) process.stderr.write(`bench/identity/agent: stream failed: ${r.watchError}\n`);
        if (!l(r)) return;
        clearTimeout(t);
        this.#listeners.delete(f);
        resolve();
      };
      this.#listeners.add(f);
    });
  }

  close(): void {
    this.#child.disconnect();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tm-bench-agent-'));
  // Workloads connect with other uids: the socket's directory must be searchable by them.
  chmodSync(dir, 0o755);
  const server = await startBenchServer(path.join(dir, 'server'));
  killServer = server.kill;
  let agent: Agent | undefined;
  let workloads: Workloads | undefined;
  try {
    const { token } = await adminCall<{ token: string }>(server.socketPath, 'token.generate', {});
    const bundle = await adminCall<{ pem: string }>(server.socketPath, 'bundle.show', {});
    writeFileSync(path.join(dir, 'bundle.pem'), bundle.pem);
    const agentId = `spiffe://bench.test/spire/agent/join_token/${token}`;

    // Entry k selects a connected workload's uid when k is a multiple of the stride.
    const stride = CACHED / WORKLOADS;
    const workloadUid = (w: number): number => (isRoot ? UID_BASE + w : process.getuid!());
    const entryUid = (k: number): number =>
      k % stride === 0 && (isRoot || k === 0) ? workloadUid(k / stride) : UID_BASE + WORKLOADS + k;
    for (let i = 0; i < CACHED; i += 1000) {
      const entries = Array.from({ length: Math.min(1000, CACHED - i) }, (_, j) => ({
        spiffe_id: `spiffe://bench.test/workload/${i + j}`,
        parent_id: agentId,
        selectors: [{ type: 'unix', value: `uid:${entryUid(i + j)}` }],
      }));
      await adminCall(server.socketPath, 'entry.create', { entries });
    }

    let clockOffsetMs = 0;
    const config = resolveAgentConfig(
      {
        agent: {
          trust_domain: 'bench.test',
          server_address: '127.0.0.1',
          server_port: String(server.agentApiPort),
          socket_path: path.join(dir, 'agent.sock'),
          trust_bundle_path: path.join(dir, 'bundle.pem'),
          data_dir: path.join(dir, 'agent'),
          join_token: token,
        },
      },
      {},
    );
    let t = performance.now();
    agent = await Agent.start(config, {
      log: pino({ level: 'warn' }),
      now: () => Date.now() + clockOffsetMs,
    });
    const startMs = performance.now() - t;
    if (agent.spiffeId !== agentId)
      throw new Error(`agent attested as ${agent.spiffeId}, expected ${agentId}`);
    const callers = isRoot
      ? 'distinct uids (one SO_PEERCRED uid per workload)'
      : 'one uid (not root): all connections match one entry';
    const cond = {
      cached_svids: agent.cache.svidCount(),
      workloads: WORKLOADS,
      callers,
      agent: 'in-process, workloads in a child process',
    };
    emit({
      name: 'agent.start',
      variant: `${CACHED} entries`,
      unit: 'ms',
      value: startMs,
      conditions: { ...cond, reps: 1 },
    });
    emit({
      name: 'agent.start: SVIDs minted per second',
      variant: `${CACHED} entries`,
      unit: 'SVIDs/s',
      value: (agent.cache.svidCount() / startMs) * 1000,
      conditions: { ...cond, reps: 1 },
    });

    workloads = new Workloads();
    const wl = workloads;
    const uids = Array.from({ length: WORKLOADS }, (_, w) => (isRoot ? workloadUid(w) : undefined));
    wl.send({ cmd: 'connect', socketPath: config.socketPath, uids });
    await wl.until((r) => 'connected' in r, 60_000, 'connect');

    // The first fetch of each workload pays its attestation's cold path (the unix attestor hashes
    // the caller's binary once per file); then the steady-state runs, medians over the runs.
    const fetchRun = async (seconds: number, minPerWorkload: number): Promise<FetchRun> => {
      let got: Extract<WorkloadReport, { fetched: unknown }>['fetched'] | undefined;
      wl.send({ cmd: 'fetch', seconds, minPerWorkload });
      await wl.until((r) => ('fetched' in r ? ((got = r.fetched), true) : false), 120_000, 'fetch results');
      const l = got!.latenciesMs;
      if (got!.firstError) process.stderr.write(`bench/identity/agent: fetch failed: ${got!.firstError}\n`);
      return {
        p50: percentile(l, 50),
        p99: percentile(l, 99),
        max: l[l.length - 1] ?? NaN,
        rate: l.length / (got!.elapsedMs / 1000),
        errors: got!.errors,
        samples: l.length,
      };
    };
    const cold = await fetchRun(0, 1);
    emit({
      name: 'workload API fetch X509-SVID: first fetch of every workload at once (slowest)',
      variant: `${WORKLOADS} workloads`,
      unit: 'ms',
      value: cold.max,
      conditions: { ...cond, concurrent: WORKLOADS, reps: 1, errors: cold.errors },
    });
    const runs: FetchRun[] = [];
    for (let i = 0; i < FETCH_RUNS; i++) runs.push(await fetchRun(FETCH_SECONDS, MIN_FETCHES));
    const fetchCond = {
      ...cond,
      concurrent: WORKLOADS,
      run: `≥ ${FETCH_SECONDS} s and ≥ ${MIN_FETCHES} fetches per workload`,
      reps: FETCH_RUNS,
      errors: runs.reduce((s, r) => s + r.errors, 0),
      samples: runs.reduce((s, r) => s + r.samples, 0),
    };
    for (const k of ['p50', 'p99'] as const)
      emit({
        name: `workload API fetch X509-SVID: ${k}`,
        variant: `${WORKLOADS} workloads`,
        unit: 'ms',
        value: median(runs.map((r) => r[k])),
        conditions: fetchCond,
      });
    emit({
      name: 'workload API fetch X509-SVID: rate',
      variant: `${WORKLOADS} workloads`,
      unit: 'fetches/s',
      value: median(runs.map((r) => r.rate)),
      conditions: fetchCond,
    });

    // Rotation: open streams first, note each stream's current SVID.
    const current = new Map<number, string>();
    wl.send({ cmd: 'watch' });
    await wl.until(
      (r) => {
        if ('update' in r) current.set(r.update.workload, r.update.digest);
        return current.size === WORKLOADS;
      },
      60_000,
      'first stream answers',
    );
    const before = new Map<string, CachedSvid | undefined>(
      [...agent.cache.entries().keys()].map((id) => [id, agent!.cache.svid(id)]),
    );
    const pushed = new Set<number>();
    let pushMs = NaN;
    const streamsDone = wl.until(
      (r) => {
        if ('update' in r && r.update.digest !== current.get(r.update.workload))
          pushed.add(r.update.workload);
        if (pushed.size === WORKLOADS) pushMs = performance.now() - t;
        return pushed.size === WORKLOADS;
      },
      300_000,
      'rotated SVIDs on every stream',
    );

    clockOffsetMs = SVID_TTL_S * 1000 * 0.7;
    t = performance.now();
    // Any entry change wakes the agent's sync loop (WatchRevisions) instead of its 5 s timer.
    await adminCall(server.socketPath, 'entry.create', {
      entries: [
        {
          spiffe_id: 'spiffe://bench.test/wake',
          parent_id: agentId,
          selectors: [{ type: 'unix', value: 'uid:1' }],
        },
      ],
    });
    const rotateBy = Date.now() + 300_000;
    let rotated = 0;
    while (rotated < before.size && Date.now() < rotateBy) {
      await agent.cache.waitForChange(agent.cache.version);
      rotated = 0;
      for (const [id, old] of before) if (agent.cache.svid(id) !== old) rotated++;
      if (rotated > 0) clockOffsetMs = 0;
    }
    const rotateMs = performance.now() - t;
    if (rotated < before.size) throw new Error(`only ${rotated}/${before.size} SVIDs rotated within 300 s`);
    await streamsDone;
    const rotCond = {
      ...cond,
      open_streams: WORKLOADS,
      reps: 1,
      trigger: 'clock +70 % of TTL, entry change wakes the sync',
    };
    emit({
      name: 'rotation: all cached SVIDs replaced',
      variant: `${before.size} SVIDs`,
      unit: 'ms',
      value: rotateMs,
      conditions: rotCond,
    });
    emit({
      name: 'rotation: SVIDs rotated per second',
      variant: `${before.size} SVIDs`,
      unit: 'SVIDs/s',
      value: (before.size / rotateMs) * 1000,
      conditions: rotCond,
    });
    emit({
      name: 'rotation: every open stream has its new SVID',
      variant: `${before.size} SVIDs`,
      unit: 'ms',
      value: pushMs,
      conditions: rotCond,
    });
  } finally {
    workloads?.close();
    await agent?.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Kills the server child when the run exceeds its time budget. */
let killServer = (): void => {};
const deadline = setTimeout(
  () => {
    process.stderr.write('bench/identity/agent: time budget exceeded\n');
    killServer();
    process.exit(1);
  },
  (quick ? 120 : 600) * 1000,
);
deadline.unref();
await main();
process.exit(0);
