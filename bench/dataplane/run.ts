/**
 * Data-plane benchmark (issue #8, performance.md §5): two-hop mTLS, client → A → B → upstream nginx
 * (`return 200 "hello world\n"`), for trustmesh's proxy, HAProxy 2.6 and nginx 1.22 with the same
 * SVIDs, TLS 1.3 and no access logs, and the direct path (client → upstream) measured in the same run.
 * Pinning: load generator and upstream on core 0, both proxies of a variant on core 1, so each
 * variant gets one core for two hops. Scenarios (hop designs in variant.ts):
 *  1. `two_hop_mtls`: HTTP/1.1 keep-alive, wrk at c=1/8/32/128 (`--quick`: 32);
 *  2. `handshake`: `Connection: close` from the client and a new A → B mTLS connection per request
 *     (trustmesh's L4 fast path on A opens one per client connection by design; trustmesh-l7 keeps its
 *     pool, so it is not in this scenario);
 *  3. `h2`: h2load, 8 connections × 16 streams, h2c into A, h2 over mTLS A → B (nginx: HTTP/1.1);
 *  4. `tcp`: the L4 path, tcp_proxy vs HAProxy `mode tcp` vs nginx `stream`, wrk keep-alive c=32.
 * Per variant also Istio's unit, vCPU per 1000 rps per hop: h2load at a fixed 1000 req/s over 4
 * connections for 4 s (HTTP/1.1, or h2 in the h2 scenario); in the handshake scenario, which no
 * variant sustains at 1000 req/s, derived from the CPU per request at saturation. And the peak RSS
 * of each variant's largest proxy process.
 * Every scenario: each trustmesh variant is first warmed until its rate settles (bounded), every
 * variant gets a 1 s warm-up run at the scenario's first point; then per point `reps` rounds over
 * all variants (3 × 2 s), medians printed with their spread. `--quick` is a smoke test: 1 s of
 * warm-up for trustmesh only, 1 × 1 s per point, 1 s at the fixed rate.
 * Prints bench/run.ts measurement lines; every child is killed at the end; the run is time-bounded.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintBenchCerts } from './certs.js';
import { h2load, wrk, type Load } from './load.js';
import {
  emitMemory,
  emitVcpuPer1000Rps,
  measureIstioUnit,
  measurePoint,
  warmUntilSteady,
} from './measure.js';
import { startHaproxy } from './haproxy.js';
import { nginxHasStream, startNginx, startUpstream } from './nginx.js';
import { freePort, guardRun, has, stop } from './procs.js';
import { startTrustmesh, type TrustmeshVariant } from './trustmesh.js';
import type { HopDesign, Variant, VariantContext } from './variant.js';

const quick = process.argv.includes('--quick');
const REPS = quick ? 1 : 3;
const SECONDS = quick ? 1 : 2;
const MAX_WARM_S = quick ? 1 : 12;
const root = fileURLToPath(new URL('../../', import.meta.url));
const PINNING = 'load+upstream core 0, both proxies core 1';

/** One scenario: its hop design, the variants it compares and the loads it drives them with. */
interface Scenario {
  prefix: string;
  design: HopDesign;
  trustmesh: TrustmeshVariant[];
  /** the peer the others' throughput is compared with */
  peer: string;
  /** the direct path's port for this scenario's protocol */
  directPort: (ctx: VariantContext) => number;
  points: Array<{ label: string; load: Load }>;
  /** the load that warms a trustmesh variant to steady state */
  warm: Load;
  /**
   * the fixed-rate load for Istio's unit (1000 req/s); without one (a rate the variants cannot all
   * sustain) the unit is derived from the first point's CPU per request at saturation
   */
  fixedRate?: Load;
}

async function runScenario(ctx: VariantContext, s: Scenario): Promise<void> {
  const variants: Variant[] = [
    { name: 'direct', port: s.directPort(ctx), pids: [], hopsPerProcess: 1, conditions: {} },
  ];
  try {
    for (const t of s.trustmesh) variants.push(await startTrustmesh(ctx, t));
    if (has('haproxy')) variants.push(await startHaproxy(ctx, s.design));
    if (s.design !== 'tcp' || nginxHasStream()) variants.push(await startNginx(ctx, s.design));
    else
      process.stderr.write(
        'bench/dataplane: nginx stream module missing (libnginx-mod-stream); no nginx L4 peer\n',
      );
    for (const v of variants)
      if (v.name.startsWith('trustmesh')) warmUntilSteady(v, s.warm, MAX_WARM_S, s.prefix);
    const conditions = { design: s.design, pinned: PINNING, tls: 'TLSv1.3 P-256 mTLS' };
    const cpuAtFirstPoint = s.points.map(({ label, load }, i) =>
      measurePoint(variants, {
        warm: i === 0 && !quick,
        prefix: s.prefix,
        point: label,
        load,
        seconds: SECONDS,
        reps: REPS,
        baseline: 'direct',
        peer: s.peer,
        conditions,
      }),
    )[0]!;
    for (const v of variants.filter((x) => x.pids.length)) {
      if (s.fixedRate) measureIstioUnit(v, s.fixedRate, quick ? 1 : 4, s.prefix);
      else
        emitVcpuPer1000Rps(v, s.prefix, cpuAtFirstPoint.get(v.name)!, {
          at: `saturation, ${s.points[0]!.label}`,
          why: 'a fixed 1000 req/s is more than every variant sustains here',
        });
    }
    for (const v of variants) emitMemory(v, s.prefix);
  } finally {
    stop();
  }
}

async function main(): Promise<void> {
  for (const tool of ['wrk', 'nginx', 'taskset']) {
    if (!has(tool)) {
      process.stderr.write(`bench/dataplane: ${tool} is not installed; skipping\n`);
      return;
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-bench-dp-'));
  try {
    const certs = await mintBenchCerts(dir);
    const [h1Port, h2Port] = [await freePort(), await freePort()];
    const upstream = async (): Promise<VariantContext> => {
      await startUpstream({ dir, root }, h1Port, h2Port);
      return { dir, root, certs, upstreamPort: h1Port };
    };
    const scenarios: Scenario[] = [
      {
        prefix: 'dataplane.two_hop_mtls',
        design: 'http',
        trustmesh: ['trustmesh-l7', 'trustmesh-l4'],
        peer: 'haproxy',
        directPort: () => h1Port,
        points: (quick ? [32] : [1, 8, 32, 128]).map((c) => ({ label: `c${c}`, load: wrk(c) })),
        warm: wrk(8),
        fixedRate: h2load({ clients: 4, h1: true, rpsPerClient: 250 }),
      },
      {
        prefix: 'dataplane.handshake',
        design: 'close',
        trustmesh: ['trustmesh-l4'],
        peer: 'haproxy',
        directPort: () => h1Port,
        points: [{ label: 'c32', load: wrk(32, true) }],
        warm: wrk(8, true),
      },
      {
        prefix: 'dataplane.h2',
        design: 'h2',
        trustmesh: ['trustmesh-h2'],
        peer: 'haproxy',
        directPort: () => h2Port,
        points: [{ label: 'c8m16', load: h2load({ clients: 8, streams: 16 }) }],
        warm: h2load({ clients: 8, streams: 16 }),
        fixedRate: h2load({ clients: 4, rpsPerClient: 250 }),
      },
      {
        prefix: 'dataplane.tcp',
        design: 'tcp',
        trustmesh: ['trustmesh-tcp'],
        peer: 'haproxy-tcp',
        directPort: () => h1Port,
        points: [{ label: 'c32', load: wrk(32) }],
        warm: wrk(8),
        fixedRate: h2load({ clients: 4, h1: true, rpsPerClient: 250 }),
      },
    ];
    const only = process.env.BENCH_DATAPLANE_ONLY;
    for (const s of scenarios) {
      if (only && !s.prefix.endsWith(only)) continue;
      process.stderr.write(`bench/dataplane: ${s.prefix}\n`);
      await runScenario(await upstream(), s);
    }
  } finally {
    stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

guardRun(quick ? 150 : 600, 'bench/dataplane');
await main();
// Nothing of the run may keep the process alive past its measurements.
process.exit(process.exitCode ?? 0);
