/**
 * A scheduler whose clock runs `speed` times faster than the wall clock: a 40-minute trace, its
 * smoothing and the profile's dwell and delays play out in 20 seconds, all in proportion.
 */
import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';

/**
 * Wraps `base` (default `asyncScheduler`): `now()` is `speed` × the time since creation, and every
 * delay, including the ones an action asks for when it reschedules itself, is divided by `speed`.
 */
export function scaledScheduler(speed: number, base: SchedulerLike = asyncScheduler): SchedulerLike {
  const origin = base.now();
  const scaled: SchedulerLike = {
    now: () => (base.now() - origin) * speed,
    schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription {
      return base.schedule<T>(
        function (this: SchedulerAction<T>, s?: T) {
          // The action as the work sees it: rescheduling goes through the scaled delay too.
          const view = new Proxy(this, {
            get(action, prop) {
              if (prop === 'schedule') return (next?: T, d = 0) => action.schedule(next, d / speed);
              const value: unknown = Reflect.get(action, prop, action);
              return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(action) : value;
            },
          });
          work.call(view, s);
        },
        delay / speed,
        state,
      );
    },
  };
  return scaled;
}
