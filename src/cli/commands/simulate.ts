/**
 * `stitchnet simulate --model dir --profile p --trace t.csv [--plot timeline.svg]`: replays a
 * recorded device trace through the real policy in virtual time (instantly, the same result on
 * every run) and prints each switch with its time, direction and reason, then a summary; `--plot`
 * draws the timeline of signals and active stitch (the extension picks SVG or PNG).
 *
 * stdout carries the result; warnings about what the package or the trace lack go to stderr.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { renderSvg, svgToPng } from '../../plots/index.js';
import { OptionError } from '../../errors.js';
import { readPackage } from '../../package/index.js';
import { compileRules } from '../../policy/conditions.js';
import { catalogFromManifest, checkProfileForCatalog, type StitchCatalog } from '../../policy/index.js';
import { loadProfile, type Profile } from '../../profiles/index.js';
import { loadTrace, type Trace } from '../../signals/index.js';
import { formatMacs, macsUnit, type MacsUnit } from '../../base/macs.js';
import { formatClock, formatShare } from '../format.js';
import { collectPlot, plotTargets, plotValues, replacedOption, writePlot, type PlotOption } from '../plot-output.js';
import { note, styler, warn } from '../style.js';
import { oneOf, positiveInt } from '../options.js';
import type { Manifest } from '../../package/index.js';
import { profileDeviceLatency, simulate, type Simulation } from '../../runtime/simulate.js';

const LATENCY_CHOICES = ['package', 'device'] as const;
type LatencyChoice = (typeof LATENCY_CHOICES)[number];
import { timelineSpec } from '../../plots/timeline.js';

interface SimulateCliOptions {
  model: string;
  profile: string;
  trace: string;
  plot?: PlotOption;
  /** The old plot options, rejected with a hint. */
  out?: string;
  png?: boolean;
  provider?: string;
  latency?: LatencyChoice;
  cacheDir?: string;
  batch?: number;
  width?: number;
  json?: boolean;
}

/** What the package lacks for the policy to be meaningful, one sentence each. */
export function missingFigures(catalog: StitchCatalog, name: string): string[] {
  const stitches = [...catalog.stitches.values()];
  const out: string[] = [];
  if (stitches.every((s) => s.accuracy === undefined)) {
    out.push(
      `${name} has no accuracy figures: "max-accuracy" ranks stitches by cost instead, and minAccuracy limits are never met (build it with --eval)`,
    );
  }
  if (catalog.providers.length === 0) {
    out.push(
      `${name} has no latency profile: maxLatencyMs limits are never met and inference.slowdown has no reference (build it with --profile <provider>)`,
    );
  }
  return out;
}

/** Signals the profile's rules read that the trace never gives (they read as unavailable). */
export function signalsNotInTrace(profile: Profile, trace: Trace): string[] {
  const read = new Set(compileRules(profile).flatMap((r) => r.signals));
  // The temperature trend is derived from the temperatures when the trace does not give it.
  const derived = trace.signals.some((s) => s === 'thermal.cpuC' || s === 'thermal.gpuC')
    ? ['thermal.trendCPerMin']
    : [];
  return [...read].filter((s) => !trace.signals.includes(s) && !derived.includes(s));
}

/** The MACs of a stitch in the report's one unit. */
const macsOf = (catalog: StitchCatalog, unit: MacsUnit, id: number | undefined) =>
  id === undefined ? '' : formatMacs(catalog.stitches.get(id)?.macs ?? 0, unit);

/** The switches and the summary as text; every MACs figure in one unit (that of the package's costliest stitch). */
export function formatSimulation(
  sim: Simulation,
  catalog: StitchCatalog,
  header: string,
  color: ReturnType<typeof styler> = (_, t) => t,
): string {
  const unit = macsUnit([...catalog.stitches.values()].map((s) => s.macs));
  const lines = [color('bold', header), ''];
  const switches = sim.replay.switches;
  const clocks = switches.map((s) => formatClock(s.at));
  const pad = Math.max(0, ...clocks.map((c) => c.length));
  switches.forEach((s, i) => {
    const move =
      s.from === undefined
        ? `stitch ${s.to} (${macsOf(catalog, unit, s.to)})`
        : `stitch ${s.from} → ${s.to} (${macsOf(catalog, unit, s.from)} → ${macsOf(catalog, unit, s.to)})`;
    const waited = s.direction === 'upgrade' || s.wantedForMs > 0 ? `, wanted for ${formatClock(s.wantedForMs)}` : '';
    const direction = s.direction.padEnd(7);
    lines.push(
      `${(clocks[i] as string).padStart(pad)}  ${s.direction === 'degrade' ? color('yellow', direction) : s.direction === 'upgrade' ? color('green', direction) : direction}  ${move}${waited}`,
    );
    lines.push(`${' '.repeat(pad)}  ${s.decision.reason.summary}`);
  });
  const moves = switches.filter((s) => s.direction !== 'initial');
  const degrades = moves.filter((s) => s.direction === 'degrade').length;
  lines.push(
    '',
    `${moves.length} switch${moves.length === 1 ? '' : 'es'} after the initial choice (${degrades} down, ${moves.length - degrades} up) over ${formatClock(sim.endMs)}`,
  );
  const rows = sim.timePerStitch.map((t) => [
    String(t.stitch),
    unit.format(catalog.stitches.get(t.stitch)?.macs ?? 0),
    formatClock(t.ms),
    formatShare(t.ms, sim.endMs),
  ]);
  const table = [['stitch', unit.name, 'time', 'share'], ...rows];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...table.map((r) => (r[c] as string).length)));
  for (const r of table)
    lines.push(
      `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number))).join('  ')}`,
    );
  lines.push(
    `Over budget (no stitch met every limit): ${formatClock(sim.overBudgetMs)} (${formatShare(sim.overBudgetMs, sim.endMs)})`,
    `Active stitch outside the limits in force (over budget, or a switch waiting out the dwell): ${formatClock(sim.outOfLimitsMs)} (${formatShare(sim.outOfLimitsMs, sim.endMs)})`,
  );
  return `${lines.join('\n')}\n`;
}

/** The simulation as JSON. */
export function simulationReport(
  sim: Simulation,
  catalog: StitchCatalog,
  about: { model: string; profile: string; trace: string },
  plot: string[],
) {
  return {
    ...about,
    durationMs: sim.endMs,
    switches: sim.replay.switches.map((s) => ({
      atMs: s.at,
      from: s.from ?? null,
      to: s.to,
      direction: s.direction,
      wantedForMs: s.wantedForMs,
      fromMacs: s.from === undefined ? null : (catalog.stitches.get(s.from)?.macs ?? null),
      toMacs: catalog.stitches.get(s.to)?.macs ?? null,
      rules: s.decision.reason.rules.map((r) => ({
        name: r.name,
        held: r.held,
        readings: r.readings.map((x) => ({
          signal: x.signal,
          value: x.value ?? null,
          test: x.test,
          relaxed: x.relaxed,
        })),
      })),
      limits: s.decision.limits,
      limitSources: s.decision.reason.limitSources,
      overBudget: s.decision.reason.overBudget,
      reason: s.decision.reason.summary,
    })),
    timePerStitch: sim.timePerStitch.map((t) => ({
      stitch: t.stitch,
      macs: catalog.stitches.get(t.stitch)?.macs ?? null,
      ms: t.ms,
      fraction: sim.endMs > 0 ? t.ms / sim.endMs : 0,
    })),
    overBudgetMs: sim.overBudgetMs,
    outOfLimitsMs: sim.outOfLimitsMs,
    decisions: sim.decisions,
    plot,
  };
}

/** The catalog with this device's cached calibration for `provider`, or an error saying how to make one. */
async function deviceCatalog(
  manifest: Manifest,
  profile: Profile,
  provider: string,
  o: SimulateCliOptions,
): Promise<StitchCatalog> {
  const table = await profileDeviceLatency(manifest, profile, provider, o.cacheDir);
  if (table) return catalogFromManifest(manifest, { device: table });
  throw new OptionError(
    'OPTION_INVALID',
    `This device has no calibration of ${manifest.name} on "${provider}" with the profile's onnxruntime settings`,
    {
      option: '--latency',
      validValues: LATENCY_CHOICES,
      hint: `Calibrate it first: stitchnet calibrate ${o.model} --provider ${provider}${o.cacheDir ? ` --cache-dir ${o.cacheDir}` : ''} (or run the app once), or use --latency package`,
    },
  );
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'Replay a device trace through a profile and a package in virtual time: every stitch switch with its reason, time per stitch, time over budget, and a timeline plot.',
    )
    .requiredOption('--model <dir>', 'the stitch package (only its manifest is read)')
    .requiredOption(
      '--profile <file|name>',
      'the profile (YAML or JSON), or a shipped profile by name (balanced, battery-saver, …)',
    )
    .requiredOption('--trace <file>', 'the device trace (.csv or .json; see examples/traces)')
    .option(
      '--plot <file>',
      'write the timeline plot to <file>; its extension (.svg or .png) picks the format; repeat for both',
      collectPlot,
    )
    .addOption(new Option('--out <file>').hideHelp())
    .addOption(new Option('--png').hideHelp())
    .option(
      '--provider <name>',
      'whose latency profile the latency limits use (default: cpu if profiled, else the first profiled)',
    )
    .option(
      '--latency <source>',
      "package: the latencies measured into the package (the same result everywhere); device: this device's calibration, as the runtime uses it (from the cache that create() or stitchnet calibrate filled)",
      oneOf('--latency', LATENCY_CHOICES),
      'package',
    )
    .option(
      '--cache-dir <dir>',
      'with --latency device: stitchnet cache folder (default: $STITCHNET_CACHE_DIR, else the OS cache folder)',
    )
    .option('--batch <n>', 'batch size whose latency profile applies (default 1)', positiveInt('--batch'))
    .option('--width <px>', 'width of the plot panels in pixels (default 720)', positiveInt('--width'))
    .option('--json', 'print the result as JSON on stdout')
    .action(runSimulate);
}

/** `stitchnet simulate`: the package, profile and trace checked, the replay, then the report and the plot. */
async function runSimulate(o: SimulateCliOptions): Promise<void> {
  if (o.out !== undefined)
    throw replacedOption(
      '--out',
      `Plots are written with --plot <file>, the extension picking the format: --plot ${o.out}`,
    );
  if (o.png) throw replacedOption('--png', 'Ask for the PNG file itself: --plot timeline.svg --plot timeline.png');
  const targets = plotTargets('--plot', plotValues(o.plot));
  const pkg = await readPackage(o.model, { verifyHashes: false, loadModels: false });
  const packageCatalog = catalogFromManifest(pkg.manifest);
  if (o.latency !== 'device' && o.provider !== undefined && !packageCatalog.providers.includes(o.provider)) {
    throw new OptionError('OPTION_INVALID', `The package has no latency profile on "${o.provider}"`, {
      option: '--provider',
      validValues: packageCatalog.providers,
      hint:
        packageCatalog.providers.length === 0
          ? "The package was not profiled; drop --provider, or use this device's calibration: --latency device"
          : undefined,
    });
  }
  const profile = await loadProfile(o.profile, { check: (p) => checkProfileForCatalog(p, packageCatalog) });
  const provider = o.latency === 'device' ? (o.provider ?? 'cpu') : o.provider;
  const catalog =
    o.latency === 'device' ? await deviceCatalog(pkg.manifest, profile, provider as string, o) : packageCatalog;
  const trace = loadTrace(o.trace);
  const name = pkg.manifest.name;
  for (const w of missingFigures(catalog, name)) warn(w);
  const absent = signalsNotInTrace(profile, trace);
  if (absent.length > 0)
    note(`the trace has no ${absent.join(', ')}: rules on ${absent.length === 1 ? 'it' : 'them'} see no reading`);

  // Every state and decision is kept only for a plot: without one, memory stays bounded on long traces.
  const sim = simulate({ trace, profile, catalog, provider, batch: o.batch, keep: targets.length > 0 });
  let written: string[] = [];
  if (targets.length > 0) {
    const title = `${path.basename(o.trace)} × ${profile.name ?? path.basename(o.profile)} on ${name}`;
    const svg = await renderSvg(
      timelineSpec(sim, trace, profile, catalog, { title, ...(o.width !== undefined ? { width: o.width } : {}) }),
    );
    written = await writePlot(targets, svg, svgToPng);
  }
  const about = { model: name, profile: profile.name ?? o.profile, trace: o.trace };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(simulationReport(sim, catalog, about, written), null, 2)}\n`);
    return;
  }
  const header = `Trace ${o.trace} (${trace.rows.length} rows, ${formatClock(trace.rows.at(-1)?.tMs ?? 0)}) × profile ${about.profile} on ${name} (${catalog.stitches.size} stitches, ${catalog.frontier.length} candidates)`;
  process.stdout.write(formatSimulation(sim, catalog, header, styler(process.stdout)));
  if (written.length > 0) note(`wrote the timeline to ${written.join(' and ')}`);
}
