/**
 * The Pareto plot of a stitch package: accuracy against MACs and, when profiled, against
 * measured latency. Every stitch is a point; anchors are marked and labelled, the frontier is
 * drawn as a line through its stitches, and a dashed line joins the anchors (what plain model
 * selection offers). The comparison plot overlays packages of one family (e.g. before and after
 * fine-tuning) on one accuracy-vs-MACs chart. Drawn with Vega-Lite, rendered to SVG by Vega and
 * to PNG by resvg.
 */
import type { TopLevelSpec } from 'vega-lite';
import { macsUnit } from '../base/macs.js';
import { importOptional } from '../base/optional.js';
import { BuilderError } from '../errors.js';
import type { Manifest, RouteStep, Stitch } from '../package/schema.js';
import { frontierByLatency, frontierByMacs } from '../builder/frontier.js';

export interface PlotOptions {
  /** Provider of the latency panel; default: the one with the most measured stitches. */
  provider?: string;
  /** Batch size of the latency panel; default: the smallest measured on that provider. */
  batch?: number | string;
  /** Width of each panel in pixels (default 420). */
  width?: number;
}

interface Row {
  id: number;
  route: string;
  kind: 'anchor' | 'stitch';
  label: string;
  accuracy: number;
  /** MACs of one sample in the plot's unit ({@link macsUnit} of the package). */
  macs: number | null;
  latencyMs: number | null;
  frontierMacs: boolean;
  frontierLatency: boolean;
}

/** Which provider and batch the latency panel shows, or undefined when nothing was profiled. */
export function latencyView(
  manifest: Manifest,
  options: PlotOptions = {},
): { provider: string; batch: string } | undefined {
  const counts = new Map<string, Map<string, number>>();
  for (const s of manifest.stitches) {
    for (const [p, byBatch] of Object.entries(s.latency ?? {})) {
      const m = counts.get(p) ?? new Map<string, number>();
      for (const b of Object.keys(byBatch)) m.set(b, (m.get(b) ?? 0) + 1);
      counts.set(p, m);
    }
  }
  const total = (p: string) => [...(counts.get(p)?.values() ?? [])].reduce((a, b) => a + b, 0);
  const provider = options.provider ?? [...counts.keys()].sort((a, b) => total(b) - total(a))[0];
  if (provider === undefined || !counts.has(provider)) return undefined;
  const batches = [...(counts.get(provider)?.keys() ?? [])].sort((a, b) => Number(a) - Number(b));
  const batch = options.batch !== undefined ? String(options.batch) : batches[0];
  if (batch === undefined || !batches.includes(batch)) return undefined;
  return { provider, batch };
}

/** A route in words, e.g. `ti[0-7] → ti-s.6 → s[7-11]`. */
export function describeRoute(route: readonly RouteStep[]): string {
  return route.map((s) => ('anchor' in s ? `${s.anchor}[${s.blocks[0]}-${s.blocks[1]}]` : s.stitchLayer)).join(' → ');
}

/** What every plotted point shows of its stitch: id, route in words, kind, anchor label, accuracy in %. */
function pointOf(s: Stitch): { id: number; route: string; kind: 'anchor' | 'stitch'; label: string; accuracy: number } {
  const first = s.route[0];
  const isAnchor = s.route.length === 1;
  return {
    id: s.id,
    route: describeRoute(s.route),
    kind: isAnchor ? 'anchor' : 'stitch',
    label: isAnchor && first && 'anchor' in first ? first.anchor : '',
    accuracy: (s.accuracy ?? Number.NaN) * 100,
  };
}

/** BUILD_DATA_INVALID for a package (`subject`, e.g. `Package "x"`) none of whose stitches has an accuracy. */
function noAccuracyError(subject: string, consequence: string): BuilderError {
  return new BuilderError('BUILD_DATA_INVALID', `${subject} has no accuracy for any stitch, so ${consequence}`, {
    hint: 'Build the package with an evaluation set (--eval) to measure accuracy',
  });
}

/**
 * The Vega-Lite spec of the Pareto plot.
 *
 * @throws BuilderError `BUILD_DATA_INVALID` when no stitch has an accuracy.
 */
export function paretoSpec(manifest: Manifest, options: PlotOptions = {}): TopLevelSpec {
  const withAcc = manifest.stitches.filter((s) => s.accuracy !== undefined);
  if (withAcc.length === 0) throw noAccuracyError(`Package "${manifest.name}"`, 'there is nothing to plot');
  const view = latencyView(manifest, options);
  const byMacs = new Set(frontierByMacs(manifest.stitches));
  const byLatency = new Set(view ? frontierByLatency(manifest.stitches, view.provider, view.batch) : []);
  const unit = macsUnit(withAcc.flatMap((s) => (s.macs === undefined ? [] : [s.macs])));
  const rows: Row[] = withAcc.map((s) => {
    const lat = view ? s.latency?.[view.provider]?.[view.batch]?.p50Ms : undefined;
    return {
      ...pointOf(s),
      macs: s.macs !== undefined ? s.macs / unit.scale : null,
      latencyMs: lat ?? null,
      frontierMacs: byMacs.has(s.id),
      frontierLatency: byLatency.has(s.id),
    };
  });
  const width = options.width ?? 420;
  const panel = (field: 'macs' | 'latencyMs', title: string, frontierField: 'frontierMacs' | 'frontierLatency') => {
    const x = { field, type: 'quantitative' as const, title, scale: { zero: false } };
    const y = { field: 'accuracy', type: 'quantitative' as const, title: 'Top-1 accuracy (%)', scale: { zero: false } };
    return {
      width,
      height: 300,
      transform: [{ filter: `datum.${field} !== null` }],
      layer: [
        {
          mark: { type: 'line' as const, strokeDash: [6, 4], color: '#888' },
          transform: [{ filter: "datum.kind === 'anchor'" }],
          encoding: { x, y, order: { field, type: 'quantitative' as const } },
        },
        {
          mark: { type: 'line' as const, color: '#d62728', strokeWidth: 2 },
          transform: [{ filter: `datum.${frontierField}` }],
          encoding: { x, y, order: { field, type: 'quantitative' as const } },
        },
        {
          mark: { type: 'point' as const, filled: true, size: 40, opacity: 0.75 },
          encoding: {
            x,
            y,
            color: {
              field: frontierField,
              type: 'nominal' as const,
              title: 'On frontier',
              scale: { domain: [true, false], range: ['#d62728', '#1f77b4'] },
            },
            shape: {
              field: 'kind',
              type: 'nominal' as const,
              title: 'Kind',
              scale: { domain: ['anchor', 'stitch'], range: ['diamond', 'circle'] },
            },
            size: { condition: { test: "datum.kind === 'anchor'", value: 160 }, value: 40 },
            tooltip: [
              { field: 'id', type: 'quantitative' as const },
              { field: 'route', type: 'nominal' as const },
              { field: 'accuracy', type: 'quantitative' as const, format: '.2f' },
              { field, type: 'quantitative' as const, format: '.3f' },
            ],
          },
        },
        {
          mark: { type: 'text' as const, dy: -12, fontWeight: 'bold' as const },
          transform: [{ filter: "datum.kind === 'anchor'" }],
          encoding: { x, y, text: { field: 'label', type: 'nominal' as const } },
        },
      ],
    };
  };
  const panels = [panel('macs', `${unit.name} (one sample)`, 'frontierMacs')];
  if (view)
    panels.push(panel('latencyMs', `Median latency, ${view.provider}, batch ${view.batch} (ms)`, 'frontierLatency'));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `${manifest.name}: accuracy vs cost (${withAcc.length} stitches)`, anchor: 'start' },
    data: { values: rows },
    config: { font: 'DejaVu Sans, sans-serif', background: 'white' },
    hconcat: panels,
  } as TopLevelSpec;
}

/** One package of a comparison plot and the name it goes by in the legend. */
export interface CompareSeries {
  label: string;
  manifest: Manifest;
}

export interface CompareOptions {
  /** Width of the panel in pixels (default 420). */
  width?: number;
  /** Plot title (default `<label1> vs <label2> …: accuracy vs MACs`). */
  title?: string;
}

/** The categorical palette of the comparison plot's series, in legend order (repeats after ten). */
export const SERIES_PALETTE: readonly string[] = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

interface CompareRow {
  series: string;
  id: number;
  route: string;
  kind: 'anchor' | 'stitch';
  label: string;
  accuracy: number;
  /** MACs of one sample (scaled to the plot's unit by compareSpec). */
  macs: number;
}

/** The plottable rows of one series: stitches with both an accuracy and MACs. */
function seriesRows({ label, manifest }: CompareSeries): CompareRow[] {
  if (!manifest.stitches.some((s) => s.accuracy !== undefined))
    throw noAccuracyError(`Package "${manifest.name}" (series "${label}")`, 'it cannot be compared');
  const rows = manifest.stitches.flatMap((s): CompareRow[] =>
    s.accuracy === undefined || s.macs === undefined ? [] : [{ series: label, ...pointOf(s), macs: s.macs }],
  );
  if (rows.length === 0) {
    throw new BuilderError(
      'BUILD_DATA_INVALID',
      `Package "${manifest.name}" (series "${label}") records no MACs for its stitches with an accuracy, so they have no place on the MACs axis`,
      {
        hint: 'Rebuild the package with stitchnet build, which records the MACs of every stitch',
      },
    );
  }
  return rows;
}

/**
 * The Vega-Lite spec of a comparison plot: several packages of one family (e.g. before and after
 * fine-tuning) on one accuracy-vs-MACs panel. Every stitch with an accuracy and MACs is a point
 * coloured by its series; anchors are diamonds labelled with their id, and each series has a
 * dashed line through its anchors in its colour.
 *
 * @throws BuilderError `BUILD_DATA_INVALID` with fewer than two series, repeated labels, or a
 * series without a stitch that has both an accuracy and MACs.
 */
export function compareSpec(series: readonly CompareSeries[], options: CompareOptions = {}): TopLevelSpec {
  if (series.length < 2) {
    throw new BuilderError('BUILD_DATA_INVALID', `A comparison plot needs at least 2 packages, got ${series.length}`, {
      hint: 'Pass the other packages of the family to compare against',
    });
  }
  const labels = series.map((s) => s.label);
  const repeated = labels.find((l, i) => labels.indexOf(l) !== i);
  if (repeated !== undefined) {
    throw new BuilderError(
      'BUILD_DATA_INVALID',
      `The series label "${repeated}" is used more than once, so its packages would share a colour`,
      {
        hint: 'Give every package of the comparison its own label',
      },
    );
  }
  const raw = series.flatMap(seriesRows);
  const unit = macsUnit(raw.map((r) => r.macs));
  const rows = raw.map((r) => ({ ...r, macs: r.macs / unit.scale }));
  const x = {
    field: 'macs',
    type: 'quantitative' as const,
    title: `${unit.name} (one sample)`,
    scale: { zero: false },
  };
  const y = { field: 'accuracy', type: 'quantitative' as const, title: 'Top-1 accuracy (%)', scale: { zero: false } };
  const color = {
    field: 'series',
    type: 'nominal' as const,
    title: 'Package',
    legend: { labelLimit: 400 },
    scale: { domain: labels, range: labels.map((_, i) => SERIES_PALETTE[i % SERIES_PALETTE.length] as string) },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: options.title ?? `${labels.join(' vs ')}: accuracy vs MACs`, anchor: 'start' },
    data: { values: rows },
    config: { font: 'DejaVu Sans, sans-serif', background: 'white' },
    width: options.width ?? 420,
    height: 300,
    layer: [
      {
        mark: { type: 'line', strokeDash: [6, 4], strokeWidth: 1.5 },
        transform: [{ filter: "datum.kind === 'anchor'" }],
        encoding: { x, y, color, order: { field: 'macs', type: 'quantitative' } },
      },
      {
        mark: { type: 'point', filled: true, size: 40, opacity: 0.75 },
        encoding: {
          x,
          y,
          color,
          shape: {
            field: 'kind',
            type: 'nominal',
            title: 'Kind',
            scale: { domain: ['anchor', 'stitch'], range: ['diamond', 'circle'] },
          },
          size: { condition: { test: "datum.kind === 'anchor'", value: 160 }, value: 40 },
          tooltip: [
            { field: 'series', type: 'nominal' },
            { field: 'id', type: 'quantitative' },
            { field: 'route', type: 'nominal' },
            { field: 'accuracy', type: 'quantitative', format: '.2f' },
            { field: 'macs', type: 'quantitative', title: unit.name, format: '.4~g' },
          ],
        },
      },
      {
        mark: { type: 'text', dy: -12, fontWeight: 'bold' },
        transform: [{ filter: "datum.kind === 'anchor'" }],
        encoding: { x, y, color, text: { field: 'label', type: 'nominal' } },
      },
    ],
  } as TopLevelSpec;
}

/** Renders a Vega-Lite spec to SVG text (headless, no canvas needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vl] = await Promise.all([
    importOptional('vega', () => import('vega')),
    importOptional('vega-lite', () => import('vega-lite')),
  ]);
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG text to PNG bytes at `scale` times its size (default 2). */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const { Resvg } = await importOptional('@resvg/resvg-js', () => import('@resvg/resvg-js'));
  const r = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return new Uint8Array(r.render().asPng());
}

/** The Pareto plot of a package as SVG text and PNG bytes. */
export async function paretoPlot(
  manifest: Manifest,
  options: PlotOptions = {},
): Promise<{ svg: string; png: Uint8Array }> {
  const svg = await renderSvg(paretoSpec(manifest, options));
  return { svg, png: await svgToPng(svg) };
}

/** The comparison plot of several packages as SVG text and PNG bytes (see {@link compareSpec}). */
export async function comparePlot(
  series: readonly CompareSeries[],
  options: CompareOptions = {},
): Promise<{ svg: string; png: Uint8Array }> {
  const svg = await renderSvg(compareSpec(series, options));
  return { svg, png: await svgToPng(svg) };
}
