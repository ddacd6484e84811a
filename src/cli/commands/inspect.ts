/**
 * `stitchnet inspect <dir>`: a package's stitch table and, with `--plot`, its Pareto plot, or with
 * `--compare`, a plot of the package against others of its family (e.g. before and after
 * fine-tuning).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { compareSpec, renderSvg, svgToPng } from '../../plots/index.js';
import { formatStitchTable, inspectPackage, type Inspection } from '../inspect-table.js';
import { collectPlot, plotTargets, plotValues, writePlot, type PlotOption, type PlotTarget } from '../plot-output.js';
import { note, styler } from '../style.js';
import { OptionError } from '../../errors.js';
import { readPackage } from '../../package/index.js';
import type { Manifest } from '../../package/schema.js';
import { positiveInt } from '../options.js';

interface InspectCliOptions {
  plot?: PlotOption;
  provider?: string;
  batch?: number;
  width?: number;
  json?: boolean;
  compare?: string[];
  labels?: string;
}

/** One package of a comparison plot: its folder, manifest name and legend label. */
export interface CompareEntry {
  dir: string;
  name: string;
  label: string;
}

/**
 * Where `--plot` without a value writes: `<package name>-pareto.svg`, or with `--compare`
 * `<package name>-compare.svg`, in the current folder.
 */
export function defaultPlotFile(manifest: Manifest, kind: 'pareto' | 'compare' = 'pareto'): string {
  return `${manifest.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${kind}.svg`;
}

/**
 * Splits `--labels`: one non-empty, distinct label per package, in the order of `dirs` (`<dir>`
 * first, then the `--compare` folders).
 *
 * @throws OptionError `OPTION_INVALID` when the count is not `dirs.length` or a label repeats.
 */
export function parseLabels(list: string, dirs: readonly string[]): string[] {
  const labels = list.split(',').map((l) => l.trim());
  if (labels.length !== dirs.length || labels.some((l) => l === '')) {
    throw new OptionError(
      'OPTION_INVALID',
      `--labels needs ${dirs.length} non-empty comma-separated labels (<dir> first, then one per --compare folder), got ${JSON.stringify(list)}`,
      {
        option: '--labels',
        hint: `Give ${dirs.length} labels, in this order: ${dirs.join(', ')}`,
      },
    );
  }
  const repeated = labels.find((l, i) => labels.indexOf(l) !== i);
  if (repeated !== undefined) {
    throw new OptionError('OPTION_INVALID', `--labels uses "${repeated}" more than once`, {
      option: '--labels',
      hint: 'Give every package its own label',
    });
  }
  return labels;
}

/**
 * The default legend labels of a comparison: each manifest's name, or when names repeat each
 * folder's name, or when those repeat too the full folder paths.
 */
export function defaultLabels(packages: readonly { dir: string; manifest: Manifest }[]): string[] {
  const unique = (xs: string[]) => new Set(xs).size === xs.length;
  const full = packages.map((p) => path.resolve(p.dir));
  return (
    [packages.map((p) => p.manifest.name), packages.map((p) => path.basename(path.resolve(p.dir)))].find(unique) ?? full
  );
}

/** Checks `--provider` / `--batch` against what the package measured. */
function checkLatencyChoice(manifest: Manifest, o: InspectCliOptions): void {
  if (o.provider === undefined && o.batch === undefined) return;
  const measured = new Map<string, Set<string>>();
  for (const s of manifest.stitches) {
    for (const [p, byBatch] of Object.entries(s.latency ?? {})) {
      const batches = measured.get(p) ?? new Set<string>();
      for (const b of Object.keys(byBatch)) batches.add(b);
      measured.set(p, batches);
    }
  }
  if (measured.size === 0) {
    throw new OptionError(
      'OPTION_INVALID',
      `${o.provider !== undefined ? '--provider' : '--batch'} chooses a latency column, but the package was not profiled`,
      {
        option: o.provider !== undefined ? '--provider' : '--batch',
        hint: 'Build it with --profile <provider> to measure latency',
      },
    );
  }
  if (o.provider !== undefined && !measured.has(o.provider)) {
    throw new OptionError('OPTION_INVALID', `The package has no latency measured on "${o.provider}"`, {
      option: '--provider',
      validValues: [...measured.keys()],
    });
  }
  const batches = [
    ...(o.provider !== undefined
      ? (measured.get(o.provider) as Set<string>)
      : new Set([...measured.values()].flatMap((b) => [...b]))),
  ];
  if (o.batch !== undefined && !batches.includes(String(o.batch))) {
    throw new OptionError('OPTION_INVALID', `The package has no latency measured at batch ${o.batch}`, {
      option: '--batch',
      validValues: batches.map(Number).sort((a, b) => a - b),
    });
  }
}

/** The inspection as JSON: the table rows with what they show, the plot files and the compared packages. */
export function inspectionReport(dir: string, r: Inspection, compare?: readonly CompareEntry[]) {
  return {
    dir: path.resolve(dir),
    name: r.manifest.name,
    stitches: r.rows,
    frontier: r.manifest.frontier,
    evaluation: r.manifest.evaluation ?? null,
    latency: r.latency ?? null,
    plot: r.plot ?? null,
    compare: compare ?? null,
    notes: r.notes,
  };
}

/** Reads the `--compare` packages, labels every package and writes the comparison plot to the `--plot` files. */
async function writeComparePlot(
  dir: string,
  main: Manifest,
  o: InspectCliOptions,
  given: string[] | undefined,
  targets: readonly PlotTarget[],
): Promise<{ entries: CompareEntry[]; plot: string[] }> {
  // Only their manifests are plotted: read them as the option checks do (no hashing, no model decoding).
  const others = await Promise.all(
    (o.compare ?? []).map(async (d) => ({
      dir: d,
      manifest: (await readPackage(d, { verifyHashes: false, loadModels: false })).manifest,
    })),
  );
  const packages = [{ dir, manifest: main }, ...others];
  const labels = given ?? defaultLabels(packages);
  const series = packages.map((p, i) => ({ label: labels[i] as string, manifest: p.manifest }));
  const plot = await writePlot(
    targets,
    await renderSvg(compareSpec(series, o.width !== undefined ? { width: o.width } : {})),
    svgToPng,
  );
  return {
    entries: packages.map((p, i) => ({ dir: path.resolve(p.dir), name: p.manifest.name, label: labels[i] as string })),
    plot,
  };
}

/** Checks that `--compare` comes with `--plot` and `--labels` with `--compare`; returns the labels given. */
function checkCompareChoice(dir: string, o: InspectCliOptions): string[] | undefined {
  if (o.compare !== undefined && o.plot === undefined) {
    throw new OptionError('OPTION_INVALID', '--compare overlays packages on a plot, but no plot was asked for', {
      option: '--compare',
      hint: 'Add --plot <file>.svg (or .png) to write the comparison plot',
    });
  }
  if (o.labels !== undefined && o.compare === undefined) {
    throw new OptionError(
      'OPTION_INVALID',
      '--labels names the packages of a comparison plot, but there is no --compare',
      {
        option: '--labels',
        hint: 'Add --compare <dirs...> --plot <file>.svg, or drop --labels',
      },
    );
  }
  return o.labels !== undefined && o.compare !== undefined ? parseLabels(o.labels, [dir, ...o.compare]) : undefined;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(
      'Print the stitch table of a package (id, route, MACs, params, accuracy, latency, frontier) and plot its Pareto front, ' +
        'or with --compare, plot it against other packages of its family (e.g. before and after fine-tuning) on one accuracy-vs-MACs chart.',
    )
    .argument('<dir>', 'the package folder')
    .option(
      '--plot [file]',
      'write the Pareto plot (with --compare: the comparison plot) to <file>; its extension (.svg or .png) picks the format; repeat for both (default: <package name>-pareto.svg, with --compare <package name>-compare.svg, in the current folder)',
      collectPlot,
    )
    .option(
      '--compare <dirs...>',
      'other package folders of the same family to overlay on the plot (needs --plot; the table stays the one of <dir>)',
    )
    .option(
      '--labels <list>',
      'comma-separated legend labels of the comparison, <dir> first, then one per --compare folder (default: the package names, or the folder names when those repeat)',
    )
    .option('--provider <name>', 'provider of the latency column and plot (default: the most measured one)')
    .option(
      '--batch <n>',
      'batch size of the latency column and plot (default: the smallest measured)',
      positiveInt('--batch'),
    )
    .option('--width <px>', 'width of each plot panel in pixels (default 420)', positiveInt('--width'))
    .option('--json', 'print the table as JSON on stdout')
    .action(async (dir: string, o: InspectCliOptions) => {
      const labels = checkCompareChoice(dir, o);
      const comparing = o.compare !== undefined;
      const values = plotValues(o.plot);
      plotTargets(
        '--plot',
        values.filter((v) => v !== true),
      ); // the file names, checked before any reading
      const needsManifest = values.includes(true) || o.provider !== undefined || o.batch !== undefined;
      // A light read (no hashes, no model decoding) for the option checks; inspectPackage verifies it all.
      const manifest = needsManifest
        ? (await readPackage(dir, { verifyHashes: false, loadModels: false })).manifest
        : undefined;
      if (manifest) checkLatencyChoice(manifest, o);
      const plot =
        values.length === 0
          ? undefined
          : plotTargets('--plot', values, manifest && defaultPlotFile(manifest, comparing ? 'compare' : 'pareto'));
      const r = await inspectPackage(dir, {
        ...(plot !== undefined && !comparing ? { plot } : {}),
        ...(o.provider !== undefined ? { provider: o.provider } : {}),
        ...(o.batch !== undefined ? { batch: o.batch } : {}),
        ...(o.width !== undefined ? { width: o.width } : {}),
      });
      const compared =
        comparing && plot !== undefined ? await writeComparePlot(dir, r.manifest, o, labels, plot) : undefined;
      if (compared) r.plot = compared.plot;
      if (o.json) {
        process.stdout.write(`${JSON.stringify(inspectionReport(dir, r, compared?.entries), null, 2)}\n`);
        return;
      }
      process.stdout.write(`${formatStitchTable(r, styler(process.stdout))}\n`);
      if (r.plot) note(`wrote the ${compared ? 'comparison' : 'Pareto'} plot to ${r.plot.join(' and ')}`);
      for (const n of r.notes) note(n);
    });
}
