/**
 * Small statistics shared by the runtime, the builder and the benchmarks.
 */

/** The `q`-quantile (0..1) of `values` by the nearest-rank method; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

/** The median of `values` (nearest rank); NaN when empty. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}
