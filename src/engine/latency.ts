/**
 * Latency of routes on this device, measured the way they will run.
 *
 * Runs are interleaved — every round runs each route once, in a shuffled order — so that slow
 * drifts of the machine (heat, other load) spread over all routes instead of favouring some;
 * warm-up rounds are not counted. Each route gets the median and the 95th percentile of its rounds.
 * Used by the builder (latency written into a package) and by the runtime (this device's
 * calibration).
 */
import { quantile } from '../base/stats.js';
import { shuffled } from '../base/random.js';

/** A route to measure: a caller's key and the pieces it runs. */
export interface MeasuredRoute<K> {
  key: K;
  pieces: readonly string[];
}

/** Runs `pieces` on `data` shaped `dims` and resolves with the time it took (ms). */
export type TimedRun = (pieces: readonly string[], data: Float32Array, dims: readonly number[]) => Promise<number>;

export interface MeasureOptions {
  /** The input's shape without the batch dimension. */
  sampleShape: readonly number[];
  batches: readonly number[];
  /** Uncounted rounds first (default 3). */
  warmup?: number;
  /** Counted rounds (default 20). */
  rounds?: number;
  /** One preprocessed sample, repeated to fill a batch (default: zeros). */
  sample?: Float32Array;
  onRound?: (done: number, total: number) => void;
  /**
   * Asked after every counted round: `true` ends this batch size's rounds there (the rounds
   * counted so far make its figures). Lets a caller keep to a time budget.
   */
  stopAfterRound?: (batch: number) => boolean;
  /** Stops between runs when aborted (the measurements so far are dropped). */
  signal?: AbortSignal;
}

export interface RouteLatency {
  p50Ms: number;
  p95Ms: number;
  /** Counted runs. */
  samples: number;
}

/** `result.get(key).get(batch)`. */
export type LatencyTable<K> = Map<K, Map<number, RouteLatency>>;

/** A batch of `batch` copies of `sample` (zeros without one). */
export function batchInput(
  sampleShape: readonly number[],
  batch: number,
  sample?: Float32Array,
): { data: Float32Array; dims: number[] } {
  const per = sampleShape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(batch * per);
  if (sample) for (let i = 0; i < batch; i++) data.set(sample.subarray(0, per), i * per);
  return { data, dims: [batch, ...sampleShape] };
}

/** Measures every route at every batch size, interleaved. */
export async function measureLatency<K>(
  run: TimedRun,
  routes: readonly MeasuredRoute<K>[],
  options: MeasureOptions,
): Promise<LatencyTable<K>> {
  const warmup = options.warmup ?? 3;
  const rounds = options.rounds ?? 20;
  const total = options.batches.length * (warmup + rounds);
  const table: LatencyTable<K> = new Map(routes.map((r) => [r.key, new Map()]));
  let done = 0;
  for (const batch of options.batches) {
    const { data, dims } = batchInput(options.sampleShape, batch, options.sample);
    const times = new Map<K, number[]>(routes.map((r) => [r.key, []]));
    for (let round = 0; round < warmup + rounds; round++) {
      for (const route of shuffled(routes, round)) {
        options.signal?.throwIfAborted();
        const ms = await run(route.pieces, data, dims);
        if (round >= warmup) (times.get(route.key) as number[]).push(ms);
      }
      options.onRound?.(++done, total);
      if (round >= warmup && options.stopAfterRound?.(batch)) break;
    }
    for (const [key, t] of times) (table.get(key) as Map<number, RouteLatency>).set(batch, summarize(t));
  }
  return table;
}

function summarize(times: readonly number[]): RouteLatency {
  return { p50Ms: quantile(times, 0.5), p95Ms: quantile(times, 0.95), samples: times.length };
}
