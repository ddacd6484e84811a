/**
 * The inference monitor: turns the timings of real runs into `inference.p50Ms` and
 * `inference.slowdown` (observed ÷ profiled latency), the closed-loop signal that reveals thermal
 * throttling or a busy GPU even where no sensor does.
 */
import { median } from '../base/stats.js';
import { DEFAULT_SAMPLING } from './options.js';
import { PushSource } from './push.js';
import { missingReading, okReading, type Reading } from './state.js';

/** One finished run. */
export interface RunTiming {
  /** Measured wall time of the run, ms. */
  readonly observedMs: number;
  /**
   * Profiled latency of the stitch that ran, on the provider and batch size it ran with, ms;
   * `undefined` when the package has no profile for them (the slowdown then is not updated).
   */
  readonly expectedMs?: number | undefined;
}

export { median } from '../base/stats.js';

function lastN(values: readonly number[], next: number, n: number): number[] {
  return [...values.slice(Math.max(0, values.length - n + 1)), next];
}

/**
 * Source of the inference signals. The runtime calls {@link InferenceMonitor.record} after every
 * run; `inference.p50Ms` is the median of the last `window` observed times and
 * `inference.slowdown` the median of the last `window` observed ÷ profiled ratios. The median
 * ignores single outliers (a GC pause, a first run) yet follows a sustained change within
 * `window / 2` runs. Because it is a ratio it stays meaningful across stitch switches.
 */
export class InferenceMonitor extends PushSource {
  private observed: number[] = [];
  private ratios: number[] = [];
  private readonly window: number;

  constructor(options: { window?: number; name?: string } = {}) {
    super(options.name ?? 'inference');
    this.window = Math.max(1, Math.round(options.window ?? DEFAULT_SAMPLING.slowdownWindow));
  }

  /** Records one run and emits the updated readings. Non-positive or non-finite timings are ignored. */
  record(run: RunTiming): void {
    if (!(run.observedMs > 0) || !Number.isFinite(run.observedMs)) return;
    this.observed = lastN(this.observed, run.observedMs, this.window);
    const expected = run.expectedMs;
    if (expected !== undefined && expected > 0 && Number.isFinite(expected)) {
      this.ratios = lastN(this.ratios, run.observedMs / expected, this.window);
    }
    this.emit({ 'inference.p50Ms': okReading(median(this.observed)), 'inference.slowdown': this.slowdownReading() });
  }

  /** Forgets the history (e.g. after the execution provider changed) and reports both signals unavailable. */
  reset(): void {
    this.observed = [];
    this.ratios = [];
    this.emit({ 'inference.p50Ms': missingReading('unavailable'), 'inference.slowdown': missingReading('unavailable') });
  }

  private slowdownReading(): Reading {
    return this.ratios.length === 0 ? missingReading('unavailable') : okReading(median(this.ratios));
  }
}
