/**
 * Recording what the policy sees, as a trace CSV that `simulate` (or `traceSource`) replays: the
 * raw readings of every source (before smoothing, which the replay applies again), inference
 * timings included.
 */
import { isObservable, Observable, Subject, tap, type SchedulerLike } from 'rxjs';
import { SIGNAL_NAMES } from './names.js';
import type { SignalSource } from './source.js';
import type { Reading, SignalPatch } from './state.js';

/** Options of a recording. */
export interface RecordOptions {
  /**
   * The columns. Default: every built-in signal; application signals (`app.*`) are recorded only
   * when listed here.
   */
  signals?: readonly string[] | undefined;
}

/** One update: the scheduler time and the readings that changed. */
interface Update {
  readonly at: number;
  readonly patch: SignalPatch;
}

function cell(r: Reading | undefined): string {
  if (r === undefined) return '';
  return r.quality === 'ok' && r.value !== undefined ? String(r.value) : 'NA';
}

/** The header line of a trace CSV with these columns. */
export function traceCsvHeader(signals: readonly string[]): string {
  return `t_ms,${signals.join(',')}\n`;
}

/** One row of a trace CSV: `tMs` and the readings in `patch` (an empty cell keeps the previous reading). */
export function traceCsvRow(tMs: number, patch: SignalPatch, signals: readonly string[]): string {
  return `${Math.round(tMs * 1000) / 1000},${signals.map((n) => cell(patch[n])).join(',')}\n`;
}

/**
 * Taps every source's readings and turns them into trace CSV lines on demand. Keeps only the
 * latest reading of each signal (so that a recording started late begins with the full picture).
 */
export class TraceRecorder {
  private readonly updates = new Subject<Update>();
  private readonly latest: Record<string, Reading> = {};
  private t0 = 0;

  /** Times of the recording are ms since `at` (scheduler time). */
  start(at: number): void {
    this.t0 = at;
  }

  /** `source`, with every patch it emits noted. */
  tap(source: SignalSource, scheduler: SchedulerLike): SignalSource {
    const note = (patch: SignalPatch) => {
      if (patch === null || typeof patch !== 'object') return;
      Object.assign(this.latest, patch);
      if (this.updates.observed) this.updates.next({ at: scheduler.now(), patch });
    };
    return {
      ...source,
      name: source.name,
      readings: (s) => {
        // A source that does not return an Observable is left as it is, for the isolation to report.
        const readings = source.readings(s);
        return isObservable(readings) ? readings.pipe(tap(note)) : readings;
      },
    };
  }

  /** The recording from now on: the header, a row with the latest readings, then a row per update. */
  lines(scheduler: SchedulerLike, options: RecordOptions = {}): Observable<string> {
    const signals = options.signals ?? SIGNAL_NAMES;
    return new Observable<string>((subscriber) => {
      subscriber.next(traceCsvHeader(signals));
      if (Object.keys(this.latest).length > 0)
        subscriber.next(traceCsvRow(scheduler.now() - this.t0, this.latest, signals));
      return this.updates.subscribe({
        next: (u) => {
          if (signals.some((n) => u.patch[n] !== undefined))
            subscriber.next(traceCsvRow(u.at - this.t0, u.patch, signals));
        },
        complete: () => subscriber.complete(),
      });
    });
  }

  /** Ends every recording. */
  complete(): void {
    this.updates.complete();
  }
}
