/**
 * Replaying device states through the policy loop in virtual time: what `stitchnet simulate` and
 * the test helpers use to see which switches a profile makes on a recorded trace.
 */
import { of, VirtualAction, VirtualTimeScheduler, type Observable, type SchedulerLike } from 'rxjs';
import type { Profile } from '../profiles/schema.js';
import type { DeviceState } from '../signals/state.js';
import type { StitchCatalog } from './catalog.js';
import type { PolicyContext } from './decide.js';
import { policyLoop, type LoopDecision, type LoopEvent } from './loop.js';
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
  context?: (() => Pick<PolicyContext, 'provider' | 'batch'>) | undefined;
  /**
   * What to keep in the result (default: everything). A long replay that only needs the
   * switches keeps memory bounded with `{ states: false, decisions: false }` and reads the rest
   * through `onEvent`.
   */
  keep?: { states?: boolean; decisions?: boolean } | undefined;
  /** Called with every state and every event of the loop, in order. */
  onEvent?: ((e: ReplayEvent) => void) | undefined;
}

/** An event of a replay: a state the policy saw, or an event of the loop. */
export type ReplayEvent = { readonly kind: 'state'; readonly state: DeviceState } | LoopEvent;

/** What {@link replayPolicy} observed, in order. */
export interface PolicyReplay {
  states: DeviceState[];
  decisions: LoopDecision[];
  switches: StitchSwitch[];
}

/**
 * Runs the states through the policy loop on a `VirtualTimeScheduler`: a day-long trace takes
 * well under a second and the result is the same on every run. Switches still pending after the
 * last state (an upgrade waiting out its delay) are played out. Times are ms from the start of
 * the replay. Time and memory are linear in the states (bounded, with `keep` off).
 */
export function replayPolicy(inputs: PolicyReplayInputs): PolicyReplay {
  const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
  const state$ = inputs.state$(scheduler);
  const out: PolicyReplay = { states: [], decisions: [], switches: [] };
  const keepStates = inputs.keep?.states ?? true;
  const keepDecisions = inputs.keep?.decisions ?? true;
  const listen = inputs.onEvent;
  const loop = policyLoop({
    state$,
    profile$: of(inputs.profile),
    catalog: inputs.catalog,
    scheduler,
    context: inputs.context,
  });
  const subs = [
    state$.subscribe((state) => {
      if (keepStates) out.states.push(state);
      listen?.({ kind: 'state', state });
    }),
    loop.subscribe((e) => {
      if (e.kind === 'decision' && keepDecisions) out.decisions.push(e.decision);
      if (e.kind === 'switch') out.switches.push(e.change);
      listen?.(e);
    }),
  ];
  scheduler.flush();
  for (const s of subs) s.unsubscribe();
  return out;
}
