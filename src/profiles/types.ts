/**
 * The profile format's types as plain interfaces: what the public API shows. `schema.ts`
 * validates with its schema and checks at compile time that the inferred types are these.
 */
import type { AppSignalName, BuiltinSignalName, SIGNALS } from '../signals/names.js';

/** An execution provider a profile may name (onnxruntime-node's names). */
export type Provider = 'cuda' | 'tensorrt' | 'dml' | 'webgpu' | 'coreml' | 'cpu';

/** A condition on a numeric signal. All bounds given must hold together. */
export interface NumberCondition {
  /** Holds while the reading is < below. */
  below?: number | undefined;
  /** Holds while the reading is > above. */
  above?: number | undefined;
  /** Holds while low ≤ reading ≤ high: `[low, high]`. */
  between?: [number, number] | undefined;
  /** Holds while the reading equals this value. */
  equals?: number | undefined;
  /**
   * Hysteresis margin for this condition (overrides `switching.hysteresis` for the signal): once
   * the rule matched, it keeps matching until the reading is past the threshold by this much.
   */
  margin?: number | undefined;
}

/** A condition on one signal: the value of a boolean signal, or bounds on a numeric one. */
export type Condition = boolean | NumberCondition;

/** The condition a built-in signal takes: `boolean` for a boolean signal, bounds for a numeric one. */
export type ConditionOf<S extends BuiltinSignalName> = (typeof SIGNALS)[S]['kind'] extends 'boolean'
  ? boolean
  : NumberCondition;

/**
 * A set of conditions that must all hold: signal names map to conditions (built-in names with the
 * condition their kind takes, `app.<name>` with either), and `all` / `any` nest further sets
 * (every one / at least one of them must hold).
 *
 * ```ts
 * const when: When = { 'battery.percent': { below: 20 }, 'battery.charging': false };
 * ```
 */
export type When = { all?: When[] | undefined; any?: When[] | undefined } & {
  [S in BuiltinSignalName]?: ConditionOf<S> | undefined;
} & {
  [S in AppSignalName]?: Condition | undefined;
};

/** Limits on the stitch: in the profile's `limits` (always in force) or a rule's `limit`. Where several apply, the strictest wins. */
export interface Limits {
  /** Largest cost (MACs) allowed, as a fraction of the most expensive stitch of the package: 0 < f ≤ 1. */
  maxCostFraction?: number | undefined;
  /** Largest cost allowed, in multiply-accumulates per sample. */
  maxMacs?: number | undefined;
  /** Largest latency allowed, ms: the stitch's profiled latency × the observed slowdown. */
  maxLatencyMs?: number | undefined;
  /** Smallest accuracy allowed, 0..1, on the package evaluation set. */
  minAccuracy?: number | undefined;
  /** Execution provider(s) allowed, in order of preference. */
  provider?: Provider | Provider[] | undefined;
  /** Stitch ids allowed (default: the Pareto frontier of the package). */
  stitches?: number[] | undefined;
}

/** The names of the limits. */
export type LimitName = keyof Limits;

/** A rule: when its conditions hold, its limits apply. */
export interface Rule {
  /** Unique name; decisions and events cite it. */
  name: string;
  description?: string | undefined;
  when: When;
  limit: Limits;
  /** A condition on a signal that has no reading: `skip` (does not hold) or `match` (holds). */
  unavailable: 'skip' | 'match';
}

/** The switching discipline: dwell, delays and hysteresis. */
export interface Switching {
  /** At most one switch per this many ms. */
  minDwellMs: number;
  /** A cheaper stitch is taken once it has been wanted this long (0: at once). */
  degradeAfterMs: number;
  /** A costlier stitch is taken only once it has been wanted this long. */
  upgradeAfterMs: number;
  /**
   * Smoothing of the upgrade wait: an upgrade is taken once the decisions have wanted it for this
   * fraction of the last `upgradeAfterMs`; only a gap longer than the rest restarts the wait.
   */
  upgradeQuorum: number;
  /** How failed upgrades back off. */
  backoff: Backoff;
  /** Hysteresis of `maxLatencyMs`: a costlier stitch must meet it with this fraction to spare. */
  latencyMargin: number;
  /** Per signal: once a rule matched, its thresholds on that signal are relaxed by this margin. */
  hysteresis: Record<string, number>;
}

/** How failed upgrades (reversed by a latency rule) back off. */
export interface Backoff {
  /** An upgrade that a latency rule reverses within this many ms counts as failed. */
  windowMs: number;
  /** After n failed upgrades, the next upgrade waits `upgradeAfterMs × factor^n` (1: no backoff). */
  factor: number;
  /** The longest upgrade wait under a backoff, ms. */
  maxMs: number;
  /** The backoff is forgotten after this many ms without a failed upgrade. */
  resetAfterMs: number;
}

/** How the device is sampled. */
export interface Sampling {
  /** Period of the fast lane (CPU load, memory, Linux battery), ms. */
  fastMs: number;
  /** Period of the slow lane (temperatures; battery elsewhere), ms. */
  slowMs: number;
  /** Period of the nvidia-smi stream, ms. */
  gpuMs: number;
  /** A probe slower than this is reported as timed out (default: 2 × its period). */
  probeTimeoutMs?: number | undefined;
  /** EMA weight of the newest sample per signal, 0 < α ≤ 1. */
  smoothing: Record<string, number>;
  /** Window of the temperature trend, ms. */
  trendWindowMs: number;
  /** At most this many of the latest runs make the window of the inference signals (a median over it). */
  slowdownWindow: number;
  /** Runs older than this leave the window of the inference signals, ms. */
  slowdownWindowMs: number;
  /** `inference.slowdown` and `inference.p50Ms` are reported once the window holds this many runs. */
  slowdownMinSamples: number;
  /** Runs not counted after the runtime starts and after each switch of stitch or fuse (warm-up). */
  slowdownWarmupRuns: number;
  /** …nor any run for this long after them, ms: the warm-up lasts both. */
  slowdownWarmupMs: number;
}

/** onnxruntime session settings a profile may set. */
export interface OrtSettings {
  intraOpNumThreads?: number | undefined;
  interOpNumThreads?: number | undefined;
  allowSpinning: boolean;
  enableCpuMemArena: boolean;
}

/** A validated profile, defaults filled in. */
export interface Profile {
  $schema?: string | undefined;
  /** Name shown in decisions and events. */
  name?: string | undefined;
  description?: string | undefined;
  /** `max-accuracy`: the most accurate stitch within the limits; `min-cost`: the cheapest. */
  objective: 'max-accuracy' | 'min-cost';
  /** Limits always in force. */
  limits: Limits;
  rules: Rule[];
  switching: Switching;
  sampling: Sampling;
  ort: OrtSettings;
}

/** A rule as written: `unavailable` may be left out. */
export interface RuleInput extends Omit<Rule, 'unavailable'> {
  unavailable?: Rule['unavailable'] | undefined;
}

/** A profile as written (a YAML/JSON file or an object): defaults may be left out. */
/** `switching` as written in a profile: every field optional, `backoff` too. */
export type SwitchingInput = Partial<Omit<Switching, 'backoff'>> & { backoff?: Partial<Backoff> | undefined };

export interface ProfileInput {
  $schema?: string | undefined;
  name?: string | undefined;
  description?: string | undefined;
  objective?: Profile['objective'] | undefined;
  limits?: Limits | undefined;
  rules?: RuleInput[] | undefined;
  switching?: SwitchingInput | undefined;
  sampling?: Partial<Sampling> | undefined;
  ort?: Partial<OrtSettings> | undefined;
}
