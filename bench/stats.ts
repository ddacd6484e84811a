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

/** A median with its distribution-free confidence interval. */
export interface MedianCI {
  median: number;
  /** Lower and upper bound of the interval (order statistics of the sample). */
  lo: number;
  hi: number;
  n: number;
  /** Half the interval's width relative to the median (0.01 = ±1%). */
  halfWidth: number;
}

/**
 * The median of `xs` and its 95% confidence interval: the order statistics whose ranks bracket the
 * median under the binomial(n, ½) law of how many samples fall below it (normal approximation),
 * so no assumption about the samples' distribution is made.
 */
export function medianCI(xs: readonly number[]): MedianCI {
  const n = xs.length;
  const sorted = [...xs].sort((a, b) => a - b);
  const half = (1.959964 * Math.sqrt(n)) / 2;
  const lo = sorted[Math.max(0, Math.floor(n / 2 - half))] ?? Number.NaN;
  const hi = sorted[Math.min(n - 1, Math.ceil(n / 2 + half))] ?? Number.NaN;
  const m = median(sorted);
  return { median: m, lo, hi, n, halfWidth: (hi - lo) / 2 / Math.abs(m) };
}

/** Per-pair ratios `a[i] / b[i]` (rounds measured side by side) with the CI of their median. */
export function pairedRatio(a: readonly number[], b: readonly number[]): MedianCI {
  return medianCI(a.map((x, i) => x / (b[i] as number)));
}
