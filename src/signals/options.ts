/**
 * Sampling settings shared by the sources and the profile format (a profile's `sampling` block
 * has exactly these fields).
 */

/** How often and how the device is sampled. */
export interface SamplingOptions {
  /** Period of the fast lane (CPU load, memory, battery on Linux), ms. */
  readonly fastMs: number;
  /** Period of the slow lane (temperatures; battery on Windows and macOS, where it is costly), ms. */
  readonly slowMs: number;
  /** Period of the `nvidia-smi` stream, ms. */
  readonly gpuMs: number;
  /** A probe that has not answered after this long is reported as `timeout`; default 2 × its period. */
  readonly probeTimeoutMs?: number | undefined;
  /** EMA weight of the newest sample per signal (0 < α ≤ 1); signals not listed are not smoothed. */
  readonly smoothing: Readonly<Record<string, number>>;
  /** Window of the temperature-trend regression, ms. */
  readonly trendWindowMs: number;
  /** At most this many of the latest runs make the inference window (a bound on memory). */
  readonly slowdownWindow: number;
  /** Runs older than this leave the inference window (scheduler time), ms. */
  readonly slowdownWindowMs: number;
  /** `inference.slowdown` and `inference.p50Ms` are reported once the window holds this many runs. */
  readonly slowdownMinSamples: number;
  /** Runs not counted after `create()` and after every switch of stitch or fuse (warm-up). */
  readonly slowdownWarmupRuns: number;
  /** …nor any run for this long after them, ms (the warm-up lasts both). */
  readonly slowdownWarmupMs: number;
}

/** The defaults: fast lane 1 s, slow lane 5 s, GPU stream 1 s, trend over 30 s. */
export const DEFAULT_SAMPLING: SamplingOptions = Object.freeze({
  fastMs: 1000,
  slowMs: 5000,
  gpuMs: 1000,
  smoothing: Object.freeze({ 'thermal.cpuC': 0.3, 'thermal.gpuC': 0.3, 'cpu.load': 0.5, 'gpu.utilization': 0.5 }),
  trendWindowMs: 30_000,
  slowdownWindow: 200,
  slowdownWindowMs: 5000,
  slowdownMinSamples: 5,
  slowdownWarmupRuns: 3,
  slowdownWarmupMs: 1000,
});
