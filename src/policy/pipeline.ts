/**
 * The policy as a stream: device states and profiles in, decisions and stitch switches out.
 */
import { asyncScheduler, combineLatest, scan, shareReplay, type Observable, type SchedulerLike } from 'rxjs';
import type { Profile } from '../profiles/schema.js';
import type { DeviceState } from '../signals/state.js';
import type { StitchCatalog } from './catalog.js';
import { decide, type Decision, type PolicyContext } from './decide.js';
import { switchingDiscipline, type StitchSwitch } from './switching.js';

/** Options of {@link decide$}. */
export interface DecideStreamOptions {
  /**
   * Read before every decision: the provider and batch size in use (for latency profiles) and the
   * active stitch. Without `current`, the previous decision's stitch is used.
   */
  context?: () => Omit<PolicyContext, 'held'>;
}

/**
 * One decision per device state (and per profile change), made by {@link decide}. The rules that
 * matched in the previous decision are passed on as `held`, which gives the hysteresis. Both
 * inputs must have emitted once before the first decision.
 */
export function decide$(
  state$: Observable<DeviceState>,
  profile$: Observable<Profile>,
  catalog: StitchCatalog,
  options: DecideStreamOptions = {},
): Observable<Decision> {
  return combineLatest([state$, profile$]).pipe(
    scan<[DeviceState, Profile], Decision, undefined>((previous, [state, profile]) => {
      const cx = options.context?.() ?? {};
      return decide(state, profile, catalog, {
        ...cx,
        current: cx.current ?? previous?.stitch,
        held: previous?.reason.rules.map((r) => r.name),
      });
    }, undefined),
  );
}

/** Inputs of {@link policyLoop}. */
export interface PolicyLoopInputs extends DecideStreamOptions {
  state$: Observable<DeviceState>;
  profile$: Observable<Profile>;
  catalog: StitchCatalog;
  /** Scheduler of the switching waits. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
  /** The stitch already active, if any (see {@link switchingDiscipline}). */
  active?: number | undefined;
}

/** The two streams of the adaptive loop. */
export interface PolicyLoop {
  /** Every decision; shared, and replays the latest to late subscribers. */
  decisions$: Observable<Decision>;
  /** The switches to make, after the switching discipline. Subscribing drives the whole loop. */
  switches$: Observable<StitchSwitch>;
}

/**
 * Wires state → decisions → switches. The runtime subscribes to `switches$` and activates
 * `switch.to` for each; `decisions$` can be exposed as is.
 *
 * ```ts
 * const { decisions$, switches$ } = policyLoop({ state$, profile$, catalog });
 * switches$.subscribe((s) => runtime.setStitch(s.to));
 * ```
 */
export function policyLoop(inputs: PolicyLoopInputs): PolicyLoop {
  const decisions$ = decide$(inputs.state$, inputs.profile$, inputs.catalog, inputs).pipe(shareReplay({ bufferSize: 1, refCount: true }));
  const switches$ = decisions$.pipe(switchingDiscipline(inputs.catalog, { scheduler: inputs.scheduler ?? asyncScheduler, active: inputs.active }));
  return { decisions$, switches$ };
}
