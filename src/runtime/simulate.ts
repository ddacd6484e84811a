/**
 * A recorded trace replayed through the real policy in virtual time, and what came of it: the
 * switches, the time spent on each stitch and the time spent over budget.
 */
import {
  replayPolicy,
  unmetLimits,
  type Decision,
  type PolicyReplay,
  type ReplayEvent,
  type StitchCatalog,
} from '../policy/index.js';
import { resolveThreads } from '../engine/options.js';
import type { Manifest } from '../package/index.js';
import type { Profile } from '../profiles/index.js';
import { deviceState$, traceSource, type Trace } from '../signals/index.js';
import { threadsFromOrt } from './adaptive.js';
import type { DeviceLatency } from './calibration.js';
import { cachedDeviceLatency, calibrationKey } from './calibrator.js';

/**
 * This device's latency table for `provider` as a runtime created with `profile` (and no thread or
 * arena options of its own) would start from: the calibration cache's figures, `undefined` when it
 * has none. With it, `simulate` decides on the latencies the runtime decided on, so a recorded run
 * with latency limits replays to the same switches on the device that recorded it.
 */
export function profileDeviceLatency(
  manifest: Manifest,
  profile: Profile,
  provider: string,
  cacheDir?: string,
): Promise<DeviceLatency | undefined> {
  const threads = resolveThreads(threadsFromOrt(profile.ort));
  return cachedDeviceLatency(
    manifest,
    // The runtime's default mode: runs through its inference worker.
    calibrationKey(manifest, provider, threads, profile.ort.enableCpuMemArena, true),
    cacheDir,
  );
}

/** Inputs of {@link simulate}. */
export interface SimulationInputs {
  trace: Trace;
  profile: Profile;
  catalog: StitchCatalog;
  /** Provider whose latency profile applies (default: the policy's choice). */
  provider?: string | undefined;
  /** Batch size whose latency profile applies (default 1). */
  batch?: number | undefined;
  /**
   * Keep every state and decision in `replay` (default `true`; a timeline plot needs them).
   * `false` keeps only the switches: memory stays bounded on very long traces.
   */
  keep?: boolean | undefined;
}

/** The outcome of a simulation. Times are ms from the start of the trace. */
export interface Simulation {
  replay: PolicyReplay;
  /** The end of the simulated span: the last row, or a switch played out after it. */
  endMs: number;
  /** How many decisions the policy made (kept in `replay.decisions` only with `keep`). */
  decisions: number;
  /** Time on each stitch, from its switch to the next one (or the end), in order of first use. */
  timePerStitch: { stitch: number; ms: number }[];
  /** Time during which no stitch met every limit (the decision was flagged over budget). */
  overBudgetMs: number;
  /** The over-budget spans, `[from, to)`. */
  overBudgetSpans: [number, number][];
  /**
   * Time during which the active stitch missed a limit in force: over budget, or a degrade
   * waiting out the dwell.
   */
  outOfLimitsMs: number;
}

/** Folds the replay's events into time per stitch and time over budget, in one pass. */
class Accounting {
  readonly perStitch = new Map<number, number>();
  readonly spans: [number, number][] = [];
  overBudgetMs = 0;
  outOfLimitsMs = 0;
  decisions = 0;
  private t = 0;
  private active: number | undefined;
  private decision: Decision | undefined;

  constructor(
    private readonly catalog: StitchCatalog,
    private readonly batch: number,
  ) {}

  on(e: ReplayEvent): void {
    if (e.kind === 'state' || e.kind === 'control') return;
    this.advance(e.kind === 'decision' ? e.decision.at : e.change.at);
    if (e.kind === 'decision') {
      this.decision = e.decision;
      this.decisions++;
    } else {
      this.active = e.change.to;
      if (!this.perStitch.has(e.change.to)) this.perStitch.set(e.change.to, 0);
    }
  }

  /** Accounts the span from the last event to `to` to the active stitch and the latest decision. */
  advance(to: number): void {
    const from = this.t;
    const span = to - from;
    if (span <= 0) return;
    this.t = to;
    if (this.active !== undefined) this.perStitch.set(this.active, (this.perStitch.get(this.active) ?? 0) + span);
    const decision = this.decision;
    if (!decision) return;
    if (decision.reason.overBudget) {
      this.overBudgetMs += span;
      const open = this.spans.at(-1);
      if (open && open[1] === from) open[1] = to;
      else this.spans.push([from, to]);
    }
    const stitch = this.active === undefined ? undefined : this.catalog.stitches.get(this.active);
    if (stitch) {
      const check = {
        catalog: this.catalog,
        limits: decision.limits,
        provider: decision.reason.latencyProvider,
        batch: this.batch,
        slowdown: decision.reason.slowdown,
      };
      if (unmetLimits(stitch, check).length > 0) this.outOfLimitsMs += span;
    }
  }
}

/**
 * Replays `trace` through the signal pipeline (with the profile's smoothing) and the policy loop
 * — the same loop the runtime runs — in virtual time. One pass, linear in the rows; with
 * `keep: false` the memory is bounded too (a million rows run in seconds).
 */
export function simulate(inputs: SimulationInputs): Simulation {
  const { trace, profile, catalog } = inputs;
  const { smoothing, trendWindowMs } = profile.sampling;
  const batch = inputs.batch ?? 1;
  const context = { ...(inputs.provider !== undefined ? { provider: inputs.provider } : {}), batch };
  const accounting = new Accounting(catalog, batch);
  const keep = inputs.keep ?? true;
  const replay = replayPolicy({
    state$: (scheduler) => deviceState$([traceSource(trace)], { scheduler, smoothing, trendWindowMs }),
    profile,
    catalog,
    context: () => context,
    keep: { states: keep, decisions: keep },
    onEvent: (e) => accounting.on(e),
  });
  const endMs = Math.max(trace.rows.at(-1)?.tMs ?? 0, replay.switches.at(-1)?.at ?? 0);
  accounting.advance(endMs);
  return {
    replay,
    endMs,
    decisions: accounting.decisions,
    timePerStitch: [...accounting.perStitch].map(([stitch, ms]) => ({ stitch, ms })),
    overBudgetMs: accounting.overBudgetMs,
    overBudgetSpans: accounting.spans,
    outOfLimitsMs: accounting.outOfLimitsMs,
  };
}
