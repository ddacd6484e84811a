/**
 * The timeline plot of `stitchnet simulate`: one panel per signal of the trace (the recorded
 * readings, what the policy saw after smoothing, and the rule thresholds on that signal) above a
 * panel with the active stitch's MACs over time as a step line, switches marked and labelled,
 * and the spans where no stitch met every limit shaded. Drawn with Vega-Lite.
 */
import { macsUnit } from '../base/macs.js';
import type { TopLevelSpec } from 'vega-lite';
import type { StitchCatalog } from '../policy/index.js';
import type { Profile, When } from '../profiles/index.js';
import { readSignal, signalInfo, type DeviceState, type Trace } from '../signals/index.js';
import type { Simulation } from '../runtime/simulate.js';

/** Options of {@link timelineSpec}. */
export interface TimelineOptions {
  /** Width of the panels in pixels (default 720). */
  width?: number;
  /** Title of the plot. */
  title?: string;
}

/** A threshold a rule sets on a signal. */
interface Threshold {
  signal: string;
  value: number;
  label: string;
}

/** Every numeric threshold of the profile's rules, one per signal and value (nested `all` / `any` included). */
export function ruleThresholds(profile: Profile): Threshold[] {
  const out: Threshold[] = [];
  const walk = (when: When, rule: string) => {
    for (const [key, c] of Object.entries(when)) {
      if (key === 'all' || key === 'any') {
        for (const w of (c as When[] | undefined) ?? []) walk(w, rule);
        continue;
      }
      if (typeof c !== 'object' || c === null || Array.isArray(c)) continue;
      const add = (value: number | undefined, op: string) =>
        value !== undefined && out.push({ signal: key, value, label: `${rule}: ${op} ${value}` });
      add(c.below, 'below');
      add(c.above, 'above');
      add(c.equals, 'equals');
      add(c.between?.[0], '≥');
      add(c.between?.[1], '≤');
    }
  };
  for (const rule of profile.rules) walk(rule.when, rule.name);
  // One line per signal and value, naming every rule that tests it there.
  const merged = new Map<string, Threshold>();
  for (const t of out) {
    const key = `${t.signal}\u0000${t.value}`;
    const seen = merged.get(key);
    if (!seen) merged.set(key, { ...t });
    else if (!seen.label.split(', ').includes(t.label)) seen.label += `, ${t.label}`;
  }
  return [...merged.values()];
}

const asNumber = (v: number | boolean | undefined | null): number | null =>
  typeof v === 'boolean' ? Number(v) : (v ?? null);

/** The signals worth a panel: those of the trace, and the derived trend when it has readings. */
export function plottedSignals(trace: Trace, states: readonly DeviceState[]): string[] {
  const names = [...trace.signals];
  const trend = 'thermal.trendCPerMin';
  if (!names.includes(trend) && states.some((s) => s.thermal.trendCPerMin !== undefined)) names.push(trend);
  return names;
}

/** The Vega-Lite spec of the timeline of one simulation. */
export function timelineSpec(
  sim: Simulation,
  trace: Trace,
  profile: Profile,
  catalog: StitchCatalog,
  options: TimelineOptions = {},
): TopLevelSpec {
  const width = options.width ?? 720;
  const axis = timeAxis(sim.endMs);
  const signals = plottedSignals(trace, sim.replay.states);
  const unit = macsUnit([catalog.maxMacs]);
  const data = timelineData(sim, trace, profile, catalog, signals, axis.t, unit.scale);
  const hasStitches = data.stitches.length > 0;
  const panel = (signal: string, i: number) => {
    // The bottom panel carries the time axis title; the first one the legend.
    const x = i === signals.length - 1 && !hasStitches ? axis.lastX : axis.x;
    return signalPanel(signal, width, x, i === 0);
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: { text: options.title, anchor: 'start' as const } } : {}),
    datasets: data,
    config: { font: 'DejaVu Sans, sans-serif', background: 'white', view: { stroke: '#ddd' } },
    vconcat: [...signals.map(panel), ...(hasStitches ? [stitchPanel(width, axis.lastX, unit.name)] : [])],
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec;
}

/** The shared time axis: seconds, or minutes for two minutes and more. */
function timeAxis(endMs: number) {
  const inMinutes = endMs >= 120_000;
  const unit = inMinutes ? 60_000 : 1000;
  const t = (ms: number) => ms / unit;
  const x: TimeX = { field: 't', type: 'quantitative', title: null, scale: { domain: [0, t(endMs)], nice: false } };
  const lastX: TimeX = { ...x, title: inMinutes ? 'Time (min)' : 'Time (s)' };
  return { t, x, lastX };
}

/** A time encoding: the bottom panel's has a title. */
interface TimeX {
  field: 't';
  type: 'quantitative';
  title: string | null;
  scale: { domain: number[]; nice: boolean };
}

/** The plot's datasets: recorded and seen readings, thresholds, the active stitch's steps, the over-budget spans. */
function timelineData(
  sim: Simulation,
  trace: Trace,
  profile: Profile,
  catalog: StitchCatalog,
  signals: readonly string[],
  t: (ms: number) => number,
  macsScale: number,
) {
  const readings = trace.rows.flatMap((row) =>
    Object.entries(row.values)
      .filter(([, v]) => v !== null)
      .map(([signal, v]) => ({ t: t(row.tMs), signal, value: asNumber(v), series: 'recorded' })),
  );
  const seen = sim.replay.states.flatMap((s) =>
    signals.map((signal) => ({
      t: t(s.at),
      signal,
      value: asNumber(readSignal(s, signal).value),
      series: 'seen by the policy',
    })),
  );
  const thresholds = ruleThresholds(profile).filter((th) => signals.includes(th.signal));
  const macsOf = (id: number) => (catalog.stitches.get(id)?.macs ?? 0) / macsScale;
  const steps = sim.replay.switches.map((s) => ({
    t: t(s.at),
    stitch: s.to,
    label: `#${s.to}`,
    macs: macsOf(s.to),
    direction: s.direction,
  }));
  const last = sim.replay.switches.at(-1);
  const stitches = last
    ? [...steps, { t: t(sim.endMs), stitch: last.to, label: '', macs: macsOf(last.to), direction: 'end' }]
    : [];
  const overBudget = sim.overBudgetSpans.map(([a, b]) => ({ t: t(a), t2: t(b) }));
  return { readings, seen, thresholds, stitches, overBudget };
}

const SERIES_COLOR = {
  field: 'series',
  type: 'nominal' as const,
  title: null,
  scale: { domain: ['recorded', 'seen by the policy'], range: ['#9a9a9a', '#1f77b4'] },
};

/** One signal's panel: its readings as points, what the policy saw as a step line, rule thresholds as rules. */
function signalPanel(signal: string, width: number, x: TimeX, withLegend: boolean) {
  const info = signalInfo(signal);
  const boolean = info?.kind === 'boolean';
  const color = withLegend ? SERIES_COLOR : { ...SERIES_COLOR, legend: null };
  // Booleans read as true/false on a 0..1 axis.
  const y = {
    field: 'value',
    type: 'quantitative' as const,
    title: null,
    scale: boolean ? { domain: [0, 1] } : { zero: false },
    ...(boolean
      ? { axis: { values: [0, 1], labelExpr: "datum.value ? 'true' : 'false'" } }
      : { axis: { tickCount: 4 } }),
  };
  const onlyThis = [{ filter: { field: 'signal', equal: signal } }];
  return {
    width,
    height: 60,
    title: {
      text: `${signal}${info?.unit ? ` (${info.unit})` : ''}`,
      anchor: 'start' as const,
      fontSize: 11,
      offset: 4,
    },
    layer: [
      {
        data: { name: 'readings' },
        transform: onlyThis,
        mark: { type: 'point' as const, filled: true, size: 10 },
        encoding: { x, y, color },
      },
      {
        data: { name: 'seen' },
        transform: onlyThis,
        mark: { type: 'line' as const, interpolate: 'step-after' as const, strokeWidth: 1.5 },
        encoding: { x, y, color },
      },
      {
        data: { name: 'thresholds' },
        transform: onlyThis,
        layer: [
          { mark: { type: 'rule' as const, strokeDash: [4, 3], color: '#d62728' }, encoding: { y } },
          {
            mark: {
              type: 'text' as const,
              align: 'left' as const,
              baseline: 'bottom' as const,
              dx: 3,
              dy: -2,
              fontSize: 9,
              color: '#d62728',
            },
            encoding: { x: { datum: 0, type: 'quantitative' as const }, y, text: { field: 'label' } },
          },
        ],
      },
    ],
  };
}

/** The bottom panel: the active stitch's MACs as a step line, switches marked and labelled, over-budget spans shaded. */
function stitchPanel(width: number, x: TimeX, unitName: string) {
  const y = { field: 'macs', type: 'quantitative' as const, title: unitName, scale: { zero: true } };
  const switchColor = {
    field: 'direction',
    type: 'nominal' as const,
    title: 'Switch',
    scale: { domain: ['initial', 'degrade', 'upgrade'], range: ['#555', '#d62728', '#2ca02c'] },
  };
  return {
    width,
    height: 140,
    title: {
      text: 'Active stitch (#id) and its cost; shaded: no stitch met every limit',
      anchor: 'start' as const,
      fontSize: 11,
      offset: 4,
    },
    layer: [
      {
        data: { name: 'overBudget' },
        mark: { type: 'rect' as const, color: '#d62728', opacity: 0.12 },
        encoding: { x: { ...x, field: 't' }, x2: { field: 't2' } },
      },
      {
        data: { name: 'stitches' },
        mark: { type: 'line' as const, interpolate: 'step-after' as const, color: '#333', strokeWidth: 2 },
        encoding: { x, y },
      },
      {
        data: { name: 'stitches' },
        transform: [{ filter: "datum.direction !== 'end'" }],
        mark: { type: 'point' as const, filled: true, size: 50 },
        encoding: { x, y, color: switchColor },
      },
      {
        data: { name: 'stitches' },
        mark: { type: 'text' as const, dy: -9, fontSize: 10 },
        encoding: { x, y, text: { field: 'label' } },
      },
    ],
  };
}
