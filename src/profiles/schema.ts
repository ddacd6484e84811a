/**
 * The profile format: how an application trades accuracy for battery, heat and latency.
 *
 * The schema here is the single source of the format: `parseProfile` validates with it, the
 * public types (plain interfaces in `types.ts`) are checked against it at compile time, and the published JSON Schema is generated from it
 * (`profileJsonSchema`). Checks that need more than one field (signal names, conditions that can
 * never hold, duplicate rule names) are part of the schema too, in {@link checkProfileSemantics}.
 */
import { z } from 'zod';
import { PROVIDER_NAMES } from '../base/providers.js';
import type { SameType } from '../base/types.js';
import type {
  LimitName,
  Limits,
  NumberCondition,
  OrtSettings,
  Profile,
  ProfileInput,
  Provider,
  Rule,
  Sampling,
  Switching,
  When,
} from './types.js';
import {
  isAppSignal,
  isBuiltinSignal,
  SIGNALS,
  SIGNAL_NAMES,
  signalInfo,
  signalNameHint,
  type BuiltinSignalName,
} from '../signals/names.js';
import { DEFAULT_SAMPLING } from '../signals/options.js';

/** Execution providers a profile may name (onnxruntime-node's names). */
export const PROVIDERS = PROVIDER_NAMES;
/** An execution provider name. */
export const ProviderSchema = z.enum(PROVIDERS).describe('An onnxruntime execution provider.');

/** What a profile optimises among the stitches that meet every limit. */
export const OBJECTIVES = ['max-accuracy', 'min-cost'] as const;

/** A condition on a numeric signal. All bounds given must hold together. */
export const NumberConditionSchema = z
  .strictObject({
    below: z.number().optional().describe('Holds while the reading is < below.'),
    above: z.number().optional().describe('Holds while the reading is > above.'),
    between: z.tuple([z.number(), z.number()]).optional().describe('Holds while low ≤ reading ≤ high: [low, high].'),
    equals: z.number().optional().describe('Holds while the reading equals this value.'),
    margin: z
      .number()
      .nonnegative()
      .optional()
      .describe(
        'Hysteresis margin for this condition (overrides switching.hysteresis for the signal): once the rule matched, it keeps matching until the reading is past the threshold by this much.',
      ),
  })
  .describe('A condition on a numeric signal: below / above / between / equals (all given must hold).');

/** A condition on a boolean signal: the value it must have. */
export const BooleanConditionSchema = z.boolean().describe('Holds while the reading equals this value.');

const signalConditions = Object.fromEntries(
  SIGNAL_NAMES.map((name) => {
    const info = SIGNALS[name];
    const unit = 'unit' in info ? ` (${info.unit})` : '';
    const schema = info.kind === 'boolean' ? BooleanConditionSchema : NumberConditionSchema;
    return [name, schema.optional().describe(`${info.description}${unit}`)];
  }),
) as Record<BuiltinSignalName, z.ZodOptional<typeof NumberConditionSchema | typeof BooleanConditionSchema>>;

/** JSON Schema id of {@link WhenSchema}, used to tighten its generated form. */
export const WHEN_SCHEMA_ID = 'When';

/**
 * A condition set (see {@link When}); built-in signals are listed so editors can complete them.
 * Typed by hand: each built-in signal gets the condition schema of its kind above, a mapping zod
 * cannot infer.
 */
export const WhenSchema: z.ZodType<When, When> = z
  .object({
    ...signalConditions,
    get all() {
      return z.array(WhenSchema).min(1).optional().describe('Every one of these condition sets must hold.');
    },
    get any() {
      return z.array(WhenSchema).min(1).optional().describe('At least one of these condition sets must hold.');
    },
  })
  .catchall(z.union([BooleanConditionSchema, NumberConditionSchema]))
  .meta({
    id: WHEN_SCHEMA_ID,
    description: 'Conditions on named signals, all of which must hold; application signals are named "app.<name>".',
  }) as unknown as z.ZodType<When, When>;

/** Limits on the stitch: in the profile's `limits` (always in force) or a rule's `limit`. */
export const LimitsSchema = z
  .strictObject({
    maxCostFraction: z
      .number()
      .gt(0)
      .max(1)
      .optional()
      .describe('Largest cost (MACs) allowed, as a fraction of the most expensive stitch of the package: 0 < f ≤ 1.'),
    maxMacs: z.number().positive().optional().describe('Largest cost allowed, in multiply-accumulates per sample.'),
    maxLatencyMs: z
      .number()
      .positive()
      .optional()
      .describe(
        "Largest latency allowed, ms: the stitch's latency on this device (calibrated; the package's figure as a fallback) × the observed slowdown.",
      ),
    minAccuracy: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe('Smallest accuracy allowed, 0..1, on the package evaluation set.'),
    provider: z
      .union([ProviderSchema, z.array(ProviderSchema).min(1)])
      .optional()
      .describe('Execution provider(s) allowed, in order of preference; the runtime moves to the first that works.'),
    stitches: z
      .array(z.number().int().nonnegative())
      .min(1)
      .optional()
      .describe('Stitch ids allowed (default: the Pareto frontier of the package).'),
  })
  .describe('Limits on the stitch. Where several apply, the strictest wins.');
/** Every limit name, in schema order. */
export const LIMIT_NAMES = Object.keys(LimitsSchema.shape) as readonly LimitName[];

/** A rule: when its conditions hold, its limits apply. */
export const RuleSchema = z.strictObject({
  name: z.string().min(1).describe('Unique name; decisions and events cite it.'),
  description: z.string().optional(),
  when: WhenSchema,
  limit: LimitsSchema,
  unavailable: z
    .enum(['skip', 'match'])
    .default('skip')
    .describe(
      'A condition on a signal that has no reading: skip (does not hold) or match (holds: the cautious choice for a sensor that may fail).',
    ),
});

/** The backoff of failed upgrades (part of the switching discipline). */
export const BackoffSchema = z
  .strictObject({
    windowMs: z
      .number()
      .int()
      .nonnegative()
      .default(60_000)
      .describe(
        'An upgrade that a latency rule (inference.* or maxLatencyMs) reverses within this many ms counts as failed.',
      ),
    factor: z
      .number()
      .min(1)
      .max(16)
      .default(2)
      .describe(
        'After n failed upgrades, an upgrade to the failed stitch or a costlier one waits upgradeAfterMs × factor^n (1: no backoff).',
      ),
    maxMs: z.number().int().nonnegative().default(120_000).describe('The longest upgrade wait under a backoff, ms.'),
    resetAfterMs: z
      .number()
      .int()
      .nonnegative()
      .default(300_000)
      .describe('The backoff is forgotten after this many ms without a failed upgrade.'),
  })
  .describe('How failed upgrades back off.');

/** The switching discipline: dwell, delays and hysteresis. */
export const SwitchingSchema = z
  .strictObject({
    minDwellMs: z.number().int().nonnegative().default(5000).describe('At most one switch per this many ms.'),
    degradeAfterMs: z
      .number()
      .int()
      .nonnegative()
      .default(0)
      .describe('A cheaper stitch is taken once it has been wanted this long (0: at once).'),
    upgradeAfterMs: z
      .number()
      .int()
      .nonnegative()
      .default(15_000)
      .describe('A costlier stitch is taken only once it has been wanted this long.'),
    upgradeQuorum: z
      .number()
      .gt(0)
      .max(1)
      .default(0.75)
      .describe(
        'Smoothing of the upgrade wait: an upgrade is taken once the decisions have wanted it for this fraction of the last upgradeAfterMs; only a gap longer than the rest restarts the wait (1: every decision must want it).',
      ),
    backoff: BackoffSchema.prefault({}),
    latencyMargin: z
      .number()
      .min(0)
      .lt(1)
      .default(0.1)
      .describe(
        'Hysteresis of maxLatencyMs: a stitch costlier than the active one must meet it with this fraction to spare (0.1: within 90 % of the limit).',
      ),
    hysteresis: z
      .record(z.string(), z.number().nonnegative())
      .default({})
      .describe(
        'Per signal: once a rule matched, its thresholds on that signal are relaxed by this margin until the reading is past them by it.',
      ),
  })
  .describe('How eagerly the runtime follows the decisions.');

/** Sampling settings; the same fields as the signal sources' `SamplingOptions`. */
export const SamplingSchema = z
  .strictObject({
    fastMs: z
      .number()
      .int()
      .min(100)
      .default(DEFAULT_SAMPLING.fastMs)
      .describe('Period of the fast lane (CPU load, memory, Linux battery), ms.'),
    slowMs: z
      .number()
      .int()
      .min(500)
      .default(DEFAULT_SAMPLING.slowMs)
      .describe('Period of the slow lane (temperatures; battery elsewhere), ms.'),
    gpuMs: z.number().int().min(100).default(DEFAULT_SAMPLING.gpuMs).describe('Period of the nvidia-smi stream, ms.'),
    probeTimeoutMs: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('A probe slower than this is reported as timed out (default: 2 × its period).'),
    smoothing: z
      .record(z.string(), z.number().gt(0).max(1))
      .default({ ...DEFAULT_SAMPLING.smoothing })
      .describe('EMA weight of the newest sample per signal, 0 < α ≤ 1 (1: no smoothing). Replaces the default table.'),
    trendWindowMs: z
      .number()
      .int()
      .positive()
      .default(DEFAULT_SAMPLING.trendWindowMs)
      .describe('Window of the temperature trend, ms.'),
    slowdownWindow: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(DEFAULT_SAMPLING.slowdownWindow)
      .describe('At most this many of the latest runs make the window of the inference signals (a median over it).'),
    slowdownWindowMs: z
      .number()
      .int()
      .min(100)
      .default(DEFAULT_SAMPLING.slowdownWindowMs)
      .describe('Runs older than this leave the window of the inference signals, ms.'),
    slowdownMinSamples: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(DEFAULT_SAMPLING.slowdownMinSamples)
      .describe('inference.slowdown and inference.p50Ms are reported once the window holds this many runs.'),
    slowdownWarmupRuns: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .default(DEFAULT_SAMPLING.slowdownWarmupRuns)
      .describe('Runs not counted after the runtime starts and after each switch of stitch or fuse (warm-up).'),
    slowdownWarmupMs: z
      .number()
      .min(0)
      .max(600_000)
      .default(DEFAULT_SAMPLING.slowdownWarmupMs)
      .describe('…nor any run for this long after them, ms: the warm-up lasts both.'),
  })
  .describe('How the device is sampled.');

/** onnxruntime session settings a profile may set. */
export const OrtSchema = z
  .strictObject({
    intraOpNumThreads: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Threads inside one operator (0 or absent: onnxruntime chooses).'),
    interOpNumThreads: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe('Threads across operators (0 or absent: onnxruntime chooses).'),
    allowSpinning: z
      .boolean()
      .default(false)
      .describe('Let idle ORT threads spin: slightly lower latency, much more CPU and energy.'),
    enableCpuMemArena: z
      .boolean()
      .default(false)
      .describe(
        "Keep onnxruntime's CPU memory arena: activation memory stays reserved between runs, grown to the largest batch seen. Default false: much less resident memory; runs of large batches may pay for allocating their activations anew.",
      ),
  })
  .describe('onnxruntime session settings.');

/**
 * Cross-field checks, run even when other parts of the profile are invalid so that one pass
 * reports every problem. Written defensively: `value` may be malformed.
 */
export function checkProfileSemantics(value: unknown, ctx: Pick<z.RefinementCtx<unknown>, 'addIssue'>): void {
  const issue = (path: PropertyKey[], message: string, params: Record<string, unknown> = {}) =>
    ctx.addIssue({ code: 'custom', message, path, params });
  if (!isRecord(value)) return;
  const rules = Array.isArray(value.rules) ? value.rules : [];
  const seen = new Map<string, number>();
  rules.forEach((rule: unknown, i) => {
    if (!isRecord(rule)) return;
    if (typeof rule.name === 'string') {
      const first = seen.get(rule.name);
      if (first !== undefined)
        issue(['rules', i, 'name'], `Rule name "${rule.name}" is already used by rules[${first}]`, {
          hint: 'Give every rule its own name',
        });
      else seen.set(rule.name, i);
    }
    if (isRecord(rule.when)) checkWhen(rule.when, ['rules', i, 'when'], issue);
    if (isRecord(rule.limit) && Object.keys(rule.limit).length === 0) {
      issue(['rules', i, 'limit'], 'A rule needs at least one limit', { validValues: [...LIMIT_NAMES] });
    }
  });
  const switching = isRecord(value.switching) ? value.switching : {};
  const sampling = isRecord(value.sampling) ? value.sampling : {};
  for (const [block, key] of [
    [switching, 'hysteresis'],
    [sampling, 'smoothing'],
  ] as const) {
    const table = block[key];
    if (!isRecord(table)) continue;
    for (const name of Object.keys(table)) {
      if (!isBuiltinSignal(name) && !isAppSignal(name))
        issue([block === switching ? 'switching' : 'sampling', key, name], `Unknown signal "${name}"`, unknownSignal());
    }
  }
}

type IssueFn = (path: PropertyKey[], message: string, params?: Record<string, unknown>) => void;

function unknownSignal(): Record<string, unknown> {
  return { kind: 'unknown-signal', validValues: [...SIGNAL_NAMES], hint: signalNameHint() };
}

/** Deepest nesting of `all` / `any` condition sets in a rule. */
export const MAX_CONDITION_DEPTH = 32;

function checkWhen(when: Record<string, unknown>, path: PropertyKey[], issue: IssueFn, depth = 0): void {
  if (depth > MAX_CONDITION_DEPTH) {
    issue(path, `Conditions are nested deeper than ${MAX_CONDITION_DEPTH} levels of all/any`, {
      hint: 'Flatten the condition sets: all: [a, all: [b, c]] is all: [a, b, c]',
    });
    return;
  }
  const keys = Object.keys(when);
  if (keys.length === 0) {
    issue(path, 'A condition set needs at least one condition', {
      hint: 'To apply a limit always, put it in the top-level "limits" instead of a rule',
    });
  }
  for (const key of keys) {
    const v = when[key];
    if (key === 'all' || key === 'any') {
      if (Array.isArray(v))
        v.forEach((w: unknown, j) => isRecord(w) && checkWhen(w, [...path, key, j], issue, depth + 1));
      continue;
    }
    if (!isBuiltinSignal(key) && !isAppSignal(key)) {
      issue([...path, key], `Unknown signal "${key}"`, unknownSignal());
      continue;
    }
    // Type errors (a range on a boolean signal, a string threshold) are the schema's; here only
    // conditions that parse but can never hold.
    if (isRecord(v)) checkNumberCondition(key, v, [...path, key], issue);
  }
}

function checkNumberCondition(signal: string, c: Record<string, unknown>, path: PropertyKey[], issue: IssueFn): void {
  if (!['below', 'above', 'between', 'equals'].some((k) => k in c)) {
    issue(path, `The condition on "${signal}" has no test`, {
      hint: 'Give below, above, between or equals, e.g. { below: 20 }',
    });
    return;
  }
  // A bound that is not a finite number (.nan, .inf) is the schema's to report.
  const bounds = [c.below, c.above, c.equals, ...(Array.isArray(c.between) ? c.between : [])];
  if (bounds.some((x) => typeof x === 'number' && !Number.isFinite(x))) return;
  const n = (x: unknown): number | undefined => (typeof x === 'number' ? x : undefined);
  const below = n(c.below);
  const above = n(c.above);
  const equals = n(c.equals);
  const between = Array.isArray(c.between) ? c.between.map(n) : undefined;
  const [lo, hi] = between ?? [];
  if (lo !== undefined && hi !== undefined && lo > hi) {
    issue([...path, 'between'], `between [${lo}, ${hi}] is empty: the low bound comes first`, {
      hint: 'Check the direction of below and above',
    });
    return;
  }
  // The set of readings that satisfy every bound: (low, high), closed where `between` sets the bound.
  let low = -Infinity;
  let lowOpen = false;
  let high = Infinity;
  let highOpen = false;
  if (above !== undefined) [low, lowOpen] = [above, true];
  if (lo !== undefined && lo > low) [low, lowOpen] = [lo, false];
  if (below !== undefined) [high, highOpen] = [below, true];
  if (hi !== undefined && hi < high) [high, highOpen] = [hi, false];
  const info = signalInfo(signal);
  const min = info?.min ?? -Infinity;
  const max = info?.max ?? Infinity;
  const describe = jsonText(Object.fromEntries(Object.entries(c).filter(([k]) => k !== 'margin')));
  const inside = (x: number) => (lowOpen ? x > low : x >= low) && (highOpen ? x < high : x <= high);
  const empty = low > high || (low === high && (lowOpen || highOpen)) || (equals !== undefined && !inside(equals));
  if (empty) {
    issue(path, `The condition ${describe} on "${signal}" can never hold`, {
      hint: 'All bounds of one condition must hold together; to express "either", use any: [ … ]',
    });
  } else if (
    high < min ||
    (high === min && highOpen) ||
    low > max ||
    (low === max && lowOpen) ||
    (equals !== undefined && (equals < min || equals > max))
  ) {
    issue(path, `The condition ${describe} on "${signal}" can never hold: readings are between ${min} and ${max}`, {
      hint: 'Check the direction of below and above',
    });
  }
}

/** JSON text of a value for messages; never throws (BigInts as `12n`, anything else unserialisable as its type). */
export function jsonText(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${String(x)}n` : x)) ?? String(v);
  } catch {
    return `a ${typeof v}`;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The whole profile. */
export const ProfileSchema = z
  .strictObject({
    $schema: z.string().optional().describe('JSON Schema of this format, for editors.'),
    name: z.string().min(1).optional().describe('Name shown in decisions and events.'),
    description: z.string().optional(),
    objective: z
      .enum(OBJECTIVES)
      .default('max-accuracy')
      .describe(
        'max-accuracy: the most accurate stitch within the limits. min-cost: the cheapest stitch within the limits (set an accuracy floor with minAccuracy).',
      ),
    limits: LimitsSchema.prefault({}).describe('Limits always in force.'),
    rules: z
      .array(RuleSchema)
      .default([])
      .describe(
        'Rules: when their conditions hold, their limits apply too. All matching rules apply; the strictest limit wins.',
      ),
    switching: SwitchingSchema.prefault({}),
    sampling: SamplingSchema.prefault({}),
    ort: OrtSchema.prefault({}),
  })
  .superRefine((value, ctx) => checkProfileSemantics(value, ctx), { when: () => true })
  .describe('A stitchnet profile.');

export type {
  Provider,
  NumberCondition,
  Condition,
  ConditionOf,
  When,
  Limits,
  LimitName,
  Rule,
  RuleInput,
  Switching,
  Sampling,
  OrtSettings,
  Profile,
  ProfileInput,
} from './types.js';

// The public types are plain interfaces (types.ts); these fail to compile when the schema drifts from them.
true satisfies SameType<Provider, z.infer<typeof ProviderSchema>>;
true satisfies SameType<NumberCondition, z.infer<typeof NumberConditionSchema>>;
true satisfies SameType<Limits, z.infer<typeof LimitsSchema>>;
true satisfies SameType<Rule, z.infer<typeof RuleSchema>>;
true satisfies SameType<Switching, z.infer<typeof SwitchingSchema>>;
true satisfies SameType<Sampling, z.infer<typeof SamplingSchema>>;
true satisfies SameType<OrtSettings, z.infer<typeof OrtSchema>>;
true satisfies SameType<Profile, z.infer<typeof ProfileSchema>>;
true satisfies SameType<ProfileInput, z.input<typeof ProfileSchema>>;
