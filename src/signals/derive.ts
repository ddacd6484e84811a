/**
 * Derived readings (EMA smoothing, temperature trend) and the composition of sources into one
 * `Observable<DeviceState>`.
 */
import {
  asyncScheduler,
  defer,
  map,
  merge,
  scan,
  shareReplay,
  type Observable,
  type OperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import type { SignalError } from '../errors.js';
import { isolatedReadings } from './isolate.js';
import { DEFAULT_SAMPLING } from './options.js';
import type { SignalSource } from './source.js';
import {
  missingReading,
  okReading,
  stateFromReadings,
  type DeviceState,
  type Reading,
  type SignalPatch,
} from './state.js';

/** One EMA step: `alpha` is the weight of the new sample (1 = no smoothing). */
export function emaStep(previous: number | undefined, sample: number, alpha: number): number {
  return previous === undefined ? sample : alpha * sample + (1 - alpha) * previous;
}

/** Exponential moving average of a number stream; the first output is the first input. */
export function ema(alpha: number): OperatorFunction<number, number> {
  return scan<number, number, undefined>((s, v) => emaStep(s, v, alpha), undefined);
}

/** A timestamped sample. */
export interface TimedSample {
  readonly t: number;
  readonly v: number;
}

/**
 * Least-squares slope of `points`, in units per minute (°C/min for temperatures), or `undefined`
 * with fewer than two distinct times.
 */
export function slopePerMinute(points: readonly TimedSample[]): number | undefined {
  const n = points.length;
  if (n < 2) return undefined;
  let st = 0;
  let sv = 0;
  for (const p of points) {
    st += p.t;
    sv += p.v;
  }
  const mt = st / n;
  const mv = sv / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.v - mv);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? undefined : (num / den) * 60_000;
}

/**
 * The trend of the samples in the last `windowMs` before `now`, or `undefined` while they span less
 * than half the window (a slope over a second or two of a noisy sensor means nothing).
 */
export function windowTrend(samples: readonly TimedSample[], now: number, windowMs: number): number | undefined {
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || last.t - first.t < windowMs / 2) return undefined;
  return slopePerMinute(samples.filter((p) => p.t > now - windowMs));
}

/**
 * Trend of a number stream in units per minute over the last `windowMs` of samples (by the
 * scheduler's clock); `undefined` until the samples span half the window.
 */
export function trend(
  windowMs: number,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<number, number | undefined> {
  return (source) =>
    defer(() => {
      let window: TimedSample[] = [];
      return source.pipe(
        map((v) => {
          const t = scheduler.now();
          window = [...window.filter((p) => p.t > t - windowMs), { t, v }];
          return windowTrend(window, t, windowMs);
        }),
      );
    });
}

/** Options of {@link deviceState$}; the names match a profile's `sampling` block. */
export interface DeviceStateOptions {
  /** Scheduler for every time-based operator and for the snapshot clock. Default: `asyncScheduler`. */
  scheduler?: SchedulerLike;
  /** EMA weight of the newest sample per signal (0 < α ≤ 1). Signals not listed are not smoothed. */
  smoothing?: Readonly<Record<string, number>>;
  /** Window of the temperature-trend regression, ms. */
  trendWindowMs?: number;
  /**
   * Receives the failure of a source (reported once per source and kind of failure): it threw,
   * returned something that is not an Observable, errored, or sent a malformed or implausible
   * reading. Only that source's signals degrade either way. Default: failures are not reported.
   */
  onSourceError?: ((error: SignalError) => void) | undefined;
}

/**
 * A source with its precedence: for each signal, the reading in force comes from the source of
 * the highest precedence that has reported that signal (whatever its quality); among equals, the
 * latest reading wins. A plain source has precedence 0.
 */
export interface RankedSource {
  readonly source: SignalSource;
  readonly precedence: number;
}

/** Precedence of the sources an application adds (its `ManualSource`, its own) over the system ones. */
export const APP_SOURCE_PRECEDENCE = 1;

const TREND = 'thermal.trendCPerMin';
const TEMPERATURES = ['thermal.cpuC', 'thermal.gpuC'] as const;

/**
 * The stateful fold from patches to flat readings: applies EMA to the configured signals and
 * derives the temperature trend (from the CPU temperature, or the GPU temperature where the CPU has
 * none). A source that reports the trend itself (a trace, the manual source) overrides the
 * derivation from then on.
 */
export class ReadingsFolder {
  private readonly readings: Record<string, Reading> = {};
  /** The precedence of the source each signal's reading in force came from. */
  private readonly owners = new Map<string, number>();
  private readonly averages = new Map<string, number>();
  private readonly windows: Record<(typeof TEMPERATURES)[number], TimedSample[]> = {
    'thermal.cpuC': [],
    'thermal.gpuC': [],
  };
  private trendProvided = false;
  private readonly smoothing: Readonly<Record<string, number>>;
  private readonly trendWindowMs: number;

  constructor(options: Pick<DeviceStateOptions, 'smoothing' | 'trendWindowMs'> = {}) {
    this.smoothing = options.smoothing ?? DEFAULT_SAMPLING.smoothing;
    this.trendWindowMs = options.trendWindowMs ?? DEFAULT_SAMPLING.trendWindowMs;
  }

  /**
   * Applies one patch at scheduler time `at` from a source of the given precedence and returns
   * the snapshot. A reading of a signal that a source of higher precedence has reported is ignored.
   */
  fold(patch: SignalPatch, at: number, precedence = 0): DeviceState {
    let temperatureSeen = false;
    for (const [name, reading] of Object.entries(patch)) {
      const owner = this.owners.get(name);
      if (owner !== undefined && owner > precedence) continue;
      if (owner !== precedence) this.averages.delete(name);
      this.owners.set(name, precedence);
      if (name === TREND) this.trendProvided = true;
      const alpha = this.smoothing[name];
      let stored = reading;
      if (reading.quality === 'ok' && typeof reading.value === 'number' && alpha !== undefined) {
        const smoothed = emaStep(this.averages.get(name), reading.value, alpha);
        this.averages.set(name, smoothed);
        stored = okReading(smoothed);
      }
      this.readings[name] = stored;
      if (name === 'thermal.cpuC' || name === 'thermal.gpuC') {
        temperatureSeen = true;
        if (stored.quality === 'ok' && typeof stored.value === 'number')
          this.windows[name].push({ t: at, v: stored.value });
      }
    }
    if (temperatureSeen && !this.trendProvided) this.readings[TREND] = this.deriveTrend(at);
    return stateFromReadings(this.readings, at);
  }

  private deriveTrend(at: number): Reading {
    let slope: number | undefined;
    for (const name of TEMPERATURES) {
      const kept = this.windows[name].filter((p) => p.t > at - this.trendWindowMs);
      this.windows[name] = kept;
      slope ??= windowTrend(kept, at, this.trendWindowMs);
    }
    return slope === undefined ? missingReading('unavailable') : okReading(slope);
  }
}

/**
 * Merges `sources` into one stream of snapshots: each patch from any source yields a new
 * `DeviceState` (smoothed, with the derived trend). For the same signal, a source of higher
 * precedence wins (see {@link RankedSource}). Each source is isolated: one that throws, errors or
 * sends malformed readings degrades only its own signals (quality `error`) and is reported through
 * `onSourceError`; the stream itself never errors. The result is shared: every subscriber sees the
 * same snapshots, late subscribers get the latest one, and the sources stop when the last
 * subscriber leaves.
 */
export function deviceState$(
  sources: readonly (SignalSource | RankedSource)[],
  options: DeviceStateOptions = {},
): Observable<DeviceState> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const report = options.onSourceError ?? (() => undefined);
  return defer(() => {
    const folder = new ReadingsFolder(options);
    const ranked = sources.map((s) => (isRanked(s) ? s : { source: s, precedence: 0 }));
    const streams = ranked.map(({ source, precedence }, i) =>
      isolatedReadings(source, i, scheduler, report).pipe(map((patch) => ({ patch, precedence }))),
    );
    return merge(...streams).pipe(map(({ patch, precedence }) => folder.fold(patch, scheduler.now(), precedence)));
  }).pipe(shareReplay({ bufferSize: 1, refCount: true }));
}

function isRanked(s: SignalSource | RankedSource): s is RankedSource {
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof (s as RankedSource).precedence === 'number' &&
    typeof (s as RankedSource).source === 'object' &&
    (s as RankedSource).source !== null
  );
}
