/**
 * The switching discipline: turns the stream of decisions (what the policy wants now) into the
 * stream of switches (what the runtime should do), without flapping.
 */
import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import type { StitchCatalog } from './catalog.js';
import type { Decision } from './decide.js';

/** A change of the active stitch. */
export interface StitchSwitch {
  /** The stitch before (`undefined` for the first choice). */
  readonly from: number | undefined;
  readonly to: number;
  /** Scheduler time of the switch, ms. */
  readonly at: number;
  /** `degrade`: to a cheaper stitch; `upgrade`: to a costlier one; `initial`: the first choice. */
  readonly direction: 'initial' | 'degrade' | 'upgrade';
  /** How long a switch in this direction had been wanted when it happened, ms. */
  readonly wantedForMs: number;
  /** The decision that is applied (the latest one). */
  readonly decision: Decision;
}

/** Options of {@link switchingDiscipline}. */
export interface SwitchingOptions {
  /** Scheduler of the waits. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
  /**
   * The stitch already active (e.g. when the discipline restarts after an unpin). The first
   * decision is then treated like any other; without it, the first decision is applied at once.
   */
  active?: number | undefined;
  /** Scheduler time of the last switch before this operator started (for the dwell). Default: none. */
  lastSwitchAt?: number | undefined;
}

/**
 * The switching discipline as an operator on decisions, following each decision's
 * `switching` block (so a reloaded profile takes effect at once):
 *
 * - a **degrade** (to a cheaper stitch) happens once it has been wanted for `degradeAfterMs`
 *   (0: at once);
 * - an **upgrade** happens only once an upgrade has been wanted continuously for `upgradeAfterMs`
 *   (any decision for the active stitch or a cheaper one resets that wait);
 * - at most one switch per `minDwellMs`: a switch that comes due earlier waits for the dwell to
 *   end, and then goes to the latest decision's stitch. (The initial choice starts no dwell: the
 *   first states are often partial, and the first correction should not wait.)
 *
 * Hysteresis on thresholds is the engine's (`PolicyContext.held`); this operator adds time.
 * Completion waits for a pending switch; errors pass through.
 */
export function switchingDiscipline(catalog: StitchCatalog, options: SwitchingOptions = {}): OperatorFunction<Decision, StitchSwitch> {
  const scheduler = options.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<StitchSwitch>((subscriber) => {
      let active = options.active;
      let lastSwitchAt = options.lastSwitchAt ?? -Infinity;
      let latest: Decision | undefined;
      let wanted: { direction: 'degrade' | 'upgrade'; since: number } | undefined;
      let pending: Subscription | undefined;
      let done = false;
      const rank = (id: number) => catalog.rank.get(id) ?? -1;

      const evaluate = (): void => {
        pending?.unsubscribe();
        pending = undefined;
        const d = latest;
        if (!d) return;
        const now = scheduler.now();
        if (active === undefined) {
          emit('initial', d, now, 0);
        } else if (d.stitch === active) {
          wanted = undefined;
        } else {
          const direction = rank(d.stitch) < rank(active) ? 'degrade' : 'upgrade';
          if (wanted?.direction !== direction) wanted = { direction, since: now };
          const hold = direction === 'degrade' ? d.switching.degradeAfterMs : d.switching.upgradeAfterMs;
          const due = Math.max(wanted.since + hold, lastSwitchAt + d.switching.minDwellMs);
          if (due <= now) emit(direction, d, now, now - wanted.since);
          else pending = scheduler.schedule(evaluate, due - now);
        }
        if (done && !pending) subscriber.complete();
      };

      const emit = (direction: StitchSwitch['direction'], d: Decision, now: number, wantedForMs: number): void => {
        const from = active;
        active = d.stitch;
        // The first choice is not a move away from anything: it starts no dwell.
        if (direction !== 'initial') lastSwitchAt = now;
        wanted = undefined;
        subscriber.next({ from, to: d.stitch, at: now, direction, wantedForMs, decision: d });
      };

      const inner = source.subscribe({
        next(d) {
          latest = d;
          evaluate();
        },
        error: (e: unknown) => subscriber.error(e),
        complete() {
          done = true;
          if (!pending) subscriber.complete();
        },
      });
      return () => {
        inner.unsubscribe();
        pending?.unsubscribe();
      };
    });
}
