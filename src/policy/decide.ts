/**
 * The decision engine: a pure, synchronous function from (device state, profile, stitch catalog,
 * context) to the stitch to use, the limits in force and the reason.
 */
import type { LimitName, Limits, Profile, Switching } from '../profiles/schema.js';
import type { DeviceState } from '../signals/state.js';
import { stitchLatency, type CatalogStitch, type LatencySource, type StitchCatalog } from './catalog.js';
import { compileRules, evaluateRule, readReading, type MatchedReading } from './conditions.js';

/** What the engine needs to know besides the state, the profile and the catalog. */
export interface PolicyContext {
  /** The stitch in use: preferred among equally good ones, and named in the reason. */
  readonly current?: number | undefined;
  /**
   * Names of the rules that matched in the previous decision. Their thresholds are relaxed by the
   * hysteresis margin, so a rule keeps matching until its reading is past the threshold by it.
   */
  readonly held?: readonly string[] | undefined;
  /** The execution provider in use; its latency profile applies (default: the first allowed by the limits, else `cpu`). */
  readonly provider?: string | undefined;
  /** Batch size of the runs; its latency profile applies. Default 1. */
  readonly batch?: number | undefined;
}

/** Limits in force after combining the profile's defaults with every matching rule. */
export interface EffectiveLimits {
  readonly maxCostFraction?: number;
  readonly maxMacs?: number;
  readonly maxLatencyMs?: number;
  readonly minAccuracy?: number;
  /** Providers allowed, in order of preference (the runtime's job to apply). */
  readonly provider?: readonly string[];
  /** Stitch ids allowed (instead of the frontier). */
  readonly stitches?: readonly number[];
}

/** A rule that matched, with the readings that made it match. */
export interface MatchedRule {
  readonly name: string;
  readonly readings: readonly MatchedReading[];
  /** The limits it asks for. */
  readonly limit: Limits;
  /** True when it matched only thanks to the hysteresis margin. */
  readonly held: boolean;
}

/** Why the engine chose what it chose. */
export interface DecisionReason {
  /** Every matching rule, in profile order. */
  readonly rules: readonly MatchedRule[];
  /** For each limit in force, where it came from: `limits` (the profile's defaults) or a rule name. */
  readonly limitSources: Readonly<Partial<Record<LimitName, string>>>;
  /** No candidate meets every limit: the cheapest one was chosen. */
  readonly overBudget: boolean;
  /** The limits the chosen stitch does not meet (empty unless over budget). */
  readonly unmet: readonly LimitName[];
  /** Signals the rules read that had no reading. */
  readonly unavailable: readonly string[];
  /** Factor applied to profiled latencies (the observed slowdown; 1 when unknown). */
  readonly slowdown: number;
  /** Provider whose latency profile was used. */
  readonly latencyProvider: string | undefined;
  /**
   * Where the chosen stitch's latency figure came from: `device` (this device's calibration),
   * `predicted` (this device's, estimated from the stitches measured on it), `package` (the build
   * machine's figure, the fallback); `undefined` when there is none.
   */
  readonly latencySource: LatencySource | undefined;
  /** Candidates that meet every limit, cheapest first. */
  readonly feasible: readonly number[];
  /** The decision in one line, for logs and events. */
  readonly summary: string;
}

/** One decision of the engine. */
export interface Decision {
  /** Time of the state it was made on, ms. */
  readonly at: number;
  /** The stitch to use. */
  readonly stitch: number;
  /** The stitch in use when it was made (from the context). */
  readonly current: number | undefined;
  readonly objective: Profile['objective'];
  /** Name of the profile, if it has one. */
  readonly profile: string | undefined;
  readonly limits: EffectiveLimits;
  /** The profile's switching discipline, applied by the switching operator. */
  readonly switching: Switching;
  readonly reason: DecisionReason;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function combine(
  limits: Mutable<EffectiveLimits>,
  sources: Partial<Record<LimitName, string>>,
  add: Limits,
  source: string,
): void {
  const lower = (k: 'maxCostFraction' | 'maxMacs' | 'maxLatencyMs') => {
    const v = add[k];
    if (v !== undefined && (limits[k] === undefined || v < (limits[k] as number)))
      [limits[k], sources[k]] = [v, source];
  };
  lower('maxCostFraction');
  lower('maxMacs');
  lower('maxLatencyMs');
  if (add.minAccuracy !== undefined && (limits.minAccuracy === undefined || add.minAccuracy > limits.minAccuracy)) {
    [limits.minAccuracy, sources.minAccuracy] = [add.minAccuracy, source];
  }
  if (add.provider !== undefined) {
    const list = typeof add.provider === 'string' ? [add.provider] : add.provider;
    // All rules apply: intersect. If the sets have nothing in common, the earlier one stays.
    const next = limits.provider ? limits.provider.filter((p) => list.includes(p as never)) : list;
    if (next.length > 0)
      [limits.provider, sources.provider] = [next, limits.provider ? `${sources.provider ?? ''}+${source}` : source];
  }
  if (add.stitches !== undefined) {
    const next = limits.stitches ? limits.stitches.filter((id) => add.stitches?.includes(id)) : add.stitches;
    if (next.length > 0)
      [limits.stitches, sources.stitches] = [next, limits.stitches ? `${sources.stitches ?? ''}+${source}` : source];
  }
}

/**
 * The limits in force when all of these apply, combined exactly as {@link decide} combines the
 * profile's limits with the matching rules' (the strictest value of each limit wins; provider and
 * stitch lists are intersected, an intersection that would be empty leaving the earlier list).
 */
export function combinedLimits(...all: readonly Limits[]): EffectiveLimits {
  const limits: Mutable<EffectiveLimits> = {};
  const sources: Partial<Record<LimitName, string>> = {};
  all.forEach((limit, i) => combine(limits, sources, limit, String(i)));
  return limits;
}

/**
 * The provider whose latency profile applies: the one in use if the limits allow it; else the
 * first allowed one the package has latencies for (else the first allowed); with no provider
 * limit and none in use, `cpu` if profiled, else the first profiled.
 */
export function latencyProvider(
  catalog: StitchCatalog,
  limits: EffectiveLimits,
  provider: string | undefined,
): string | undefined {
  if (limits.provider) {
    if (provider !== undefined && limits.provider.includes(provider)) return provider;
    return limits.provider.find((p) => catalog.providers.includes(p)) ?? limits.provider[0];
  }
  return provider ?? (catalog.providers.includes('cpu') ? 'cpu' : catalog.providers[0]);
}

/** Everything {@link unmetLimits} needs besides the stitch. */
export interface LimitCheck {
  readonly catalog: StitchCatalog;
  readonly limits: EffectiveLimits;
  readonly provider: string | undefined;
  readonly batch: number;
  readonly slowdown: number;
  /** The latency limit is multiplied by this (below 1 demands headroom). Default 1. */
  readonly latencyScale?: number;
}

/**
 * The limits `stitch` does not meet. Accuracy and latency limits count as unmet where the package
 * has no figure to prove them (no accuracy, or no latency profile for the provider).
 */
export function unmetLimits(stitch: CatalogStitch, c: LimitCheck): LimitName[] {
  const out: LimitName[] = [];
  const l = c.limits;
  if (l.maxCostFraction !== undefined && stitch.costFraction > l.maxCostFraction) out.push('maxCostFraction');
  if (l.maxMacs !== undefined && stitch.macs > l.maxMacs) out.push('maxMacs');
  if (l.minAccuracy !== undefined && !(stitch.accuracy !== undefined && stitch.accuracy >= l.minAccuracy))
    out.push('minAccuracy');
  if (l.maxLatencyMs !== undefined) {
    const p = c.provider === undefined ? undefined : stitchLatency(c.catalog, stitch.id, c.provider, c.batch)?.ms;
    if (!(p !== undefined && p * c.slowdown <= l.maxLatencyMs * (c.latencyScale ?? 1))) out.push('maxLatencyMs');
  }
  return out;
}

/** Ranks feasible stitches under an objective; returns the best. Deterministic; prefers `current` on a tie. */
function best(
  candidates: readonly CatalogStitch[],
  objective: Profile['objective'],
  current: number | undefined,
): CatalogStitch {
  const allAccurate = candidates.every((s) => s.accuracy !== undefined);
  // Higher is better. Without accuracy figures, cost stands in for it (higher cost on a frontier = more accurate).
  const key = (s: CatalogStitch): [number, number] =>
    objective === 'min-cost' ? [-s.macs, s.accuracy ?? 0] : allAccurate ? [s.accuracy as number, -s.macs] : [s.macs, 0];
  let top = candidates[0] as CatalogStitch;
  let topKey = key(top);
  for (const s of candidates.slice(1)) {
    const k = key(s);
    const cmp =
      k[0] - topKey[0] || k[1] - topKey[1] || (s.id === current ? 1 : top.id === current ? -1 : top.id - s.id);
    if (cmp > 0) [top, topKey] = [s, k];
  }
  return top;
}

const fmt = (v: unknown) => (typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v));

function describeLimits(
  limits: EffectiveLimits,
  sources: Partial<Record<LimitName, string>>,
  slowdown: number,
  latencySource: LatencySource | undefined,
): string {
  const parts: string[] = [];
  const add = (k: LimitName, text: string) => parts.push(`${text} (${sources[k] ?? '?'})`);
  if (limits.maxCostFraction !== undefined) add('maxCostFraction', `cost ≤ ${fmt(limits.maxCostFraction)} of max`);
  if (limits.maxMacs !== undefined) add('maxMacs', `MACs ≤ ${fmt(limits.maxMacs)}`);
  if (limits.maxLatencyMs !== undefined) {
    add(
      'maxLatencyMs',
      `latency ≤ ${fmt(limits.maxLatencyMs)} ms at slowdown ${fmt(slowdown)}×${latencySource ? ` on ${latencySource} latencies` : ''}`,
    );
  }
  if (limits.minAccuracy !== undefined) add('minAccuracy', `accuracy ≥ ${fmt(limits.minAccuracy)}`);
  if (limits.provider !== undefined) add('provider', `provider ${limits.provider.join('|')}`);
  if (limits.stitches !== undefined) add('stitches', `stitches ${limits.stitches.join(',')}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/**
 * Decides which stitch to use.
 *
 * 1. Every rule whose conditions hold applies, together with the profile's default limits; for
 *    each limit the strictest value wins (smallest maximum, largest minimum; provider and stitch
 *    lists are intersected).
 * 2. The candidates are the allowed `stitches` if a limit names them, else the package frontier.
 *    Latency limits compare the stitch's latency × the observed `inference.slowdown`; the latency
 *    is this device's (calibrated, else predicted) where the catalog has it, else the package's
 *    ({@link stitchLatency}), and the reason names the source.
 * 3. Among the candidates that meet every limit the objective picks: `max-accuracy` the most
 *    accurate, `min-cost` the cheapest. If none meets them, the cheapest candidate is chosen and
 *    the decision is flagged `overBudget`, with the limits it misses.
 *
 * Pure and synchronous: identical inputs give identical decisions.
 */
export function decide(
  state: DeviceState,
  profile: Profile,
  catalog: StitchCatalog,
  context: PolicyContext = {},
): Decision {
  const held = context.held ?? [];
  const limits: Mutable<EffectiveLimits> = {};
  const sources: Partial<Record<LimitName, string>> = {};
  combine(limits, sources, profile.limits, 'limits');
  const rules: MatchedRule[] = [];
  const unavailable = new Set<string>();
  for (const rule of compileRules(profile)) {
    for (const signal of rule.signals) if (readReading(state, signal).value === undefined) unavailable.add(signal);
    const name = rule.rule.name;
    const readings = evaluateRule(rule, state, held.includes(name));
    if (!readings) continue;
    rules.push({ name, readings, limit: rule.rule.limit, held: readings.some((r) => r.relaxed) });
    combine(limits, sources, rule.rule.limit, name);
  }

  const observed = state.inference.slowdown;
  const slowdown = observed !== undefined && Number.isFinite(observed) && observed > 0 ? observed : 1;
  const provider = latencyProvider(catalog, limits, context.provider);
  const check: LimitCheck = { catalog, limits, provider, batch: context.batch ?? 1, slowdown };
  // Allowed stitches that the package does not have are ignored (checkProfileForCatalog reports them).
  const allowed = limits.stitches ? catalog.byCost.filter((id) => limits.stitches?.includes(id)) : [];
  const poolIds = allowed.length > 0 ? allowed : catalog.frontier;
  const pool = poolIds.map((id) => catalog.stitches.get(id)).filter((s): s is CatalogStitch => s !== undefined);
  // Hysteresis on the latency limit: a stitch costlier than the active one must meet it with
  // `latencyMargin` to spare, so that slowdown jitter near the limit does not flap. (If that
  // leaves nothing, the plain limit applies.)
  const currentRank = context.current === undefined ? undefined : catalog.rank.get(context.current);
  const headroom: LimitCheck = { ...check, latencyScale: 1 - profile.switching.latencyMargin };
  const meets = (s: CatalogStitch, c: LimitCheck) => unmetLimits(s, c).length === 0;
  const withHeadroom = pool.filter((s) =>
    meets(s, currentRank !== undefined && (catalog.rank.get(s.id) ?? 0) > currentRank ? headroom : check),
  );
  const feasible = withHeadroom.length > 0 ? withHeadroom : pool.filter((s) => meets(s, check));
  const overBudget = feasible.length === 0;
  // Over budget: the cheapest candidate (the pool is in cost order).
  const chosen = overBudget ? (pool[0] as CatalogStitch) : best(feasible, profile.objective, context.current);
  const unmet = overBudget ? unmetLimits(chosen, check) : [];
  const latencySource =
    provider === undefined ? undefined : stitchLatency(catalog, chosen.id, provider, check.batch)?.source;

  const reading = (x: MatchedReading) =>
    `${x.signal}=${fmt(x.value)}${x.test.startsWith('equals') ? '' : ` ${x.test}`}${x.relaxed ? ' ±margin' : ''}`;
  const ruleText = rules.map((r) => `${r.name} (${r.readings.map(reading).join(', ')})`);
  const choice = overBudget
    ? `over budget: no candidate meets ${unmet.join(', ')}${slowdown !== 1 ? ` (slowdown ${fmt(slowdown)}×)` : ''}; cheapest stitch ${chosen.id}`
    : `stitch ${chosen.id}: ${profile.objective === 'min-cost' ? 'cheapest' : 'most accurate'} of ${feasible.length} within limits`;
  const summary = `${ruleText.length > 0 ? `rules ${ruleText.join('; ')}` : 'no rule matched'}; limits ${describeLimits(limits, sources, slowdown, latencySource)}; ${choice}`;

  return {
    at: state.at,
    stitch: chosen.id,
    current: context.current,
    objective: profile.objective,
    profile: profile.name,
    limits,
    switching: profile.switching,
    reason: {
      rules,
      limitSources: sources,
      overBudget,
      unmet,
      unavailable: [...unavailable],
      slowdown,
      latencyProvider: provider,
      latencySource,
      feasible: feasible.map((s) => s.id),
      summary,
    },
  };
}
