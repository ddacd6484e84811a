/**
 * This device's latency model: what each stitch takes here, on the provider in use.
 *
 * At `create()` the runtime measures the candidate stitches (the package frontier, or the stitches
 * the profile restricts itself to) through its own engine, interleaved, at each batch size asked
 * for, within a time budget. A package too large for the budget is calibrated lazily: a few
 * stitches at once (the one the runtime starts on, the cheapest, the costliest), the others
 * predicted from them by a line fit on MACs (flagged `predicted`) and measured in the background
 * when the policy first picks them. Measured figures are cached on disk
 * (`calibration-cache.ts`), so the next `create()` on this device measures nothing.
 */
import { CalibrateOptionsSchema, parseOption } from './options-schema.js';
import { median } from '../base/stats.js';
import type { RunPath } from '../engine/engine.js';
import { measureLatency, type MeasuredRoute, type TimedRun } from '../engine/latency.js';
import type { DeviceLatencyTable, SourcedLatency } from '../policy/catalog.js';
import type { CachedLatency } from './calibration-cache.js';

export type { CalibrateOption, CalibrateOptions } from './option-types.js';

/** Resolved calibration settings. */
export interface CalibrationSettings {
  readonly batches: readonly number[];
  readonly rounds: number;
  readonly warmup: number;
  readonly budgetMs: number;
}

/** The defaults of {@link CalibrateOptions}. */
export const DEFAULT_CALIBRATION: CalibrationSettings = Object.freeze({
  batches: Object.freeze([1]),
  rounds: 15,
  warmup: 2,
  budgetMs: 1000,
});

/** A stitch counts as calibrated with this many counted runs (or `rounds`, if fewer). */
export const MIN_ROUNDS = 5;

/**
 * Checks and completes the `calibrate` option (against the schema `StitchRuntime.create` uses).
 *
 * @throws OptionError OPTION_INVALID naming the field at fault (`calibrate.rounds`)
 */
export function resolveCalibrate(option: unknown): CalibrationSettings | false {
  const o = parseOption('calibrate', CalibrateOptionsSchema, option ?? 'auto');
  if (o === 'auto') return DEFAULT_CALIBRATION;
  if (o === false) return false;
  return {
    batches: o.batches ? [...new Set(o.batches)] : DEFAULT_CALIBRATION.batches,
    rounds: o.rounds ?? DEFAULT_CALIBRATION.rounds,
    warmup: o.warmup ?? DEFAULT_CALIBRATION.warmup,
    budgetMs: o.budgetMs ?? DEFAULT_CALIBRATION.budgetMs,
  };
}

/** A line `ms = a + b·macs` through measured points; `undefined` without a point. */
export function fitOnMacs(points: readonly { macs: number; ms: number }[]): ((macs: number) => number) | undefined {
  if (points.length === 0) return undefined;
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.macs, 0) / n;
  const my = points.reduce((s, p) => s + p.ms, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.macs - mx) ** 2, 0);
  const sxy = points.reduce((s, p) => s + (p.macs - mx) * (p.ms - my), 0);
  const floor = Math.min(...points.map((p) => p.ms)) / 4;
  // One point (or one cost): proportional to MACs. A line that falls with cost is noise: the mean.
  if (sxx === 0) return (macs) => Math.max(floor, (my * macs) / (mx || 1));
  const slope = sxy / sxx;
  if (slope <= 0) return () => my;
  return (macs) => Math.max(floor, my + slope * (macs - mx));
}

/** A stitch's figure on this device, as `rt.calibration` lists it. */
export interface CalibrationEntry {
  readonly stitch: number;
  readonly batch: number;
  readonly p50Ms: number;
  /** Measured only. */
  readonly p95Ms: number | undefined;
  /** Counted runs behind a measured figure (0 for a predicted one). */
  readonly samples: number;
  readonly source: 'device' | 'predicted';
  /** Its fused session ÷ its route, where measured (see `CachedLatency.fusedRatio`). */
  readonly fusedRatio?: number | undefined;
}

/**
 * This device's latency table for one provider: measured figures per stitch and batch size, and
 * predictions for the others from a fit on MACs over the measured ones of the same batch size.
 * The policy reads it through its catalog ({@link DeviceLatencyTable}).
 */
export class DeviceLatency implements DeviceLatencyTable {
  private readonly measured = new Map<number, Map<number, CachedLatency>>();
  private readonly fits = new Map<number, ((macs: number) => number) | undefined>();

  /** `macs`: cost per sample of each stitch (those without cannot be predicted). */
  constructor(
    readonly provider: string,
    private readonly macs: ReadonlyMap<number, number>,
  ) {}

  /** Adds (or replaces) a measured figure. */
  set(entry: CachedLatency): void {
    const byStitch = this.measured.get(entry.batch) ?? new Map<number, CachedLatency>();
    this.measured.set(entry.batch, byStitch);
    byStitch.set(entry.stitch, entry);
    this.fits.delete(entry.batch);
  }

  /** The measured figure of a stitch at a batch size, if any. */
  entry(stitch: number, batch: number): CachedLatency | undefined {
    return this.measured.get(batch)?.get(stitch);
  }

  /** Whether a stitch is measured at a batch size with at least `minSamples` counted runs. */
  calibrated(stitch: number, batch: number, minSamples: number): boolean {
    return (this.entry(stitch, batch)?.samples ?? 0) >= minSamples;
  }

  latency(stitch: number, batch: number): SourcedLatency | undefined {
    const m = this.entry(stitch, batch);
    if (m) return { ms: m.p50Ms, source: 'device' };
    const macs = this.macs.get(stitch);
    const line = macs === undefined ? undefined : this.lineOnMacs(batch);
    return line && macs !== undefined ? { ms: line(macs), source: 'predicted' } : undefined;
  }

  /** Every measured figure. */
  entries(): CachedLatency[] {
    return [...this.measured.values()].flatMap((m) => [...m.values()]);
  }

  /** The figures of `stitches` at `batches`: measured, else predicted, else left out. */
  list(stitches: readonly number[], batches: readonly number[]): CalibrationEntry[] {
    return batches.flatMap((batch) =>
      stitches.flatMap((stitch): CalibrationEntry[] => {
        const m = this.entry(stitch, batch);
        if (m) {
          const { p50Ms, p95Ms, samples, fusedRatio } = m;
          return [{ stitch, batch, p50Ms, p95Ms, samples, source: 'device', ...(fusedRatio ? { fusedRatio } : {}) }];
        }
        const l = this.latency(stitch, batch);
        return l ? [{ stitch, batch, p50Ms: l.ms, p95Ms: undefined, samples: 0, source: 'predicted' }] : [];
      }),
    );
  }

  private lineOnMacs(batch: number): ((macs: number) => number) | undefined {
    if (!this.fits.has(batch)) {
      const points = [...(this.measured.get(batch)?.values() ?? [])].flatMap((e) => {
        const macs = this.macs.get(e.stitch);
        return macs === undefined ? [] : [{ macs, ms: e.p50Ms }];
      });
      this.fits.set(batch, fitOnMacs(points));
    }
    return this.fits.get(batch);
  }
}

/** How calibration runs a stitch: the runtime's engine, timed. */
export interface CalibrationRunner {
  /** Runs pieces and resolves with the time it took, ms. */
  readonly run: TimedRun;
  /** The clock of the budget, ms. */
  now(): number;
  /** The pieces of a stitch, in order. */
  route(stitch: number): readonly string[];
  /** The input's shape without the batch dimension. */
  readonly sampleShape: readonly number[];
  /** Stamp of a new measurement (ISO time). */
  stamp(): string;
}

/**
 * Runs pieces on `path` ('fused': on their fused session if one is ready, else as a route) and
 * resolves with the time it took (ms) and the path it took.
 */
export type PathRun = (
  pieces: readonly string[],
  data: Float32Array,
  dims: readonly number[],
  path: RunPath,
) => Promise<{ ms: number; path: RunPath }>;

/** Settings of {@link measureFusedRatio}. */
export interface FusedRatioSettings {
  /** Block pairs measured (each a block on each path). */
  readonly pairs: number;
  /** Runs per block. */
  readonly block: number;
  /** Asked before every run: `true` gives up (e.g. the runtime is closing). */
  readonly stop?: (() => boolean) | undefined;
}

/**
 * A route's fused session ÷ the route, in run time, measured paired: `pairs` pairs of a block of
 * `block` runs on each path, the first path alternating, the ratio of the two blocks' medians per
 * pair, and the median of those. A load that changes more slowly than a pair slows both paths
 * alike, so the ratio holds on a busy machine, where an absolute figure would not (the fast path
 * fuses a stitch just after a slowdown made the policy pick it). Blocks rather than single
 * alternating runs: the app runs one path over and over, and so does a block after its first run.
 * `undefined` when a fused run came back as a route (its session was evicted meanwhile), or when
 * `stop` said so.
 */
export async function measureFusedRatio(
  run: PathRun,
  pieces: readonly string[],
  input: { data: Float32Array; dims: readonly number[] },
  settings: FusedRatioSettings,
): Promise<number | undefined> {
  const ratios: number[] = [];
  const block = async (path: RunPath): Promise<number | undefined> => {
    const times: number[] = [];
    for (let i = 0; i < settings.block; i++) {
      if (settings.stop?.()) return undefined;
      const r = await run(pieces, input.data, input.dims, path);
      if (r.path !== path) return undefined;
      times.push(r.ms);
    }
    return median(times);
  };
  for (let pair = 0; pair < settings.pairs; pair++) {
    const order: RunPath[] = pair % 2 === 0 ? ['fused', 'route'] : ['route', 'fused'];
    const [a, b] = [await block(order[0] as RunPath), await block(order[1] as RunPath)];
    if (a === undefined || b === undefined) return undefined;
    const [fused, route] = order[0] === 'fused' ? [a, b] : [b, a];
    ratios.push(fused / route);
  }
  return ratios.length > 0 ? median(ratios) : undefined;
}

/** Measures `stitches` at `batch`, interleaved, into `table`; `stop` is asked after every counted round. */
export async function measureInto(
  table: DeviceLatency,
  stitches: readonly number[],
  batch: number,
  runner: CalibrationRunner,
  rounds: { warmup: number; rounds: number; stop?: () => boolean; onRound?: () => void },
): Promise<void> {
  const routes: MeasuredRoute<number>[] = stitches.map((key) => ({ key, pieces: runner.route(key) }));
  const result = await measureLatency(runner.run, routes, {
    sampleShape: runner.sampleShape,
    batches: [batch],
    warmup: rounds.warmup,
    rounds: rounds.rounds,
    ...(rounds.stop ? { stopAfterRound: rounds.stop } : {}),
    ...(rounds.onRound ? { onRound: rounds.onRound } : {}),
  });
  const at = runner.stamp();
  for (const [stitch, byBatch] of result) {
    const l = byBatch.get(batch);
    if (l && l.samples > 0 && l.p50Ms > 0)
      table.set({ stitch, batch, p50Ms: l.p50Ms, p95Ms: Math.max(l.p50Ms, l.p95Ms), samples: l.samples, at });
  }
}

/** What {@link calibrateCandidates} did. */
export interface CalibrationRun {
  /** `eager`: every candidate measured at every batch size; `lazy`: some left predicted. */
  readonly mode: 'eager' | 'lazy';
  /** Figures measured now (stitch × batch). */
  readonly measured: number;
}

/** Everything one batch size's step needs. */
interface BatchStep {
  readonly table: DeviceLatency;
  readonly runner: CalibrationRunner;
  readonly settings: CalibrationSettings;
  readonly priority: readonly number[];
  readonly macs: ReadonlyMap<number, number>;
}

/**
 * Measures the candidates that have no figure in `table`, batch size by batch size, within
 * `settings.budgetMs` by `runner.now()`: each batch size gets an equal share of what is left.
 * A share first estimates a round (the figures known, else one run of the cheapest and the
 * costliest stitch and a fit on MACs). If every candidate fits with at least {@link MIN_ROUNDS}
 * rounds, all are measured (as many rounds as fit, up to `settings.rounds`); otherwise as many as
 * fit of `priority`, then the cheapest and the costliest (for the fit), and the rest stay
 * predicted. Rounds stop early once the next one would overrun the share.
 */
export async function calibrateCandidates(
  table: DeviceLatency,
  candidates: readonly number[],
  settings: CalibrationSettings,
  runner: CalibrationRunner,
  priority: readonly number[] = [],
  macs: ReadonlyMap<number, number> = new Map(),
): Promise<CalibrationRun> {
  const start = runner.now();
  let lazy = false;
  const before = table.entries().length;
  for (const [i, batch] of settings.batches.entries()) {
    // Any measured figure (a cached one too) is kept here; a short one is refined lazily.
    const missing = candidates.filter((id) => !table.calibrated(id, batch, 1));
    if (missing.length === 0) continue;
    const share = (settings.budgetMs - (runner.now() - start)) / (settings.batches.length - i);
    const done = await calibrateBatch(
      { table, runner, settings, priority, macs },
      missing,
      batch,
      runner.now() + share,
    );
    lazy ||= !done;
  }
  return { mode: lazy ? 'lazy' : 'eager', measured: table.entries().length - before };
}

/** One batch size's share of {@link calibrateCandidates}; `true` when every candidate got measured. */
async function calibrateBatch(
  step: BatchStep,
  missing: readonly number[],
  batch: number,
  deadline: number,
): Promise<boolean> {
  const { table, runner, settings } = step;
  const minRounds = Math.min(settings.rounds, MIN_ROUNDS);
  const estimate = await roundEstimates(step, missing, batch, deadline);
  if (!estimate) return false;
  const cost = (ids: readonly number[]) => ids.reduce((s, id) => s + (estimate.get(id) ?? 0), 0);
  const left = () => deadline - runner.now();
  let chosen: number[] = [...missing];
  if ((settings.warmup + minRounds) * cost(missing) > left()) {
    const order = [
      ...new Set([...step.priority.filter((id) => missing.includes(id)), ...extremes(missing, step.macs), ...missing]),
    ];
    chosen = [];
    for (const id of order) if ((settings.warmup + minRounds) * cost([...chosen, id]) <= left()) chosen.push(id);
  }
  if (chosen.length === 0) return false;
  const roundMs = cost(chosen);
  const rounds = Math.max(minRounds, Math.min(settings.rounds, Math.floor(left() / roundMs) - settings.warmup));
  // The next round is taken to last as long as the one before.
  let last = runner.now();
  let lastRoundMs = roundMs;
  const onRound = () => {
    const now = runner.now();
    [lastRoundMs, last] = [now - last, now];
  };
  const stop = () => runner.now() + lastRoundMs > deadline;
  await measureInto(table, chosen, batch, runner, { warmup: settings.warmup, rounds, stop, onRound });
  return chosen.length === missing.length && chosen.every((id) => table.calibrated(id, batch, 1));
}

/** The cheapest and the costliest of `ids` by MACs (ids without MACs: none). */
function extremes(ids: readonly number[], macs: ReadonlyMap<number, number>): number[] {
  const known = ids.filter((id) => macs.has(id)).sort((a, b) => (macs.get(a) as number) - (macs.get(b) as number));
  return known.length === 0 ? [] : [...new Set([known[0] as number, known[known.length - 1] as number])];
}

/**
 * The estimated time of one run of each of `ids` at `batch`: the table's figure (measured or
 * predicted), else a pilot — one run of the cheapest and of the costliest stitch after one
 * warm-up, kept in the table as a one-sample figure — and the fit on MACs. `undefined` when the
 * pilot does not fit before `deadline` (by the batch-1 figures, where known) or nothing can be
 * estimated.
 */
async function roundEstimates(
  step: BatchStep,
  ids: readonly number[],
  batch: number,
  deadline: number,
): Promise<Map<number, number> | undefined> {
  const { table, runner } = step;
  const known = () => ids.every((id) => table.latency(id, batch) !== undefined);
  if (!known()) {
    const pilot = extremes(ids, step.macs);
    const probe = pilot.length > 0 ? pilot : ids.slice(0, 1);
    const guess = probe.map((id) => table.latency(id, 1)?.ms ?? 0).reduce((a, b) => a + b, 0);
    if (runner.now() + 2 * guess > deadline) return undefined;
    await measureInto(table, probe, batch, runner, { warmup: 1, rounds: 1 });
  }
  // Stitches that cannot be predicted (no MACs) are taken to cost as much as the costliest measured.
  const worst = Math.max(0, ...ids.map((id) => table.latency(id, batch)?.ms ?? 0));
  if (worst === 0) return undefined;
  return new Map(ids.map((id) => [id, table.latency(id, batch)?.ms ?? worst]));
}
