/**
 * THE policy loop: device states, profiles and the app's control input in; decisions and changes
 * of the active stitch out. The runtime, `simulate` and the testing replay all run this one
 * function, so they cannot disagree on the same readings.
 */
import { asyncScheduler, EMPTY, Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { Profile } from '../profiles/schema.js';
import type { DeviceState } from '../signals/state.js';
import type { StitchCatalog } from './catalog.js';
import { decide, type Decision, type PolicyContext } from './decide.js';
import { Switcher, type StitchSwitch, type SwitchHold, type SwitchStep } from './switching.js';

/**
 * What the app says to the loop: `manual` (`setStitch`: a one-off switch, the policy may move on
 * after its dwell), `pin` (hold a stitch: decisions go on, switches stop) and `unpin` (the latest
 * decision applies at once).
 */
export type ControlInput =
  | { readonly kind: 'manual'; readonly stitch: number }
  | { readonly kind: 'pin'; readonly stitch: number }
  | { readonly kind: 'unpin' };

/** A change of the active stitch the app asked for. */
export interface ControlChange {
  readonly from: number | undefined;
  readonly to: number;
  readonly at: number;
  readonly cause: 'manual' | 'pin';
}

/** A decision as the loop emits it: with what holds its stitch back, if anything. */
export interface LoopDecision extends Decision {
  /** Why the decision's stitch is not active after it (dwell, upgrade wait, backoff, pin); absent otherwise. */
  readonly hold: SwitchHold | undefined;
}

/** One event of the loop, in the order they happen. */
export type LoopEvent =
  | { readonly kind: 'decision'; readonly decision: LoopDecision }
  | { readonly kind: 'switch'; readonly change: StitchSwitch }
  | { readonly kind: 'control'; readonly change: ControlChange };

/** Inputs of {@link policyLoop}. */
export interface PolicyLoopInputs {
  /** Device states. Subscribed once a profile is in force. */
  state$: Observable<DeviceState>;
  /** The profile in force; `undefined` (or never emitting): no policy, only the control input moves the stitch. */
  profile$: Observable<Profile | undefined>;
  /** The package's catalog; `undefined`: no policy (a package without cost figures). */
  catalog: StitchCatalog | undefined;
  /** The app's control input. */
  control$?: Observable<ControlInput> | undefined;
  /** Scheduler of every wait, and the clock of decisions made without a reading. Default `asyncScheduler`. */
  scheduler?: SchedulerLike | undefined;
  /** Read before every decision: the provider and batch size in use (for latency limits). */
  context?: (() => Pick<PolicyContext, 'provider' | 'batch'>) | undefined;
  /** The stitch active when the loop starts (`undefined`: none). The first decision applies at once either way. */
  active?: number | undefined;
}

/** A state with no reading at all, at `at`: the policy then decides from the profile alone. */
export function emptyState(at: number): DeviceState {
  const none = undefined;
  return {
    at,
    battery: { percent: none, charging: none, minutesLeft: none },
    thermal: { cpuC: none, gpuC: none, trendCPerMin: none },
    gpu: { utilization: none, memoryUsedMB: none, powerW: none },
    cpu: { load: none },
    memory: { availableMB: none },
    inference: { p50Ms: none, slowdown: none },
    app: {},
    quality: {},
  };
}

/**
 * The loop. It owns the active stitch: it starts on `inputs.active`, and only its `switch` and
 * `control` events change it. Decisions are made
 *
 * - at once when a profile arrives (the first one, `setProfile`, a hot reload), on the latest
 *   state — or, before any reading exists, on a state with every signal unavailable, so the
 *   profile alone decides;
 * - on every new state;
 * - with the active stitch as `current` and the previous decision's rules as `held` (hysteresis).
 *
 * Each decision goes through the {@link Switcher} (dwell, smoothed upgrade wait, backoff of
 * failed upgrades). Waits run on `scheduler`. Subscribing runs the loop; the sources stop when
 * the subscriber leaves. Errors of `state$` or `profile$` pass through.
 */
export function policyLoop(inputs: PolicyLoopInputs): Observable<LoopEvent> {
  const scheduler = inputs.scheduler ?? asyncScheduler;
  return new Observable<LoopEvent>((subscriber) => {
    const switcher = new Switcher(inputs.catalog ?? emptyCatalog, { active: inputs.active, free: true });
    let profile: Profile | undefined;
    let state: DeviceState | undefined;
    let previous: Decision | undefined;
    let pending: Subscription | undefined;
    let states: Subscription | undefined;
    const subs: Subscription[] = [];

    const apply = (step: SwitchStep): void => {
      pending?.unsubscribe();
      pending = undefined;
      if (step.switch && step.switch.to !== step.switch.from) subscriber.next({ kind: 'switch', change: step.switch });
      if (step.recheckAt !== undefined) {
        // Scheduled from here, not from inside an action: waits never nest, however long the run.
        pending = scheduler.schedule(
          () => apply(switcher.tick(scheduler.now())),
          Math.max(0, step.recheckAt - scheduler.now()),
        );
      }
    };

    const decideNow = (s: DeviceState, provisional: boolean): void => {
      const catalog = inputs.catalog;
      if (!profile || !catalog) return;
      const d = decide(s, profile, catalog, {
        ...inputs.context?.(),
        current: switcher.active,
        held: previous?.reason.rules.map((r) => r.name),
      });
      previous = d;
      const step = switcher.decide(d, scheduler.now(), provisional);
      subscriber.next({ kind: 'decision', decision: { ...d, hold: step.hold } });
      apply(step);
    };

    const control = (c: ControlInput): void => {
      const now = scheduler.now();
      const from = switcher.active;
      if (c.kind === 'unpin') {
        apply(switcher.unpin(now));
        return;
      }
      // Whatever the policy was waiting for restarts from the new stitch.
      pending?.unsubscribe();
      pending = undefined;
      let step: SwitchStep = {};
      if (c.kind === 'pin') switcher.pin(c.stitch, now);
      else step = switcher.manual(c.stitch, now);
      if (switcher.active !== from)
        subscriber.next({ kind: 'control', change: { from, to: c.stitch, at: now, cause: c.kind } });
      apply(step);
    };

    const onProfile = (p: Profile | undefined): void => {
      profile = p;
      if (!p || !inputs.catalog) return;
      decideNow(state ? { ...state, at: scheduler.now() } : emptyState(scheduler.now()), state === undefined);
      states ??= inputs.state$.subscribe({
        next: (s) => {
          state = s;
          decideNow(s, false);
        },
        error: (e: unknown) => subscriber.error(e),
      });
    };

    subs.push((inputs.control$ ?? EMPTY).subscribe({ next: control, error: (e: unknown) => subscriber.error(e) }));
    subs.push(inputs.profile$.subscribe({ next: onProfile, error: (e: unknown) => subscriber.error(e) }));
    return () => {
      for (const s of subs) s.unsubscribe();
      states?.unsubscribe();
      pending?.unsubscribe();
    };
  });
}

/** The catalog of a loop without a policy: only the control input moves the stitch. */
const emptyCatalog: StitchCatalog = {
  stitches: new Map(),
  frontier: [],
  byCost: [],
  rank: new Map(),
  maxMacs: 0,
  providers: [],
};
