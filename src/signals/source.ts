/**
 * The contract every signal source implements.
 */
import type { Observable, SchedulerLike } from 'rxjs';
import type { SignalPatch } from './state.js';

/**
 * A producer of device readings: systeminformation, the nvidia-smi stream, a trace, the manual
 * source, the inference monitor, or your own.
 *
 * `readings(scheduler)` returns a cold Observable of partial updates; every time-based operator
 * inside it must run on the given scheduler, so that the whole pipeline can run in virtual time.
 * A source never errors for a missing or failing sensor: it reports the field with a quality flag
 * instead and keeps going. If a source does fail anyway (throws, errors, sends a malformed patch or
 * an implausible value), the pipeline isolates it: only its own signals degrade (quality `error`)
 * and the failure is reported once.
 */
export interface SignalSource {
  /** Short name for logs and error messages (`systeminformation`, `trace:laptop.csv`). */
  readonly name: string;
  /**
   * The signals this source may report, where known in advance. Optional: when a source fails
   * for good, these (and every signal it reported) are marked `error`.
   */
  readonly signals?: readonly string[] | undefined;
  /** Subscribing starts the source; unsubscribing stops it (timers, child processes). */
  readings(scheduler: SchedulerLike): Observable<SignalPatch>;
}
