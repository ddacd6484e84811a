/** Order statistics of timing samples. */

/** The `q`-quantile (0…1) of `xs`, linearly interpolated between order statistics; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

/** The median of `xs`. */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** Summary of one set of samples (ms). */
export interface Summary {
  n: number;
  median: number;
  p95: number;
  p99: number;
  min: number;
  max: number;
}

/** n, median, p95, p99, min and max of `xs`. */
export function summarize(xs: readonly number[]): Summary {
  return {
    n: xs.length,
    median: median(xs),
    p95: quantile(xs, 0.95),
    p99: quantile(xs, 0.99),
    min: xs.length ? Math.min(...xs) : Number.NaN,
    max: xs.length ? Math.max(...xs) : Number.NaN,
  };
}

/** `x` rounded to `digits` decimals (keeps JSON and tables readable). */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
