/**
 * The inference monitor: turns the timings of real runs into `inference.p50Ms` (this device's
 * observed latency of the running stitch) and `inference.slowdown` (observed ÷ this device's
 * calibrated latency), the closed-loop signal that reveals thermal throttling, a busy GPU or CPU
 * contention even where no sensor does.
 */
import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import { median } from '../base/stats.js';
import { DEFAULT_SAMPLING } from './options.js';
import { PushSource } from './push.js';
import { missingReading, okReading, type Reading } from './state.js';

export { median };

/** One finished run. */
export interface RunTiming {
  /** Measured wall time of the run, ms. */
  readonly observedMs: number;
  /**
   * This device's latency of the stitch that ran, on the provider and batch size it ran with, ms
   * (its calibration; the package's figure where there is none); `undefined` when there is no
   * figure at all (the run then counts for `inference.p50Ms` only).
   */
  readonly expectedMs?: number | undefined;
  /** The stitch that ran. A run of another stitch than the previous one starts a warm-up. */
  readonly stitch?: number | undefined;
  /** How it ran (`'route'` or `'fused'`): a change of path (a fuse) starts a warm-up too. */
  readonly path?: string | undefined;
}

/** Options of {@link InferenceMonitor}; the defaults are those of a profile's `sampling` block. */
export interface InferenceMonitorOptions {
  /** Clock of the time window. Default `asyncScheduler`. */
  scheduler?: SchedulerLike | undefined;
  /** Runs older than this (by the scheduler's clock) leave the window, ms. */
  windowMs?: number | undefined;
  /** At most this many of the latest runs are kept in the window. */
  window?: number | undefined;
  /** Neither signal is reported before the window holds this many runs (of the running stitch, for `p50Ms`). */
  minSamples?: number | undefined;
  /** Runs ignored after the monitor starts and after every switch of stitch or path. */
  warmupRuns?: number | undefined;
  /**
   * …and every run for this long after them (scheduler time), ms: a warm-up lasts `warmupRuns`
   * runs and at least this long, whichever ends later.
   */
  warmupMs?: number | undefined;
  /**
   * At most one update of the two readings per this many ms (scheduler time): runs closer together
   * are folded into one update at the end of the interval. Default 100.
   */
  emitEveryMs?: number | undefined;
  name?: string | undefined;
}

/** Default of {@link InferenceMonitorOptions.emitEveryMs}. */
export const INFERENCE_EMIT_EVERY_MS = 100;

interface Sample {
  readonly at: number;
  readonly stitch: number | undefined;
  readonly path: string | undefined;
  readonly ms: number;
  readonly ratio: number | undefined;
}

const positive = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v) && v > 0;

/**
 * Source of the inference signals. The runtime calls {@link InferenceMonitor.record} after every
 * run. Runs right after the start and after a switch (of stitch, or from the route to the fused
 * session) are warm-up: their timings say more about caches, allocations and code not yet
 * compiled than about the device, so the first `warmupRuns` of them, and every run in the first
 * `warmupMs`, are not counted (a model that runs in 3 ms is still twice as slow as later 100 ms
 * after the start: a count of runs alone would end its warm-up after 10 ms). The counted runs of the last
 * `windowMs` form the window:
 *
 * - `inference.p50Ms` is the median observed time of the running stitch's runs in the window;
 * - `inference.slowdown` is the median of observed ÷ expected over every run in the window (a
 *   ratio, so runs of the stitch before a switch still count: they measured the same device).
 *
 * Each is reported only once the window holds `minSamples` runs for it (until then it stays
 * unavailable), so a single outlier — a GC pause, a first run — never reads as a slowdown.
 *
 * The readings are updated at most once per `emitEveryMs` (100 ms): the first run after a quiet
 * interval updates them at once, later runs within the interval once at its end. A model that runs
 * in a millisecond would otherwise pay for two medians over the window and a policy decision on
 * every run (measured: about a tenth of a run of the shipped family).
 */
export class InferenceMonitor extends PushSource {
  private samples: Sample[] = [];
  private readonly scheduler: SchedulerLike;
  private readonly windowMs: number;
  private readonly maxSamples: number;
  private readonly minSamples: number;
  private readonly warmupRuns: number;
  private readonly warmupMs: number;
  /** Runs left in the current warm-up (the first run, and a switch of stitch or path, start one). */
  private warmupLeft = 0;
  /** Scheduler time at which the current warm-up may end (once `warmupLeft` is 0 too). */
  private warmupUntil = Number.NEGATIVE_INFINITY;
  private running: string | undefined;
  private readonly emitEveryMs: number;
  private lastEmitAt = Number.NEGATIVE_INFINITY;
  private pending: Subscription | undefined;

  constructor(options: InferenceMonitorOptions = {}) {
    super(options.name ?? 'inference');
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.windowMs = options.windowMs ?? DEFAULT_SAMPLING.slowdownWindowMs;
    this.maxSamples = Math.max(1, Math.round(options.window ?? DEFAULT_SAMPLING.slowdownWindow));
    this.minSamples = Math.max(1, Math.round(options.minSamples ?? DEFAULT_SAMPLING.slowdownMinSamples));
    this.warmupRuns = Math.max(0, Math.round(options.warmupRuns ?? DEFAULT_SAMPLING.slowdownWarmupRuns));
    this.warmupMs = Math.max(0, options.warmupMs ?? DEFAULT_SAMPLING.slowdownWarmupMs);
    this.emitEveryMs = Math.max(0, options.emitEveryMs ?? INFERENCE_EMIT_EVERY_MS);
  }

  /**
   * Records one run and, when it counts, updates the readings (at once, or at the end of the
   * current `emitEveryMs` interval). Non-positive or non-finite timings are ignored; warm-up runs
   * are dropped.
   */
  record(run: RunTiming): void {
    if (!positive(run.observedMs)) return;
    const key = `${run.stitch ?? ''}/${run.path ?? ''}`;
    const at = this.scheduler.now();
    // The first run, and the first after a switch of stitch or path, start a warm-up.
    if (key !== this.running) this.startWarmup(at);
    this.running = key;
    if (this.warmupLeft > 0 || at < this.warmupUntil) {
      this.warmupLeft = Math.max(0, this.warmupLeft - 1);
      return;
    }
    const ratio = positive(run.expectedMs) ? run.observedMs / run.expectedMs : undefined;
    this.samples.push({ at, stitch: run.stitch, path: run.path, ms: run.observedMs, ratio });
    this.scheduleUpdate(at);
  }

  /**
   * The median observed time of `stitch` over the window (ms), once it has `minSamples` runs there;
   * with `path`, of its runs on that path only (`'route'` or `'fused'`).
   */
  observedMs(stitch: number, path?: string): number | undefined {
    this.prune(this.scheduler.now());
    const times = this.samples
      .filter((s) => s.stitch === stitch && (path === undefined || s.path === path))
      .map((s) => s.ms);
    return times.length >= this.minSamples ? median(times) : undefined;
  }

  /** Forgets the history (e.g. after the execution provider changed), starts a new warm-up and reports both signals unavailable. */
  reset(): void {
    this.cancelUpdate();
    this.samples = [];
    // The next run starts a new warm-up.
    this.running = undefined;
    this.emit({
      'inference.p50Ms': missingReading('unavailable'),
      'inference.slowdown': missingReading('unavailable'),
    });
  }

  /** Stops a pending update and ends the stream. */
  override complete(): void {
    this.cancelUpdate();
    super.complete();
  }

  /** Updates the readings now if the last update is `emitEveryMs` old, else once at the end of the interval. */
  private scheduleUpdate(now: number): void {
    if (this.pending) return;
    const wait = this.lastEmitAt + this.emitEveryMs - now;
    if (wait <= 0) {
      this.update(now);
      return;
    }
    this.pending = this.scheduler.schedule(() => {
      this.pending = undefined;
      this.update(this.scheduler.now());
    }, wait);
  }

  private update(now: number): void {
    this.lastEmitAt = now;
    this.prune(now);
    this.emit({ 'inference.p50Ms': this.p50Reading(), 'inference.slowdown': this.slowdownReading() });
  }

  private cancelUpdate(): void {
    this.pending?.unsubscribe();
    this.pending = undefined;
  }

  private prune(now: number): void {
    const from = now - this.windowMs;
    let drop = Math.max(0, this.samples.length - this.maxSamples);
    while (drop < this.samples.length && (this.samples[drop] as Sample).at < from) drop++;
    if (drop > 0) this.samples = this.samples.slice(drop);
  }

  /** The median observed time of the latest run's stitch (and only that stitch) over the window. */
  private p50Reading(): Reading {
    const stitch = this.samples.at(-1)?.stitch;
    const times = this.samples.filter((s) => s.stitch === stitch).map((s) => s.ms);
    return times.length >= this.minSamples ? okReading(median(times)) : missingReading('unavailable');
  }

  private startWarmup(at: number): void {
    this.warmupLeft = this.warmupRuns;
    this.warmupUntil = at + this.warmupMs;
  }

  private slowdownReading(): Reading {
    const ratios = this.samples.flatMap((s) => (s.ratio === undefined ? [] : [s.ratio]));
    return ratios.length >= this.minSamples ? okReading(median(ratios)) : missingReading('unavailable');
  }
}
