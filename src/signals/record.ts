/**
 * Recording what the policy sees, as a trace CSV that `simulate` (or `traceSource`) replays: the
 * raw readings of every source (before smoothing, which the replay applies again), inference
 * timings included.
 */
import { isObservable, Observable, Subject, tap, type SchedulerLike } from 'rxjs';
import { describeValue } from '../base/describe.js';
import { OptionError } from '../errors.js';
import { isSignalName, SIGNAL_NAMES, signalNameHint } from './names.js';
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
 * The columns of a recording: `options.signals` when each is a signal name, listed once (a column
 * the replay could not read would make the whole file unusable), else every built-in signal.
 *
 * @throws OptionError `OPTION_INVALID` naming the option `signals`
 */
export function recordedSignals(options: RecordOptions | undefined): readonly string[] {
  const signals: unknown = options?.signals;
  if (signals === undefined) return SIGNAL_NAMES;
  const invalid = (message: string) =>
    new OptionError('OPTION_INVALID', message, {
      option: 'signals',
      validValues: SIGNAL_NAMES,
      hint: signalNameHint(),
    });
  if (!Array.isArray(signals) || signals.length === 0)
    throw invalid(`record's signals must be a non-empty list of signal names, got ${describeValue(signals)}`);
  const seen = new Set<string>();
  for (const name of signals as unknown[]) {
    if (typeof name !== 'string' || !isSignalName(name))
      throw invalid(`record's signals: ${describeValue(name)} is not a signal name`);
    if (seen.has(name)) throw invalid(`record's signals list "${name}" twice`);
    seen.add(name);
  }
  return signals as readonly string[];
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
    const signals = recordedSignals(options);
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
