/**
 * `stitchnet inspect <dir>`: a package's stitch table and, with `--plot`, its Pareto plot.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { formatStitchTable, inspectPackage, type Inspection } from '../../builder/index.js';
import { OptionError } from '../../errors.js';
import { readPackage } from '../../package/index.js';
import type { Manifest } from '../../package/schema.js';
import { positiveInt } from '../options.js';

interface InspectCliOptions {
  plot?: string | true;
  provider?: string;
  batch?: number;
  width?: number;
  json?: boolean;
}

/** Where `--plot` without a value writes: `<package name>-pareto` in the current folder. */
export function defaultPlotPrefix(manifest: Manifest): string {
  return `${manifest.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-pareto`;
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
    throw new OptionError('OPTION_INVALID', `${o.provider !== undefined ? '--provider' : '--batch'} chooses a latency column, but the package was not profiled`, {
      option: o.provider !== undefined ? '--provider' : '--batch',
      hint: 'Build it with --profile <provider> to measure latency',
    });
  }
  if (o.provider !== undefined && !measured.has(o.provider)) {
    throw new OptionError('OPTION_INVALID', `The package has no latency measured on "${o.provider}"`, { option: '--provider', validValues: [...measured.keys()] });
  }
  const batches = [...(o.provider !== undefined ? (measured.get(o.provider) as Set<string>) : new Set([...measured.values()].flatMap((b) => [...b])))];
  if (o.batch !== undefined && !batches.includes(String(o.batch))) {
    throw new OptionError('OPTION_INVALID', `The package has no latency measured at batch ${o.batch}`, { option: '--batch', validValues: batches.map(Number).sort((a, b) => a - b) });
  }
}

/** The inspection as JSON: the table rows with what they show and the plot files. */
export function inspectionReport(dir: string, r: Inspection) {
  return {
    dir: path.resolve(dir),
    name: r.manifest.name,
    stitches: r.rows,
    frontier: r.manifest.frontier,
    evaluation: r.manifest.evaluation ?? null,
    latency: r.latency ?? null,
    plot: r.plot ?? null,
    notes: r.notes,
  };
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('Print the stitch table of a package (id, route, MACs, params, accuracy, latency, frontier) and plot its Pareto front.')
    .argument('<dir>', 'the package folder')
    .option('--plot [prefix]', 'write the Pareto plot to <prefix>.svg and <prefix>.png (default prefix: <package name>-pareto in the current folder)')
    .option('--provider <name>', 'provider of the latency column and plot (default: the most measured one)')
    .option('--batch <n>', 'batch size of the latency column and plot (default: the smallest measured)', positiveInt('--batch'))
    .option('--width <px>', 'width of each plot panel in pixels (default 420)', positiveInt('--width'))
    .option('--json', 'print the table as JSON on stdout')
    .action(async (dir: string, o: InspectCliOptions) => {
      const needsManifest = o.plot === true || o.provider !== undefined || o.batch !== undefined;
      // A light read (no hashes, no model decoding) for the option checks; inspectPackage verifies it all.
      const manifest = needsManifest ? (await readPackage(dir, { verifyHashes: false, loadModels: false })).manifest : undefined;
      if (manifest) checkLatencyChoice(manifest, o);
      const plot = o.plot === true ? defaultPlotPrefix(manifest as Manifest) : o.plot;
      const r = await inspectPackage(dir, {
        ...(plot !== undefined ? { plot } : {}),
        ...(o.provider !== undefined ? { provider: o.provider } : {}),
        ...(o.batch !== undefined ? { batch: o.batch } : {}),
        ...(o.width !== undefined ? { width: o.width } : {}),
      });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(inspectionReport(dir, r), null, 2)}\n`);
        return;
      }
      process.stdout.write(`${formatStitchTable(r)}\n`);
      if (r.plot) process.stdout.write(`Wrote the Pareto plot to ${r.plot.svg} and ${r.plot.png}\n`);
      for (const note of r.notes) process.stderr.write(`note: ${note}\n`);
    });
}
