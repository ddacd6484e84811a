/**
 * `inspectPackage`: the stitch table of a package and, when it has accuracies, its Pareto plot.
 */
import { readPackage } from '../package/index.js';
import type { Manifest } from '../package/schema.js';
import { frontierByLatency } from '../builder/frontier.js';
import { describeRoute, latencyView, paretoSpec, renderSvg, svgToPng, type PlotOptions } from '../plots/plot.js';
import { macsUnit } from '../base/macs.js';
import { writePlot, type PlotTarget } from './plot-output.js';
import type { styler } from './style.js';

/** One line of the stitch table. */
export interface StitchRow {
  id: number;
  /** The route in words, e.g. `ti[0-7] → ti-s.6 → s[7-11]`. */
  route: string;
  positions?: string;
  macs?: number;
  params?: number;
  accuracy?: number;
  /** Latency on the shown provider and batch. */
  p50Ms?: number;
  p95Ms?: number;
  /** On the Pareto frontier by MACs (the package's `frontier`). */
  frontier: boolean;
  /** On the Pareto frontier by the shown latency. */
  latencyFrontier: boolean;
}

export interface InspectOptions extends PlotOptions {
  /** Write the Pareto plot to these files (the extension picks SVG or PNG). */
  plot?: readonly PlotTarget[];
}

export interface Inspection {
  manifest: Manifest;
  rows: StitchRow[];
  /** The provider and batch the latency columns show, when the package was profiled. */
  latency?: { provider: string; batch: string; device?: string };
  /** The plot files written, when asked for and the package has accuracies. */
  plot?: string[];
  /** Why something asked for was not done (e.g. no accuracy to plot). */
  notes: string[];
}

/**
 * Reads and verifies a package and lays out its stitch table; writes the Pareto plot when asked.
 *
 * @throws PackageError when the package does not read.
 */
export async function inspectPackage(dir: string, options: InspectOptions = {}): Promise<Inspection> {
  const { manifest } = await readPackage(dir);
  const view = latencyView(manifest, options);
  const onFrontier = new Set(manifest.frontier);
  const onLatency = new Set(view ? frontierByLatency(manifest.stitches, view.provider, view.batch) : []);
  const rows = manifest.stitches.map((s): StitchRow => {
    const lat = view ? s.latency?.[view.provider]?.[view.batch] : undefined;
    return {
      id: s.id,
      route: describeRoute(s.route),
      ...(s.positions ? { positions: s.positions.map(([j, k]) => `(${j},${k})`).join(' ') } : {}),
      ...(s.macs !== undefined ? { macs: s.macs } : {}),
      ...(s.params !== undefined ? { params: s.params } : {}),
      ...(s.accuracy !== undefined ? { accuracy: s.accuracy } : {}),
      ...(lat ? { p50Ms: lat.p50Ms, p95Ms: lat.p95Ms } : {}),
      frontier: onFrontier.has(s.id),
      latencyFrontier: onLatency.has(s.id),
    };
  });
  const device = view
    ? manifest.stitches.map((s) => s.latency?.[view.provider]?.[view.batch]?.device).find((d) => d !== undefined)
    : undefined;
  const result: Inspection = {
    manifest,
    rows,
    notes: [],
    ...(view ? { latency: { ...view, ...(device ? { device } : {}) } } : {}),
  };
  if (options.plot !== undefined && options.plot.length > 0) {
    if (manifest.stitches.some((s) => s.accuracy !== undefined)) {
      result.plot = await writePlot(options.plot, await renderSvg(paretoSpec(manifest, options)), svgToPng);
    } else {
      result.notes.push('The package has no accuracies (built without --eval), so there is no Pareto plot.');
    }
  }
  return result;
}

/**
 * The stitch table as aligned text, one stitch per line; MACs in one unit for the whole table
 * (that of its largest value). `color` styles the title and header for a terminal.
 */
export function formatStitchTable(inspection: Inspection, color: ReturnType<typeof styler> = (_, t) => t): string {
  const lat = inspection.latency;
  const unit = macsUnit(inspection.rows.map((r) => r.macs ?? 0));
  const header = ['id', 'route', unit.name, 'params (M)', 'top-1 %', ...(lat ? [`p50 ms`, `p95 ms`] : []), 'frontier'];
  const lines = inspection.rows.map((r) => [
    String(r.id),
    r.route,
    r.macs !== undefined ? unit.format(r.macs) : '-',
    r.params !== undefined ? (r.params / 1e6).toFixed(3) : '-',
    r.accuracy !== undefined ? (r.accuracy * 100).toFixed(2) : '-',
    ...(lat
      ? [r.p50Ms !== undefined ? r.p50Ms.toFixed(3) : '-', r.p95Ms !== undefined ? r.p95Ms.toFixed(3) : '-']
      : []),
    [r.frontier ? 'MACs' : '', r.latencyFrontier ? 'latency' : ''].filter(Boolean).join('+') || '',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] as string).length)));
  const numeric = new Set([0, 2, 3, 4, 5, 6].filter((c) => c < header.length - 1));
  const fmt = (cells: string[]) =>
    cells
      .map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number)))
      .join('  ')
      .trimEnd();
  const title = `${inspection.manifest.name}: ${inspection.rows.length} stitches${lat ? `, latency on ${lat.provider} batch ${lat.batch}${lat.device ? ` (${lat.device})` : ''}` : ''}`;
  return [color('bold', title), color('dim', fmt(header)), ...lines.map(fmt)].join('\n');
}
