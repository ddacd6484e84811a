/**
 * Rule conditions, compiled once per profile and evaluated against a `DeviceState`, with
 * hysteresis for rules that matched before.
 */
import type { Condition, Profile, Rule, When } from '../profiles/schema.js';
import type { DeviceState, Quality, SignalValue } from '../signals/state.js';

/** A reading that took part in a rule's match. */
export interface MatchedReading {
  readonly signal: string;
  /** The reading (`undefined` when the signal was unavailable and the rule says `unavailable: match`). */
  readonly value: SignalValue | undefined;
  readonly quality: Quality;
  /** The test as written, e.g. `below 20`, `equals false`. */
  readonly test: string;
  /** True when the threshold was relaxed by the hysteresis margin (the rule matched before). */
  readonly relaxed: boolean;
}

type Test =
  | {
      readonly op: 'below' | 'above';
      readonly signal: string;
      readonly at: number;
      readonly margin: number;
      readonly text: string;
    }
  | {
      readonly op: 'between';
      readonly signal: string;
      readonly lo: number;
      readonly hi: number;
      readonly margin: number;
      readonly text: string;
    }
  | { readonly op: 'equals'; readonly signal: string; readonly value: SignalValue; readonly text: string };

interface Group {
  readonly tests: readonly Test[];
  readonly all: readonly Group[];
  readonly any: readonly Group[];
}

/** A rule ready for evaluation. */
export interface CompiledRule {
  readonly rule: Rule;
  readonly group: Group;
  /** Every signal its conditions read. */
  readonly signals: readonly string[];
}

/**
 * Reads one signal of a snapshot by flat name. Built-in names are `<group>.<field>` of the
 * snapshot (`battery.percent` is `state.battery.percent`); `app.*` names live in `state.app`.
 */
export function readReading(state: DeviceState, name: string): { value: SignalValue | undefined; quality: Quality } {
  let value: unknown;
  if (name.startsWith('app.')) value = state.app[name as `app.${string}`];
  else {
    const dot = name.indexOf('.');
    const group = (state as unknown as Record<string, Record<string, unknown> | undefined>)[name.slice(0, dot)];
    value = group?.[name.slice(dot + 1)];
  }
  const v = typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
  const quality = state.quality[name] ?? (v === undefined ? 'unavailable' : 'ok');
  return { value: v, quality: v === undefined && quality === 'ok' ? 'unavailable' : quality };
}

function compileCondition(signal: string, c: Condition, margins: Readonly<Record<string, number>>): Test[] {
  if (typeof c === 'boolean') return [{ op: 'equals', signal, value: c, text: `equals ${String(c)}` }];
  const margin = c.margin ?? margins[signal] ?? 0;
  const tests: Test[] = [];
  if (c.below !== undefined) tests.push({ op: 'below', signal, at: c.below, margin, text: `below ${c.below}` });
  if (c.above !== undefined) tests.push({ op: 'above', signal, at: c.above, margin, text: `above ${c.above}` });
  if (c.between !== undefined)
    tests.push({
      op: 'between',
      signal,
      lo: c.between[0],
      hi: c.between[1],
      margin,
      text: `between ${c.between[0]} and ${c.between[1]}`,
    });
  if (c.equals !== undefined) tests.push({ op: 'equals', signal, value: c.equals, text: `equals ${c.equals}` });
  return tests;
}

function compileGroup(when: When, margins: Readonly<Record<string, number>>, signals: Set<string>): Group {
  const tests: Test[] = [];
  for (const [key, v] of Object.entries(when)) {
    if (key === 'all' || key === 'any' || v === undefined || Array.isArray(v)) continue;
    signals.add(key);
    tests.push(...compileCondition(key, v, margins));
  }
  return {
    tests,
    all: (when.all ?? []).map((w) => compileGroup(w, margins, signals)),
    any: (when.any ?? []).map((w) => compileGroup(w, margins, signals)),
  };
}

const compiled = new WeakMap<Profile, readonly CompiledRule[]>();

/** The profile's rules, compiled (cached per profile object). */
export function compileRules(profile: Profile): readonly CompiledRule[] {
  let rules = compiled.get(profile);
  if (!rules) {
    rules = profile.rules.map((rule) => {
      const signals = new Set<string>();
      const group = compileGroup(rule.when, profile.switching.hysteresis, signals);
      return { rule, group, signals: [...signals] };
    });
    compiled.set(profile, rules);
  }
  return rules;
}

function holds(t: Test, v: SignalValue, relaxed: boolean): boolean {
  switch (t.op) {
    case 'equals':
      return v === t.value;
    case 'below':
      return typeof v === 'number' && v < t.at + (relaxed ? t.margin : 0);
    case 'above':
      return typeof v === 'number' && v > t.at - (relaxed ? t.margin : 0);
    case 'between': {
      const m = relaxed ? t.margin : 0;
      return typeof v === 'number' && v >= t.lo - m && v <= t.hi + m;
    }
  }
}

interface EvalContext {
  readonly state: DeviceState;
  readonly relaxed: boolean;
  readonly matchUnavailable: boolean;
  readonly out: MatchedReading[];
}

function evalGroup(g: Group, cx: EvalContext): boolean {
  const mark = cx.out.length;
  let ok = true;
  for (const t of g.tests) {
    const r = readReading(cx.state, t.signal);
    if (r.value === undefined) {
      if (!cx.matchUnavailable) {
        ok = false;
        break;
      }
      cx.out.push({ signal: t.signal, value: undefined, quality: r.quality, test: t.text, relaxed: false });
      continue;
    }
    const strict = holds(t, r.value, false);
    if (!strict && !(cx.relaxed && holds(t, r.value, true))) {
      ok = false;
      break;
    }
    cx.out.push({ signal: t.signal, value: r.value, quality: r.quality, test: t.text, relaxed: !strict });
  }
  for (let i = 0; ok && i < g.all.length; i++) ok = evalGroup(g.all[i] as Group, cx);
  if (ok && g.any.length > 0) {
    ok = false;
    for (const branch of g.any) {
      const m = cx.out.length;
      if (evalGroup(branch, cx)) ok = true;
      else cx.out.length = m;
    }
  }
  if (!ok) cx.out.length = mark;
  return ok;
}

/**
 * Evaluates one rule. `held` (the rule matched in the previous decision) relaxes its thresholds by
 * their hysteresis margins. Returns the readings that made it match, or `undefined` when it does
 * not.
 */
export function evaluateRule(rule: CompiledRule, state: DeviceState, held: boolean): MatchedReading[] | undefined {
  const out: MatchedReading[] = [];
  const cx: EvalContext = { state, relaxed: held, matchUnavailable: rule.rule.unavailable === 'match', out };
  return evalGroup(rule.group, cx) ? out : undefined;
}
