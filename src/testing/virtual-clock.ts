/**
 * A virtual clock for tests that drive a whole runtime (or any code that takes an RxJS scheduler)
 * step by step, while awaiting real promises in between — which `TestScheduler.run` cannot do.
 */
import { VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { OptionError } from '../errors.js';

/**
 * Virtual time you advance by hand. Pass {@link VirtualClock.scheduler} as the `scheduler` of
 * `StitchRuntime.create` (or of `deviceState$`, `policyLoop`, …); nothing runs until you call
 * {@link VirtualClock.advanceTo} or {@link VirtualClock.advanceBy}, which run every action due
 * by then, in time order, with `scheduler.now()` reading the action's time.
 *
 * ```ts
 * const clock = new VirtualClock();
 * const rt = await StitchRuntime.create({ model, profile, systemSource: fake, scheduler: clock.scheduler });
 * clock.advanceTo(60_000);   // a minute of signals, decisions and switches, instantly
 * await rt.run(input);
 * ```
 */
export class VirtualClock {
  readonly scheduler: VirtualTimeScheduler;

  constructor(start = 0) {
    this.scheduler = new VirtualTimeScheduler(VirtualAction, start);
    this.scheduler.frame = start;
  }

  /** The current virtual time, ms. */
  get now(): number {
    return this.scheduler.now();
  }

  /** Actions still scheduled (timers that would fire later); 0 once everything was torn down. */
  get pending(): number {
    return this.scheduler.actions.length;
  }

  /** Runs everything due up to `ms` (inclusive) and leaves the clock at `ms`. */
  advanceTo(ms: number): void {
    if (!(ms >= this.now)) {
      throw new OptionError('OPTION_INVALID', `Cannot move a virtual clock back from ${this.now} to ${ms}`, {
        option: 'ms',
        hint: 'Advance to a time at or after now',
      });
    }
    this.scheduler.maxFrames = ms;
    this.scheduler.flush();
    this.scheduler.frame = ms;
  }

  /** Runs everything due in the next `ms` and leaves the clock `ms` later. */
  advanceBy(ms: number): void {
    this.advanceTo(this.now + ms);
  }
}
