/**
 * Sampling primitives: periodic probes that never overlap, time out, and degrade only their own
 * fields; and staleness marking for streams that may stop.
 */
import {
  asyncScheduler,
  catchError,
  defer,
  exhaustMap,
  map,
  of,
  timeout,
  timer,
  TimeoutError,
  Observable,
  type MonoTypeOperatorFunction,
  type Subscription,
  type ObservableInput,
  type SchedulerLike,
} from 'rxjs';
import { missingPatch, type SignalPatch } from './state.js';

/** How to poll one probe. */
export interface ProbeOptions<T> {
  /** The measurement. A Promise or an Observable; wrap Promise functions with {@link exclusive}. */
  probe: () => ObservableInput<T>;
  /** Turns the probe's result into readings. Fields the result lacks must be marked, not zeroed. */
  toPatch: (result: T) => SignalPatch;
  /** Every signal this probe produces; on a timeout or error each is reported with that quality. */
  signals: readonly string[];
  /** Time between the starts of two probes, ms. The first probe starts at once. */
  periodMs: number;
  /** A probe that has not answered after this long is reported as `timeout`. Default: 2 × `periodMs`. */
  timeoutMs?: number;
  /** Scheduler of the timer and the timeout. Default: `asyncScheduler`. */
  scheduler?: SchedulerLike;
}

/**
 * Polls `probe` every `periodMs`. While a probe is running, ticks are dropped (`exhaustMap`), so
 * probes never overlap. A probe that hangs past `timeoutMs` or fails yields a patch that marks only
 * its own signals `timeout` or `error` (value `undefined`); the stream itself never errors.
 */
export function pollProbe<T>(o: ProbeOptions<T>): Observable<SignalPatch> {
  const scheduler = o.scheduler ?? asyncScheduler;
  const timeoutMs = o.timeoutMs ?? 2 * o.periodMs;
  return timer(0, o.periodMs, scheduler).pipe(
    exhaustMap(() =>
      defer(o.probe).pipe(
        timeout({ first: timeoutMs, scheduler }),
        map((result) => o.toPatch(result)),
        catchError((e: unknown) => of(missingPatch(o.signals, e instanceof TimeoutError ? 'timeout' : 'error'))),
      ),
    ),
  );
}

/**
 * Wraps a Promise-returning function so that calls never overlap: while one call is pending,
 * further calls return that same pending Promise. A probe that timed out is therefore re-joined,
 * not started a second time, on the next tick (systeminformation calls cannot be cancelled).
 */
export function exclusive<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= fn().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

/**
 * After each patch, if no new patch arrives within `afterMs`, emits `signals` as `stale` (once).
 * For streams that may silently stop, such as a stalled `nvidia-smi` child. Completion and errors
 * pass through at once.
 */
export function markStale(
  signals: readonly string[],
  afterMs: number,
  scheduler: SchedulerLike = asyncScheduler,
): MonoTypeOperatorFunction<SignalPatch> {
  const stale = missingPatch(signals, 'stale');
  return (source) =>
    new Observable<SignalPatch>((subscriber) => {
      let pending: Subscription | undefined;
      const inner = source.subscribe({
        next(patch) {
          subscriber.next(patch);
          pending?.unsubscribe();
          pending = scheduler.schedule(() => subscriber.next(stale), afterMs);
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
      return () => {
        inner.unsubscribe();
        pending?.unsubscribe();
      };
    });
}
