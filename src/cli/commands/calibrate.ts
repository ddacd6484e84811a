/**
 * `stitchnet calibrate <package>`: measures this device's latency of the package's candidate
 * stitches ahead of time, as `StitchRuntime.create()` would, and fills the calibration cache, so
 * that an app's `create()` on this device measures nothing. Prints the table (stdout).
 */
import type { Command } from 'commander';
import { OptionError } from '../../errors.js';
import { PROVIDER_NAMES, type ProviderName } from '../../engine/providers.js';
import { readPackage } from '../../package/index.js';
import type { Manifest } from '../../package/schema.js';
import type { CalibrationReport } from '../../runtime/calibrator.js';
import { StitchRuntime } from '../../runtime/stitch-runtime.js';
import { intList, nonNegativeInt, oneOf, positiveInt } from '../options.js';
import { warn } from '../style.js';

interface CalibrateCliOptions {
  provider?: ProviderName;
  batch?: number[];
  rounds?: number;
  warmup?: number;
  budget?: number;
  profile?: string;
  cacheDir?: string;
  json?: boolean;
}

/** One row of the printed table. */
export interface CalibrationRow {
  stitch: number;
  batch: number;
  p50Ms: number;
  p95Ms: number | null;
  samples: number;
  source: 'device' | 'predicted';
  /** The package's median for the same provider and batch size, if it has one. */
  packageP50Ms: number | null;
  /** The stitch's fused ÷ route ratio on this device, once it has run fused (the fast path). */
  fusedRatio: number | null;
}

/** The report's figures with the package's next to them. */
export function calibrationRows(report: CalibrationReport, manifest: Manifest): CalibrationRow[] {
  return report.stitches.map((e) => ({
    stitch: e.stitch,
    batch: e.batch,
    p50Ms: e.p50Ms,
    p95Ms: e.p95Ms ?? null,
    samples: e.samples,
    source: e.source,
    packageP50Ms:
      manifest.stitches.find((s) => s.id === e.stitch)?.latency?.[report.provider]?.[String(e.batch)]?.p50Ms ?? null,
    fusedRatio: e.fusedRatio ?? null,
  }));
}

/**
 * The table as text: one line per stitch and batch size, the device ÷ package ratio, and the
 * fused ÷ route column where some stitch has run fused on this device.
 */
export function formatCalibration(report: CalibrationReport, rows: readonly CalibrationRow[]): string {
  const ms = (v: number | null) => (v === null ? '—' : v.toFixed(3));
  const fused = rows.some((r) => r.fusedRatio !== null);
  const header = ['stitch', 'batch', 'p50 ms', 'p95 ms', 'runs', 'source', 'package p50 ms', 'device ÷ package'];
  if (fused) header.push('fused ÷ route');
  const body = rows.map((r) => [
    String(r.stitch),
    String(r.batch),
    ms(r.p50Ms),
    ms(r.p95Ms),
    String(r.samples),
    r.source,
    ms(r.packageP50Ms),
    r.packageP50Ms === null ? '—' : `${(r.p50Ms / r.packageP50Ms).toFixed(2)}×`,
    ...(fused ? [r.fusedRatio === null ? '—' : `${r.fusedRatio.toFixed(2)}×`] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ');
  return [`provider ${report.provider}`, line(header), ...body.map(line)].join('\n');
}

export function registerCalibrate(program: Command): void {
  program
    .command('calibrate')
    .description("Measure this device's latency of a package's candidate stitches and fill the calibration cache")
    .argument('<package>', 'stitch package folder')
    .option(
      '--provider <name>',
      'execution provider to measure (default: the first that works, as create() picks it)',
      oneOf('--provider', PROVIDER_NAMES),
    )
    .option('--batch <sizes>', 'batch sizes to measure, comma-separated (default 1)', intList('--batch'))
    .option('--rounds <n>', 'counted rounds per batch size (default 15)', positiveInt('--rounds'))
    .option('--warmup <n>', 'uncounted rounds first (default 2)', nonNegativeInt('--warmup'))
    .option('--budget <ms>', 'time budget, ms (default: none, every candidate measured fully)', positiveInt('--budget'))
    .option(
      '--profile <file>',
      "calibrate the stitches this profile restricts itself to (default: the package's frontier)",
    )
    .option('--cache-dir <dir>', 'stitchnet cache folder (default: $STITCHNET_CACHE_DIR, else the OS cache folder)')
    .option('--json', 'print the calibration as JSON on stdout')
    .action(async (dir: string, o: CalibrateCliOptions) => {
      const pkg = await readPackage(dir);
      const rt = await StitchRuntime.create({
        model: pkg,
        ...(o.provider ? { providers: [o.provider] } : {}),
        ...(o.profile !== undefined ? { profile: o.profile, watchProfile: false } : {}),
        ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}),
        calibrate: {
          batches: o.batch ?? [1],
          budgetMs: o.budget ?? Number.POSITIVE_INFINITY,
          ...(o.rounds ? { rounds: o.rounds } : {}),
          ...(o.warmup !== undefined ? { warmup: o.warmup } : {}),
        },
        systemSource: false,
        fastPath: false,
      });
      const report = rt.calibration;
      await rt.close();
      if (!report)
        throw new OptionError(
          'OPTION_INVALID',
          `${dir}: the package's input has symbolic dimensions besides the batch, so it cannot be calibrated`,
          { option: '<package>' },
        );
      const rows = calibrationRows(report, pkg.manifest);
      if (o.json) {
        const { stitches: _, ...rest } = report;
        process.stdout.write(`${JSON.stringify({ ...rest, stitches: rows }, null, 2)}\n`);
      } else {
        process.stdout.write(`${formatCalibration(report, rows)}\n`);
      }
      process.stderr.write(
        `${report.cache === 'hit' ? 'from the cache' : `measured ${report.measured} figures`} in ${Math.round(report.ms)} ms; cache ${report.file}\n`,
      );
      if (report.cacheError) warn(`the cache could not be written: ${report.cacheError}`);
    });
}
