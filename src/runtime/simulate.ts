/**
 * A recorded trace replayed through the real policy in virtual time, and what came of it: the
 * switches, the time spent on each stitch and the time spent over budget.
 */
import { replayPolicy, unmetLimits, type Decision, type PolicyReplay, type StitchCatalog, type StitchSwitch } from '../policy/index.js';
import type { Profile } from '../profiles/index.js';
import { deviceState$, traceSource, type Trace } from '../signals/index.js';

/** Inputs of {@link simulate}. */
export interface SimulationInputs {
  trace: Trace;
  profile: Profile;
  catalog: StitchCatalog;
  /** Provider whose latency profile applies (default: the policy's choice). */
  provider?: string | undefined;
  /** Batch size whose latency profile applies (default 1). */
  batch?: number | undefined;
}

/** The outcome of a simulation. Times are ms from the start of the trace. */
export interface Simulation {
  replay: PolicyReplay;
  /** The end of the simulated span: the last row, or a switch played out after it. */
  endMs: number;
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

/** The last element of `list` with `at ≤ t`, given `list` sorted by `at`. */
function lastAt<T extends { at: number }>(list: readonly T[], t: number): T | undefined {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as T).at <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? list[lo - 1] : undefined;
}

/** Replays `trace` through the signal pipeline (with the profile's smoothing), the engine and the switching discipline. */
export function simulate(inputs: SimulationInputs): Simulation {
  const { trace, profile, catalog } = inputs;
  const { smoothing, trendWindowMs } = profile.sampling;
  const context = { ...(inputs.provider !== undefined ? { provider: inputs.provider } : {}), batch: inputs.batch ?? 1 };
  const replay = replayPolicy({
    state$: (scheduler) => deviceState$([traceSource(trace)], { scheduler, smoothing, trendWindowMs }),
    profile,
    catalog,
    context: () => context,
  });
  const { decisions, switches } = replay;
  const endMs = Math.max(trace.rows.at(-1)?.tMs ?? 0, switches.at(-1)?.at ?? 0);
  const times = [...new Set([...decisions.map((d) => d.at), ...switches.map((s) => s.at), endMs])].sort((a, b) => a - b);

  const perStitch = new Map<number, number>();
  for (const s of switches) if (!perStitch.has(s.to)) perStitch.set(s.to, 0);
  let overBudgetMs = 0;
  let outOfLimitsMs = 0;
  const spans: [number, number][] = [];
  for (let k = 0; k + 1 < times.length; k++) {
    const from = times[k] as number;
    const span = (times[k + 1] as number) - from;
    const active: StitchSwitch | undefined = lastAt(switches, from);
    const decision: Decision | undefined = lastAt(decisions, from);
    if (active) perStitch.set(active.to, (perStitch.get(active.to) ?? 0) + span);
    if (!decision) continue;
    if (decision.reason.overBudget) {
      overBudgetMs += span;
      const open = spans.at(-1);
      if (open && open[1] === from) open[1] = from + span;
      else spans.push([from, from + span]);
    }
    const stitch = active && catalog.stitches.get(active.to);
    if (stitch) {
      const check = { catalog, limits: decision.limits, provider: decision.reason.latencyProvider, batch: context.batch, slowdown: decision.reason.slowdown };
      if (unmetLimits(stitch, check).length > 0) outOfLimitsMs += span;
    }
  }
  return {
    replay,
    endMs,
    timePerStitch: [...perStitch].map(([stitch, ms]) => ({ stitch, ms })),
    overBudgetMs,
    overBudgetSpans: spans,
    outOfLimitsMs,
  };
}
