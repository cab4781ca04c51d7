/**
 * What every area script shares: printing measurement lines in bench/run.ts's format, and the small
 * statistics the figures need (median over repetitions, percentiles of latency samples).
 */

/** One figure, printed as one JSON line on stdout (bench/run.ts `Measurement`, without `area`). */
export interface Figure {
  name: string;
  variant: string;
  unit: string;
  value: number;
  /** the conditions the figure was taken under (every figure carries them) */
  conditions?: Record<string, unknown>;
  /** another variant of the same `name`: the report shows value / that variant's value */
  ratio_to?: string;
}

/** Prints `f` as a measurement line, the value rounded to 2 decimals (3 significant digits below 1). */
export function emit(f: Figure): void {
  const { ratio_to, conditions, ...rest } = f;
  process.stdout.write(
    `${JSON.stringify({
      ...rest,
      value: Math.abs(f.value) >= 1 ? Math.round(f.value * 100) / 100 : Number(f.value.toPrecision(3)),
      ...(conditions ? { conditions } : {}),
      ...(ratio_to ? { ratio_to } : {}),
    })}\n`,
  );
}

/** Median of `xs` (the upper middle for an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
}

/** The nearest-rank `p`-th percentile (0–100) of `sorted` (ascending); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** `min–max` of `xs` rounded to integers: the spread of repetitions, for a figure's conditions. */
export function spread(xs: readonly number[]): string {
  return `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;
}
