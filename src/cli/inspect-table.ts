/**
 * `inspectPackage`: the stitch table of a package and, when it has accuracies, its Pareto plot.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readPackage } from '../package/index.js';
import type { Manifest } from '../package/schema.js';
import { frontierByLatency } from '../builder/frontier.js';
import { describeRoute, latencyView, paretoPlot, type PlotOptions } from '../plots/plot.js';

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
  /** Write the Pareto plot to `<plot>.svg` and `<plot>.png` (a path without extension). */
  plot?: string;
}

export interface Inspection {
  manifest: Manifest;
  rows: StitchRow[];
  /** The provider and batch the latency columns show, when the package was profiled. */
  latency?: { provider: string; batch: string; device?: string };
  /** The plot files written, when asked for and the package has accuracies. */
  plot?: { svg: string; png: string };
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
  const device = view ? manifest.stitches.map((s) => s.latency?.[view.provider]?.[view.batch]?.device).find((d) => d !== undefined) : undefined;
  const result: Inspection = { manifest, rows, notes: [], ...(view ? { latency: { ...view, ...(device ? { device } : {}) } } : {}) };
  if (options.plot !== undefined) {
    if (manifest.stitches.some((s) => s.accuracy !== undefined)) {
      result.plot = await writePlotFiles(options.plot, await paretoPlot(manifest, options));
    } else {
      result.notes.push('The package has no accuracies (built without --eval), so there is no Pareto plot.');
    }
  }
  return result;
}

/** The stitch table as aligned plain text, one stitch per line. */
export function formatStitchTable(inspection: Inspection): string {
  const lat = inspection.latency;
  const header = ['id', 'route', 'GMACs', 'params (M)', 'top-1 %', ...(lat ? [`p50 ms`, `p95 ms`] : []), 'frontier'];
  const lines = inspection.rows.map((r) => [
    String(r.id),
    r.route,
    r.macs !== undefined ? (r.macs / 1e9).toFixed(3) : '-',
    r.params !== undefined ? (r.params / 1e6).toFixed(3) : '-',
    r.accuracy !== undefined ? (r.accuracy * 100).toFixed(2) : '-',
    ...(lat ? [r.p50Ms !== undefined ? r.p50Ms.toFixed(3) : '-', r.p95Ms !== undefined ? r.p95Ms.toFixed(3) : '-'] : []),
    [r.frontier ? 'MACs' : '', r.latencyFrontier ? 'latency' : ''].filter(Boolean).join('+') || '',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] as string).length)));
  const numeric = new Set([0, 2, 3, 4, 5, 6].filter((c) => c < header.length - 1));
  const fmt = (cells: string[]) => cells.map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number))).join('  ').trimEnd();
  const title = `${inspection.manifest.name}: ${inspection.rows.length} stitches${lat ? `, latency on ${lat.provider} batch ${lat.batch}${lat.device ? ` (${lat.device})` : ''}` : ''}`;
  return [title, fmt(header), ...lines.map(fmt)].join('\n');
}

/** Writes a rendered plot to `<prefix>.svg` and `<prefix>.png` (creating the folder); returns the two paths. */
export async function writePlotFiles(prefix: string, plot: { svg: string; png: Uint8Array }): Promise<{ svg: string; png: string }> {
  const files = { svg: `${prefix}.svg`, png: `${prefix}.png` };
  await mkdir(path.dirname(path.resolve(files.svg)), { recursive: true });
  await writeFile(files.svg, plot.svg);
  await writeFile(files.png, plot.png);
  return files;
}
