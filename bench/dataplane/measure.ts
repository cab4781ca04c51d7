/**
 * Measuring variants under one load: repetitions interleaved across variants (so drift on this shared
 * machine hits every variant alike), the median of each figure over the repetitions, CPU of the proxy
 * processes from /proc, and the figures printed in bench/run.ts's format.
 */
import { cpuMicros, rssMb } from '../lib/proc.js';
import { emit, median, spread } from '../lib/report.js';
import type { Load, LoadResult } from './load.js';
import type { Variant } from './variant.js';

/** How a scenario's point is measured and compared. */
export interface PointOptions {
  /** figure name prefix, e.g. `dataplane.two_hop_mtls` */
  prefix: string;
  /** point label in the figure names, e.g. `c32` */
  point: string;
  load: Load;
  /** one 1 s run per variant first (the scenario's first point) */
  warm: boolean;
  /** measured seconds per repetition */
  seconds: number;
  reps: number;
  /** variant whose latency the others' latency is compared with (the direct path) */
  baseline: string;
  /** variant whose throughput and CPU the others' are compared with (the peer proxy) */
  peer: string;
  /** the scenario's own conditions (hop design, pinning, TLS) */
  conditions: Record<string, unknown>;
}

interface Sample extends LoadResult {
  /** CPU µs of the variant's processes per request, both hops */
  cpuUs: number;
}

function sample(v: Variant, load: Load, seconds: number): Sample {
  const before = v.pids.map(cpuMicros);
  const r = load.run(v.port, seconds);
  const cpu = v.pids.reduce((s, p, i) => s + cpuMicros(p) - before[i]!, 0);
  return { ...r, cpuUs: r.rps > 0 && v.pids.length ? cpu / (r.rps * seconds) : NaN };
}

/**
 * Optionally warms every variant with one short run of `load`, then runs `reps` rounds of every
 * variant in turn and prints the medians: rps (ratio to the peer), p50/p90/p99 or mean latency
 * (ratio to the baseline), added p50/p99 (or mean) over the baseline, CPU µs per request for both
 * hops (ratio to the peer), and the 2xx / error counts summed over the repetitions. Returns each
 * variant's median CPU µs per request.
 */
export function measurePoint(variants: readonly Variant[], o: PointOptions): Map<string, number> {
  if (o.warm) for (const v of variants) o.load.run(v.port, 1);
  const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
  for (let rep = 0; rep < o.reps; rep++)
    for (const v of variants) samples.get(v.name)!.push(sample(v, o.load, o.seconds));
  const med = (name: string, k: keyof Sample): number => median(samples.get(name)!.map((s) => s[k]));
  for (const v of variants) {
    const ss = samples.get(v.name)!;
    const cond = {
      ...o.load.conditions,
      ...o.conditions,
      ...v.conditions,
      seconds: o.seconds,
      reps: o.reps,
      ...(o.reps > 1 ? { rps_spread: spread(ss.map((s) => s.rps)) } : {}),
    };
    const isBase = v.name === o.baseline;
    const vsPeer = isBase || v.name === o.peer ? undefined : o.peer;
    const vsBase = isBase ? undefined : o.baseline;
    const fig = (what: string, unit: string, value: number, ratio?: string): void => {
      if (!Number.isNaN(value))
        emit({
          name: `${o.prefix}.${what}.${o.point}`,
          variant: v.name,
          unit,
          value,
          conditions: cond,
          ratio_to: ratio,
        });
    };
    fig('rps', 'req/s', med(v.name, 'rps'), vsPeer);
    // The mean only where the generator reports no percentiles (h2load).
    const lat = Number.isNaN(med(v.name, 'p50Us'))
      ? (['meanUs'] as const)
      : (['p50Us', 'p90Us', 'p99Us'] as const);
    for (const k of lat) {
      const what = k.replace('Us', '');
      fig(what, 'µs', med(v.name, k), vsBase);
      if (!isBase && what !== 'p90') fig(`added_${what}`, 'µs', med(v.name, k) - med(o.baseline, k));
    }
    fig('cpu_per_request', 'µs', med(v.name, 'cpuUs'), vsPeer);
    fig(
      'responses_2xx',
      'count',
      ss.reduce((s, x) => s + x.ok, 0),
    );
    fig(
      'errors',
      'count',
      ss.reduce((s, x) => s + x.errors, 0),
    );
  }
  return new Map(variants.map((v) => [v.name, med(v.name, 'cpuUs')]));
}

/**
 * Prints Istio's unit, vCPU per 1000 req/s per proxy hop, from the CPU µs per request of both hops:
 * (cpuUs × rps / 1e6) vCPU at rps / 1000 thousand req/s, over 2 hops = cpuUs / 2000.
 */
export function emitVcpuPer1000Rps(
  v: Variant,
  prefix: string,
  cpuUs: number,
  conditions: Record<string, unknown>,
): void {
  emit({
    name: `${prefix}.vcpu_per_1000rps_per_hop`,
    variant: v.name,
    unit: 'vCPU',
    value: cpuUs / 2000,
    conditions,
  });
}

/**
 * Istio's unit (performance.md §1.1): `load` at a fixed rate for `seconds`, the variant's CPU over
 * that time divided by the rate in thousands of req/s and by the two hops. Single shot: at a fixed
 * rate the CPU rate is steady, and one longer run beats three short ones against /proc's 10 ms ticks.
 */
export function measureIstioUnit(v: Variant, load: Load, seconds: number, prefix: string): void {
  const s = sample(v, load, seconds);
  emitVcpuPer1000Rps(v, prefix, s.cpuUs, {
    ...load.conditions,
    achieved_rps: Math.round(s.rps),
    seconds,
    reps: 1,
    errors: s.errors,
  });
}

/** Peak (VmHWM) and current RSS of the variant's largest proxy process, MB. */
export function emitMemory(v: Variant, prefix: string): void {
  if (!v.pids.length) return;
  const cond = { processes: v.pids.length, proxy_roles_per_process: v.hopsPerProcess };
  const max = (field: 'VmHWM' | 'VmRSS'): number => Math.max(...v.pids.map((p) => rssMb(p, field)));
  emit({
    name: `${prefix}.peak_rss_per_process`,
    variant: v.name,
    unit: 'MB',
    value: max('VmHWM'),
    conditions: cond,
  });
  emit({
    name: `${prefix}.rss_after_run_per_process`,
    variant: v.name,
    unit: 'MB',
    value: max('VmRSS'),
    conditions: cond,
  });
}

/**
 * A freshly started Node proxy needs seconds of traffic before V8 has optimised its hot paths (the
 * first second costs ~10 ms of CPU per request). Drives `load` in 1 s runs until two consecutive runs
 * agree within 10% (at most `maxSeconds` runs) and prints the seconds it took; a variant that never
 * settles is measured anyway.
 */
export function warmUntilSteady(v: Variant, load: Load, maxSeconds: number, prefix: string): void {
  let prev = 0;
  let s = 0;
  while (s < maxSeconds) {
    const r = load.run(v.port, 1);
    s++;
    if (s >= 2 && prev > 0 && Math.abs(r.rps - prev) <= 0.1 * prev) break;
    prev = r.rps;
  }
  emit({
    name: `${prefix}.warmup`,
    variant: v.name,
    unit: 's',
    value: s,
    conditions: { ...load.conditions, bound_s: maxSeconds },
  });
}
