/**
 * Replaying device states through the real policy in virtual time: what `stitchnet simulate`
 * and the test helpers use to see which switches a profile makes on a recorded trace.
 */
import { of, VirtualAction, VirtualTimeScheduler, type Observable, type SchedulerLike } from 'rxjs';
import type { Profile } from '../profiles/schema.js';
import type { DeviceState } from '../signals/state.js';
import type { StitchCatalog } from './catalog.js';
import type { Decision, PolicyContext } from './decide.js';
import { policyLoop } from './pipeline.js';
import type { StitchSwitch } from './switching.js';

/** Inputs of {@link replayPolicy}. */
export interface PolicyReplayInputs {
  /**
   * Builds the device states on the scheduler it is given (a virtual-time one), e.g.
   * `(scheduler) => deviceState$([traceSource(trace)], { scheduler })`. Every time-based operator
   * inside must use that scheduler.
   */
  state$: (scheduler: SchedulerLike) => Observable<DeviceState>;
  profile: Profile;
  catalog: StitchCatalog;
  /** Provider and batch for latency profiles. */
  context?: () => Omit<PolicyContext, 'held'>;
}

/** What {@link replayPolicy} observed, in order. */
export interface PolicyReplay {
  states: DeviceState[];
  decisions: Decision[];
  switches: StitchSwitch[];
}

/**
 * Runs the states through the engine and the switching discipline on a `VirtualTimeScheduler`:
 * a day-long trace takes milliseconds and the result is the same on every run. Switches still
 * pending after the last state (an upgrade waiting out its delay) are played out. Times are ms
 * from the start of the replay.
 */
export function replayPolicy(inputs: PolicyReplayInputs): PolicyReplay {
  const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
  const state$ = inputs.state$(scheduler);
  const out: PolicyReplay = { states: [], decisions: [], switches: [] };
  const loop = policyLoop({ state$, profile$: of(inputs.profile), catalog: inputs.catalog, scheduler, context: inputs.context });
  const subs = [state$.subscribe((s) => out.states.push(s)), loop.decisions$.subscribe((d) => out.decisions.push(d)), loop.switches$.subscribe((s) => out.switches.push(s))];
  scheduler.flush();
  for (const s of subs) s.unsubscribe();
  return out;
}
