/**
 * The Pareto plot of a stitch package: accuracy against MACs and, when profiled, against
 * measured latency. Every stitch is a point; anchors are marked and labelled, the frontier is
 * drawn as a line through its stitches, and a dashed line joins the anchors (what plain model
 * selection offers). Drawn with Vega-Lite, rendered to SVG by Vega and to PNG by resvg.
 */
import type { TopLevelSpec } from 'vega-lite';
import { BuilderError } from '../errors.js';
import type { Manifest, RouteStep } from '../package/schema.js';
import { frontierByLatency, frontierByMacs } from './frontier.js';

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
  gmacs: number | null;
  latencyMs: number | null;
  frontierMacs: boolean;
  frontierLatency: boolean;
}

/** Which provider and batch the latency panel shows, or undefined when nothing was profiled. */
export function latencyView(manifest: Manifest, options: PlotOptions = {}): { provider: string; batch: string } | undefined {
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

/**
 * The Vega-Lite spec of the Pareto plot.
 *
 * @throws BuilderError `BUILD_DATA_INVALID` when no stitch has an accuracy.
 */
export function paretoSpec(manifest: Manifest, options: PlotOptions = {}): TopLevelSpec {
  const withAcc = manifest.stitches.filter((s) => s.accuracy !== undefined);
  if (withAcc.length === 0) {
    throw new BuilderError('BUILD_DATA_INVALID', `Package "${manifest.name}" has no accuracy for any stitch, so there is nothing to plot`, {
      hint: 'Build the package with an evaluation set (--eval) to measure accuracy',
    });
  }
  const view = latencyView(manifest, options);
  const byMacs = new Set(frontierByMacs(manifest.stitches));
  const byLatency = new Set(view ? frontierByLatency(manifest.stitches, view.provider, view.batch) : []);
  const rows: Row[] = withAcc.map((s) => {
    const isAnchor = s.route.length === 1;
    const first = s.route[0];
    const lat = view ? s.latency?.[view.provider]?.[view.batch]?.p50Ms : undefined;
    return {
      id: s.id,
      route: describeRoute(s.route),
      kind: isAnchor ? 'anchor' : 'stitch',
      label: isAnchor && first && 'anchor' in first ? first.anchor : '',
      accuracy: (s.accuracy as number) * 100,
      gmacs: s.macs !== undefined ? s.macs / 1e9 : null,
      latencyMs: lat ?? null,
      frontierMacs: byMacs.has(s.id),
      frontierLatency: byLatency.has(s.id),
    };
  });
  const width = options.width ?? 420;
  const panel = (field: 'gmacs' | 'latencyMs', title: string, frontierField: 'frontierMacs' | 'frontierLatency') => {
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
            shape: { field: 'kind', type: 'nominal' as const, title: 'Kind', scale: { domain: ['anchor', 'stitch'], range: ['diamond', 'circle'] } },
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
  const panels = [panel('gmacs', 'GMACs (one sample)', 'frontierMacs')];
  if (view) panels.push(panel('latencyMs', `Median latency, ${view.provider}, batch ${view.batch} (ms)`, 'frontierLatency'));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `${manifest.name}: accuracy vs cost (${withAcc.length} stitches)`, anchor: 'start' },
    data: { values: rows },
    config: { font: 'DejaVu Sans, sans-serif', background: 'white' },
    hconcat: panels,
  } as TopLevelSpec;
}

/** Renders a Vega-Lite spec to SVG text (headless, no canvas needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG text to PNG bytes at `scale` times its size (default 2). */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  const r = new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return new Uint8Array(r.render().asPng());
}

/** The Pareto plot of a package as SVG text and PNG bytes. */
export async function paretoPlot(manifest: Manifest, options: PlotOptions = {}): Promise<{ svg: string; png: Uint8Array }> {
  const svg = await renderSvg(paretoSpec(manifest, options));
  return { svg, png: await svgToPng(svg) };
}
