/**
 * The timeline plot of `stitchnet simulate`: one panel per signal of the trace (the recorded
 * readings, what the policy saw after smoothing, and the rule thresholds on that signal) above a
 * panel with the active stitch's MACs over time as a step line, switches marked and labelled,
 * and the spans where no stitch met every limit shaded. Drawn with Vega-Lite.
 */
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
      const add = (value: number | undefined, op: string) => value !== undefined && out.push({ signal: key, value, label: `${rule}: ${op} ${value}` });
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

const asNumber = (v: number | boolean | undefined | null): number | null => (typeof v === 'boolean' ? Number(v) : (v ?? null));

/** The signals worth a panel: those of the trace, and the derived trend when it has readings. */
export function plottedSignals(trace: Trace, states: readonly DeviceState[]): string[] {
  const names = [...trace.signals];
  const trend = 'thermal.trendCPerMin';
  if (!names.includes(trend) && states.some((s) => s.thermal.trendCPerMin !== undefined)) names.push(trend);
  return names;
}

/** The Vega-Lite spec of the timeline of one simulation. */
export function timelineSpec(sim: Simulation, trace: Trace, profile: Profile, catalog: StitchCatalog, options: TimelineOptions = {}): TopLevelSpec {
  const width = options.width ?? 720;
  const inMinutes = sim.endMs >= 120_000;
  const unit = inMinutes ? 60_000 : 1000;
  const t = (ms: number) => ms / unit;
  const x = { field: 't', type: 'quantitative' as const, title: null, scale: { domain: [0, t(sim.endMs)], nice: false } };
  const lastX = { ...x, title: inMinutes ? 'Time (min)' : 'Time (s)' };

  const signals = plottedSignals(trace, sim.replay.states);
  const readings = trace.rows.flatMap((row) =>
    Object.entries(row.values)
      .filter(([, v]) => v !== null)
      .map(([signal, v]) => ({ t: t(row.tMs), signal, value: asNumber(v), series: 'recorded' })),
  );
  const seen = sim.replay.states.flatMap((s) => signals.map((signal) => ({ t: t(s.at), signal, value: asNumber(readSignal(s, signal).value), series: 'seen by the policy' })));
  const thresholds = ruleThresholds(profile).filter((th) => signals.includes(th.signal));

  const giga = catalog.maxMacs >= 1e9;
  const scale = giga ? 1e9 : 1e6;
  const macsOf = (id: number) => (catalog.stitches.get(id)?.macs ?? 0) / scale;
  const steps = sim.replay.switches.map((s) => ({ t: t(s.at), stitch: s.to, label: `#${s.to}`, macs: macsOf(s.to), direction: s.direction }));
  const last = sim.replay.switches.at(-1);
  const line = last ? [...steps, { t: t(sim.endMs), stitch: last.to, label: '', macs: macsOf(last.to), direction: 'end' }] : [];
  const spans = sim.overBudgetSpans.map(([a, b]) => ({ t: t(a), t2: t(b) }));

  const color = { field: 'series', type: 'nominal' as const, title: null, scale: { domain: ['recorded', 'seen by the policy'], range: ['#9a9a9a', '#1f77b4'] } };
  const signalPanel = (signal: string, i: number) => {
    const info = signalInfo(signal);
    const boolean = info?.kind === 'boolean';
    const xEnc = i === signals.length - 1 && line.length === 0 ? lastX : x;
    // The first panel carries the legend; booleans read as true/false on a 0..1 axis.
    const colorEnc = i === 0 ? color : { ...color, legend: null };
    const y = {
      field: 'value',
      type: 'quantitative' as const,
      title: null,
      scale: boolean ? { domain: [0, 1] } : { zero: false },
      ...(boolean ? { axis: { values: [0, 1], labelExpr: "datum.value ? 'true' : 'false'" } } : { axis: { tickCount: 4 } }),
    };
    return {
      width,
      height: 60,
      title: { text: `${signal}${info?.unit ? ` (${info.unit})` : ''}`, anchor: 'start' as const, fontSize: 11, offset: 4 },
      layer: [
        {
          data: { name: 'readings' },
          transform: [{ filter: { field: 'signal', equal: signal } }],
          mark: { type: 'point' as const, filled: true, size: 10 },
          encoding: { x: xEnc, y, color: colorEnc },
        },
        {
          data: { name: 'seen' },
          transform: [{ filter: { field: 'signal', equal: signal } }],
          mark: { type: 'line' as const, interpolate: 'step-after' as const, strokeWidth: 1.5 },
          encoding: { x: xEnc, y, color: colorEnc },
        },
        {
          data: { name: 'thresholds' },
          transform: [{ filter: { field: 'signal', equal: signal } }],
          layer: [
            { mark: { type: 'rule' as const, strokeDash: [4, 3], color: '#d62728' }, encoding: { y } },
            {
              mark: { type: 'text' as const, align: 'left' as const, baseline: 'bottom' as const, dx: 3, dy: -2, fontSize: 9, color: '#d62728' },
              encoding: { x: { datum: 0, type: 'quantitative' as const }, y, text: { field: 'label' } },
            },
          ],
        },
      ],
    };
  };
  const stitchY = { field: 'macs', type: 'quantitative' as const, title: giga ? 'GMACs' : 'MMACs', scale: { zero: true } };
  const stitchPanel = {
    width,
    height: 140,
    title: { text: 'Active stitch (#id) and its cost; shaded: no stitch met every limit', anchor: 'start' as const, fontSize: 11, offset: 4 },
    layer: [
      {
        data: { name: 'overBudget' },
        mark: { type: 'rect' as const, color: '#d62728', opacity: 0.12 },
        encoding: { x: { ...lastX, field: 't' }, x2: { field: 't2' } },
      },
      {
        data: { name: 'stitches' },
        mark: { type: 'line' as const, interpolate: 'step-after' as const, color: '#333', strokeWidth: 2 },
        encoding: { x: lastX, y: stitchY },
      },
      {
        data: { name: 'stitches' },
        transform: [{ filter: "datum.direction !== 'end'" }],
        mark: { type: 'point' as const, filled: true, size: 50 },
        encoding: {
          x: lastX,
          y: stitchY,
          color: { field: 'direction', type: 'nominal' as const, title: 'Switch', scale: { domain: ['initial', 'degrade', 'upgrade'], range: ['#555', '#d62728', '#2ca02c'] } },
        },
      },
      {
        data: { name: 'stitches' },
        mark: { type: 'text' as const, dy: -9, fontSize: 10 },
        encoding: { x: lastX, y: stitchY, text: { field: 'label' } },
      },
    ],
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: { text: options.title, anchor: 'start' as const } } : {}),
    datasets: { readings, seen, thresholds, stitches: line, overBudget: spans },
    config: { font: 'DejaVu Sans, sans-serif', background: 'white', view: { stroke: '#ddd' } },
    vconcat: [...signals.map(signalPanel), ...(line.length > 0 ? [stitchPanel] : [])],
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec;
}
