/**
 * `stitchnet simulate --model dir --profile p --trace t.csv [--out timeline.svg]`: replays a
 * recorded device trace through the real policy in virtual time (instantly, the same result on
 * every run) and prints each switch with its time, direction and reason, then a summary; `--out`
 * draws the timeline of signals and active stitch.
 *
 * stdout carries the result; warnings about what the package or the trace lack go to stderr.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { renderSvg, svgToPng } from '../../plots/index.js';
import { OptionError } from '../../errors.js';
import { readPackage } from '../../package/index.js';
import { catalogFromManifest, checkProfileForCatalog, type StitchCatalog } from '../../policy/index.js';
import { loadProfile, type Profile, type When } from '../../profiles/index.js';
import { loadTrace, type Trace } from '../../signals/index.js';
import { formatClock, formatMacs, formatShare } from '../format.js';
import { positiveInt } from '../options.js';
import { simulate, type Simulation } from '../../runtime/simulate.js';
import { timelineSpec } from '../../plots/timeline.js';

interface SimulateCliOptions {
  model: string;
  profile: string;
  trace: string;
  out?: string;
  png?: boolean;
  provider?: string;
  batch?: number;
  width?: number;
  json?: boolean;
}

/** What the package lacks for the policy to be meaningful, one sentence each. */
export function missingFigures(catalog: StitchCatalog, name: string): string[] {
  const stitches = [...catalog.stitches.values()];
  const out: string[] = [];
  if (stitches.every((s) => s.accuracy === undefined)) {
    out.push(`${name} has no accuracy figures: "max-accuracy" ranks stitches by cost instead, and minAccuracy limits are never met (build it with --eval)`);
  }
  if (catalog.providers.length === 0) {
    out.push(`${name} has no latency profile: maxLatencyMs limits are never met and inference.slowdown has no reference (build it with --profile <provider>)`);
  }
  return out;
}

/** Signals the profile's rules read that the trace never gives (they read as unavailable). */
export function signalsNotInTrace(profile: Profile, trace: Trace): string[] {
  const read = new Set<string>();
  const walk = (when: When) => {
    for (const [key, c] of Object.entries(when)) {
      if (key === 'all' || key === 'any') for (const w of (c as When[] | undefined) ?? []) walk(w);
      else read.add(key);
    }
  };
  for (const rule of profile.rules) walk(rule.when);
  // The temperature trend is derived from the temperatures when the trace does not give it.
  const derived = trace.signals.some((s) => s === 'thermal.cpuC' || s === 'thermal.gpuC') ? ['thermal.trendCPerMin'] : [];
  return [...read].filter((s) => !trace.signals.includes(s) && !derived.includes(s));
}

const macsOf = (catalog: StitchCatalog, id: number | undefined) => (id === undefined ? '' : formatMacs(catalog.stitches.get(id)?.macs ?? 0));

/** The switches and the summary as text. */
export function formatSimulation(sim: Simulation, catalog: StitchCatalog, header: string): string {
  const lines = [header, ''];
  const switches = sim.replay.switches;
  const clocks = switches.map((s) => formatClock(s.at));
  const pad = Math.max(0, ...clocks.map((c) => c.length));
  switches.forEach((s, i) => {
    const move = s.from === undefined ? `stitch ${s.to} (${macsOf(catalog, s.to)})` : `stitch ${s.from} → ${s.to} (${macsOf(catalog, s.from)} → ${macsOf(catalog, s.to)})`;
    const waited = s.direction === 'upgrade' || s.wantedForMs > 0 ? `, wanted for ${formatClock(s.wantedForMs)}` : '';
    lines.push(`${(clocks[i] as string).padStart(pad)}  ${s.direction.padEnd(7)}  ${move}${waited}`);
    lines.push(`${' '.repeat(pad)}  ${s.decision.reason.summary}`);
  });
  const moves = switches.filter((s) => s.direction !== 'initial');
  const degrades = moves.filter((s) => s.direction === 'degrade').length;
  lines.push(
    '',
    `${moves.length} switch${moves.length === 1 ? '' : 'es'} after the initial choice (${degrades} down, ${moves.length - degrades} up) over ${formatClock(sim.endMs)}`,
  );
  const rows = sim.timePerStitch.map((t) => [String(t.stitch), macsOf(catalog, t.stitch), formatClock(t.ms), formatShare(t.ms, sim.endMs)]);
  const table = [['stitch', 'MACs', 'time', 'share'], ...rows];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...table.map((r) => (r[c] as string).length)));
  for (const r of table) lines.push(`  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number))).join('  ')}`);
  lines.push(
    `Over budget (no stitch met every limit): ${formatClock(sim.overBudgetMs)} (${formatShare(sim.overBudgetMs, sim.endMs)})`,
    `Active stitch outside the limits in force (over budget, or a switch waiting out the dwell): ${formatClock(sim.outOfLimitsMs)} (${formatShare(sim.outOfLimitsMs, sim.endMs)})`,
  );
  return `${lines.join('\n')}\n`;
}

/** The simulation as JSON. */
export function simulationReport(sim: Simulation, catalog: StitchCatalog, about: { model: string; profile: string; trace: string }, plot: string[]) {
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
      rules: s.decision.reason.rules.map((r) => ({ name: r.name, held: r.held, readings: r.readings.map((x) => ({ signal: x.signal, value: x.value ?? null, test: x.test, relaxed: x.relaxed })) })),
      limits: s.decision.limits,
      limitSources: s.decision.reason.limitSources,
      overBudget: s.decision.reason.overBudget,
      reason: s.decision.reason.summary,
    })),
    timePerStitch: sim.timePerStitch.map((t) => ({ stitch: t.stitch, macs: catalog.stitches.get(t.stitch)?.macs ?? null, ms: t.ms, fraction: sim.endMs > 0 ? t.ms / sim.endMs : 0 })),
    overBudgetMs: sim.overBudgetMs,
    outOfLimitsMs: sim.outOfLimitsMs,
    decisions: sim.replay.decisions.length,
    plot,
  };
}

/** The plot files `--out` (and `--png`) ask for. */
export function plotFiles(out: string, png: boolean): { svg?: string; png?: string } {
  const ext = path.extname(out).toLowerCase();
  if (ext === '.png') return { png: out };
  if (ext !== '.svg') {
    throw new OptionError('OPTION_INVALID', `--out must end in .svg or .png, got ${JSON.stringify(out)}`, { option: '--out', hint: 'For example: --out timeline.svg (add --png for a PNG next to it)' });
  }
  return png ? { svg: out, png: `${out.slice(0, -ext.length)}.png` } : { svg: out };
}

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('Replay a device trace through a profile and a package in virtual time: every stitch switch with its reason, time per stitch, time over budget, and a timeline plot.')
    .requiredOption('--model <dir>', 'the stitch package (only its manifest is read)')
    .requiredOption('--profile <file|name>', 'the profile (YAML or JSON), or a shipped profile by name (balanced, battery-saver, …)')
    .requiredOption('--trace <file>', 'the device trace (.csv or .json; see examples/traces)')
    .option('--out <file>', 'write the timeline plot: <file>.svg, or <file>.png')
    .option('--png', 'with --out x.svg, also write x.png')
    .option('--provider <name>', 'whose latency profile the latency limits use (default: cpu if profiled, else the first profiled)')
    .option('--batch <n>', 'batch size whose latency profile applies (default 1)', positiveInt('--batch'))
    .option('--width <px>', 'width of the plot panels in pixels (default 720)', positiveInt('--width'))
    .option('--json', 'print the result as JSON on stdout')
    .action(async (o: SimulateCliOptions) => {
      const files = o.out === undefined ? undefined : plotFiles(o.out, o.png === true);
      if (o.png && files === undefined) throw new OptionError('OPTION_INVALID', '--png needs --out <file>.svg', { option: '--png' });
      const pkg = await readPackage(o.model, { verifyHashes: false, loadModels: false });
      const catalog = catalogFromManifest(pkg.manifest);
      if (o.provider !== undefined && !catalog.providers.includes(o.provider)) {
        throw new OptionError('OPTION_INVALID', `The package has no latency profile on "${o.provider}"`, {
          option: '--provider',
          validValues: catalog.providers,
          hint: catalog.providers.length === 0 ? 'The package was not profiled; drop --provider' : undefined,
        });
      }
      const profile = await loadProfile(o.profile, { check: (p) => checkProfileForCatalog(p, catalog) });
      const trace = loadTrace(o.trace);
      const name = pkg.manifest.name;
      for (const w of missingFigures(catalog, name)) process.stderr.write(`warning: ${w}\n`);
      const absent = signalsNotInTrace(profile, trace);
      if (absent.length > 0) process.stderr.write(`note: the trace has no ${absent.join(', ')}: rules on ${absent.length === 1 ? 'it' : 'them'} see no reading\n`);

      const sim = simulate({ trace, profile, catalog, provider: o.provider, batch: o.batch });
      const written: string[] = [];
      if (files) {
        const title = `${path.basename(o.trace)} × ${profile.name ?? path.basename(o.profile)} on ${name}`;
        const svg = await renderSvg(timelineSpec(sim, trace, profile, catalog, { title, ...(o.width !== undefined ? { width: o.width } : {}) }));
        for (const f of [files.svg, files.png]) if (f !== undefined) await mkdir(path.dirname(path.resolve(f)), { recursive: true });
        if (files.svg !== undefined) {
          await writeFile(files.svg, svg);
          written.push(files.svg);
        }
        if (files.png !== undefined) {
          await writeFile(files.png, await svgToPng(svg));
          written.push(files.png);
        }
      }
      const about = { model: name, profile: profile.name ?? o.profile, trace: o.trace };
      if (o.json) {
        process.stdout.write(`${JSON.stringify(simulationReport(sim, catalog, about, written), null, 2)}\n`);
        return;
      }
      const header = `Trace ${o.trace} (${trace.rows.length} rows, ${formatClock(trace.rows.at(-1)?.tMs ?? 0)}) × profile ${about.profile} on ${name} (${catalog.stitches.size} stitches, ${catalog.frontier.length} candidates)`;
      process.stdout.write(formatSimulation(sim, catalog, header));
      if (written.length > 0) process.stdout.write(`Wrote the timeline to ${written.join(' and ')}\n`);
    });
}
