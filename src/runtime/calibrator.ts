/**
 * A runtime's calibration: the cache, the measurements at `create()`, the lazy ones afterwards,
 * and the report `rt.calibration` shows.
 */
import { performance } from 'node:perf_hooks';
import type { EngineClient } from '../engine/client.js';
import { CACHE_DIR_ENV, cacheRoot } from '../base/cache-dir.js';
import { messageOf } from '../base/message.js';
import { ortVersion, type ThreadSettings } from '../engine/ort.js';
import type { StitchPackage } from '../package/index.js';
import type { Manifest } from '../package/schema.js';
import type { Profile } from '../profiles/schema.js';
import { RuntimeError, type StitchnetError } from '../errors.js';
import { batchInput } from '../engine/latency.js';
import {
  calibrateCandidates,
  DeviceLatency,
  measureFusedRatio,
  measureInto,
  MIN_ROUNDS,
  type CalibrationEntry,
  type CalibrationRunner,
  type CalibrationSettings,
  type PathRun,
} from './calibration.js';
import type { RunOutput, RunPath, RunRequest } from '../engine/engine.js';
import {
  calibrationFile,
  cpuIdentity,
  manifestHash,
  readCalibrationCache,
  writeCalibrationCache,
  type CalibrationKey,
} from './calibration-cache.js';

/** What `rt.calibration` reports: this device's latency figures and how they were obtained. */
export interface CalibrationReport {
  /** The execution provider measured. */
  readonly provider: string;
  /** `hit`: every candidate came from the cache; `miss`: none did; `partial`: some did. */
  readonly cache: 'hit' | 'miss' | 'partial';
  /** `eager`: every candidate measured (or cached) at every batch size; `lazy`: some predicted, measured when first needed. */
  readonly mode: 'eager' | 'lazy';
  /** Time `create()` spent on calibration (cache read and write included), ms. */
  readonly ms: number;
  /** Figures (stitch × batch size) measured by `create()`. */
  readonly measured: number;
  /** The cache file. */
  readonly file: string;
  /** Why the cache could not be written, if it could not. */
  readonly cacheError: string | undefined;
  /** The stitches calibrated at `create()`. */
  readonly candidates: readonly number[];
  /** Batch sizes measured at `create()`. */
  readonly batches: readonly number[];
  /** The figure of each candidate (and of every stitch measured since) at each batch size measured, now. */
  readonly stitches: readonly CalibrationEntry[];
  /** Figures lowered since `create()` because this device kept running the stitch markedly faster. */
  readonly refined: number;
}

/** What {@link Calibrator.start} needs. */
export interface CalibratorInit {
  readonly key: CalibrationKey;
  readonly settings: CalibrationSettings;
  readonly runner: EngineRunner;
  /** Stitches to calibrate at start. */
  readonly candidates: readonly number[];
  /** Measured first when the budget does not cover every candidate (e.g. the starting stitch). */
  readonly priority: readonly number[];
  /** MACs per sample of each stitch (for the fit). */
  readonly macs: ReadonlyMap<number, number>;
  /** The `cacheDir` option. */
  readonly cacheDir?: string | undefined;
}

/** What the engine's runner needs of the engine: a run that says which path it took. */
export type EngineRun = (request: RunRequest) => Promise<Pick<RunOutput, 'path'>>;

/** A {@link CalibrationRunner} that can also run a stitch's fused session. */
export interface EngineRunner extends CalibrationRunner {
  readonly onPath: PathRun;
}

/**
 * The runner of a runtime's engine: each run timed by `performance.now()`. Its runs do not count
 * for the fast path, and `run` measures a route piece by piece even where it has a fused session.
 */
export function engineRunner(
  run: EngineRun,
  route: (stitch: number) => readonly string[],
  sampleShape: readonly number[],
): EngineRunner {
  const onPath: PathRun = async (pieces, data, dims, path) => {
    const t0 = performance.now();
    const out = await run({ pieces, data, dims, count: false, forceRoute: path === 'route' });
    return { ms: performance.now() - t0, path: out.path };
  };
  return {
    onPath,
    run: async (pieces, data, dims) => (await onPath(pieces, data, dims, 'route')).ms,
    now: () => performance.now(),
    route,
    sampleShape,
    stamp: () => new Date().toISOString(),
  };
}

/**
 * A route observed below this fraction of its measured figure, over a whole window, replaces the figure
 * (a calibration taken on a busy machine would otherwise read every idle run as a speed-up and hide
 * real contention).
 */
export const REFINE_BELOW = 0.8;

/** A background measurement: a stitch's route at a batch size, or its fused ÷ route ratio there. */
interface Job {
  readonly stitch: number;
  readonly batch: number;
  readonly path: RunPath;
}

const jobKey = (job: Job) => `${job.stitch}/${job.batch}/${job.path}`;

/**
 * Reads the cache, measures what it lacks within the budget, writes it back. Afterwards,
 * {@link Calibrator.request} measures a stitch (at a batch size) that has no figure yet, in the
 * background, one at a time.
 */
export class Calibrator {
  /** Figures lowered online by {@link refine}. */
  private refined = 0;
  /** Cache writes of lowered figures, in order; `close()` waits for them. */
  private writing: Promise<void> = Promise.resolve();
  /** Reported when a background measurement or a cache write fails. */
  onError: (e: StitchnetError) => void = () => undefined;
  private readonly queue: Job[] = [];
  private readonly asked = new Set<string>();
  private worker: Promise<void> | undefined;
  private closed = false;
  private activity = 0;
  private report_: Omit<CalibrationReport, 'stitches'>;

  private constructor(
    readonly table: DeviceLatency,
    private readonly init: CalibratorInit,
    private readonly file: string,
  ) {
    this.report_ = {
      provider: table.provider,
      cache: 'miss',
      mode: 'eager',
      ms: 0,
      refined: 0,
      measured: 0,
      file,
      cacheError: undefined,
      candidates: init.candidates,
      batches: init.settings.batches,
    };
  }

  /** Calibrates the candidates (from the cache where it has them). */
  static async start(init: CalibratorInit): Promise<Calibrator> {
    const t0 = performance.now();
    const file = calibrationFile(cacheRoot(init.cacheDir), init.key);
    const table = new DeviceLatency(init.key.provider, init.macs);
    for (const e of await readCalibrationCache(file, init.key)) table.set(e);
    const c = new Calibrator(table, init, file);
    const measured = (b: number) => init.candidates.filter((id) => table.calibrated(id, b, 1)).length;
    const hits = init.settings.batches.reduce((n, b) => n + measured(b), 0);
    const wanted = init.settings.batches.length * init.candidates.length;
    const cache = hits === wanted ? 'hit' : hits === 0 ? 'miss' : 'partial';
    // A batch size the cache has a calibration of (enough figures for the fit) is not measured
    // again: a lazy calibration's predicted stitches are measured when they are first needed.
    const todo = init.settings.batches.filter((b) => measured(b) < Math.min(2, init.candidates.length));
    const run = await calibrateCandidates(
      table,
      init.candidates,
      { ...init.settings, batches: todo },
      init.runner,
      init.priority,
      init.macs,
    );
    const cacheError = run.measured > 0 ? await c.persist() : undefined;
    const mode = init.settings.batches.every((b) => measured(b) === init.candidates.length) ? 'eager' : 'lazy';
    c.report_ = { ...c.report_, cache, mode, measured: run.measured, cacheError, ms: performance.now() - t0 };
    return c;
  }

  /** The report (figures as of now). */
  report(): CalibrationReport {
    const ids = [...new Set([...this.init.candidates, ...this.table.entries().map((e) => e.stitch)])].sort(
      (a, b) => a - b,
    );
    const batches = [...new Set([...this.init.settings.batches, ...this.table.entries().map((e) => e.batch)])].sort(
      (a, b) => a - b,
    );
    return { ...this.report_, stitches: this.table.list(ids, batches), refined: this.refined };
  }

  /** A counter that moves whenever a background measurement starts or ends (runs across a change share the engine with it). */
  get epoch(): number {
    return this.activity;
  }

  /** Whether a background measurement is running. */
  get busy(): boolean {
    return this.activity % 2 === 1;
  }

  /** Measures `stitch` at `batch` in the background unless it is calibrated (or was asked for) already. */
  request(stitch: number, batch: number): void {
    if (this.table.calibrated(stitch, batch, Math.min(this.init.settings.rounds, MIN_ROUNDS))) return;
    this.enqueue({ stitch, batch, path: 'route' });
  }

  /**
   * This device's figure of `stitch`'s fused session at `batch` (ms): its route's figure × the
   * measured fused ÷ route ratio; `undefined` until both are measured.
   */
  fusedMs(stitch: number, batch: number): number | undefined {
    const e = this.table.entry(stitch, batch);
    return e?.fusedRatio === undefined ? undefined : e.p50Ms * e.fusedRatio;
  }

  /** Whether {@link requestFused} would measure (cheap: the runtime asks after every fused run). */
  wantsFused(stitch: number, batch: number): boolean {
    const e = this.table.entry(stitch, batch);
    return (
      !this.closed &&
      e !== undefined &&
      e.fusedRatio === undefined &&
      !this.asked.has(jobKey({ stitch, batch, path: 'fused' }))
    );
  }

  /**
   * Measures the fused ÷ route ratio of `stitch` at `batch` in the background
   * ({@link measureFusedRatio}) unless its route has no figure or it has a ratio (or was asked for)
   * already. A fused run is faster than its route (1.1–1.4× for small models), so measured against
   * the route's figure it would hide that much of a slowdown; against the fused figure it does not.
   */
  requestFused(stitch: number, batch: number): void {
    if (this.wantsFused(stitch, batch)) this.enqueue({ stitch, batch, path: 'fused' });
  }

  private enqueue(job: Job): void {
    const key = jobKey(job);
    if (this.closed || this.asked.has(key)) return;
    this.asked.add(key);
    this.queue.push(job);
    this.worker ??= this.drain().finally(() => {
      this.worker = undefined;
    });
  }

  /**
   * Learns the baseline online: when this device runs a stitch's route markedly faster than its
   * measured figure over a whole window of runs (the figure, or the cache it came from, was taken
   * while the machine was busy), the figure is lowered to what is observed now and the cache is
   * rewritten. A slower observation never raises it: that is what `inference.slowdown` reports.
   * Returns whether the figure changed.
   */
  refine(stitch: number, batch: number, observedMs: number): boolean {
    const entry = this.table.entry(stitch, batch);
    if (!entry || !this.couldRefine(stitch, batch, observedMs)) return false;
    const p95Ms = Math.max(observedMs, entry.p95Ms * (observedMs / entry.p50Ms));
    this.table.set({ ...entry, p50Ms: observedMs, p95Ms, at: new Date().toISOString() });
    this.refined++;
    this.writing = this.writing.then(() =>
      this.persist().then((error) => {
        if (error !== undefined) this.onError(cacheWriteError(this.file, error));
      }),
    );
    return true;
  }

  /** Whether a latency of `observedMs` is low enough to lower the stitch's measured figure (see {@link refine}). */
  couldRefine(stitch: number, batch: number, observedMs: number): boolean {
    const entry = this.table.entry(stitch, batch);
    return !this.closed && entry !== undefined && observedMs > 0 && observedMs < entry.p50Ms * REFINE_BELOW;
  }

  /** Stops taking requests and waits for the measurement in progress. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    await this.worker;
    await this.writing;
  }

  private async drain(): Promise<void> {
    for (let job = this.queue.shift(); job && !this.closed; job = this.queue.shift()) {
      this.activity++;
      try {
        await this.measure(job);
      } catch (e) {
        if (!this.closed) {
          this.onError(
            new RuntimeError(
              'INFERENCE_FAILED',
              `Could not calibrate stitch ${job.stitch} at batch ${job.batch}: ${messageOf(e)}`,
              {
                cause: e,
                option: 'calibrate',
                hint: "The stitch keeps the package's latency figure; pass calibrate: false to skip this device's calibration.",
              },
            ),
          );
        }
        continue;
      } finally {
        this.activity++;
      }
      if (this.closed) return;
      const error = await this.persist();
      if (error !== undefined) this.onError(cacheWriteError(this.file, error));
    }
  }

  /**
   * One background measurement, into the table. `close()` cuts it short (after the round, or
   * before the next run, in progress); what it measured then is not kept.
   */
  private async measure(job: Job): Promise<void> {
    const { runner, settings } = this.init;
    const stop = () => this.closed;
    if (job.path === 'route') {
      await measureInto(this.table, [job.stitch], job.batch, runner, {
        warmup: settings.warmup,
        rounds: settings.rounds,
        stop,
      });
      return;
    }
    const input = batchInput(runner.sampleShape, job.batch);
    const pairs = Math.max(3, Math.ceil(settings.rounds / 2));
    const ratio = await measureFusedRatio(runner.onPath, runner.route(job.stitch), input, { pairs, block: 3, stop });
    // The route's figure as it is now (it may have been refined meanwhile).
    const entry = this.table.entry(job.stitch, job.batch);
    if (ratio !== undefined && entry) this.table.set({ ...entry, fusedRatio: ratio });
  }

  /** Writes the measured figures to the cache; the error's message if that failed. */
  private async persist(): Promise<string | undefined> {
    try {
      await writeCalibrationCache(this.file, this.init.key, this.table.entries());
      return undefined;
    } catch (e) {
      return messageOf(e);
    }
  }
}

function cacheWriteError(file: string, message: string): RuntimeError {
  return new RuntimeError('CACHE_WRITE_FAILED', `Could not write the calibration cache ${file}: ${message}`, {
    option: 'cacheDir',
    hint: `Give a writable folder with the cacheDir option or the ${CACHE_DIR_ENV} environment variable`,
  });
}

/** What {@link calibrateRuntime} needs of the runtime being created. */
export interface RuntimeCalibrationInit {
  readonly pkg: StitchPackage;
  readonly client: EngineClient;
  readonly provider: string;
  readonly threads: ThreadSettings;
  readonly cpuMemArena: boolean;
  /** Whether the runtime runs inference in its worker (part of the cache key). */
  readonly worker: boolean;
  readonly settings: CalibrationSettings;
  readonly cacheDir: string | undefined;
  readonly profile: Profile | undefined;
  /** The stitch the runtime is expected to start on (measured first when the budget is short). */
  readonly start: number;
}

/**
 * What a calibration on this device depends on: the package, the provider and session settings,
 * worker or in-process, the CPU and onnxruntime.
 */
export function calibrationKey(
  manifest: Manifest,
  provider: string,
  threads: ThreadSettings,
  cpuMemArena: boolean,
  worker: boolean,
): CalibrationKey {
  return {
    manifest: manifestHash(manifest),
    provider,
    threads: { intraOp: threads.intraOp, interOp: threads.interOp, spinning: threads.spinning === true },
    cpuMemArena,
    worker,
    cpu: cpuIdentity(),
    ort: ortVersion(),
  };
}

function stitchMacs(manifest: Manifest): Map<number, number> {
  return new Map(
    manifest.stitches.flatMap((s) => (s.macs !== undefined && s.macs > 0 ? [[s.id, s.macs] as const] : [])),
  );
}

/**
 * This device's latency table as a runtime created with these settings would start from: the
 * calibration cache's figures (measured at an earlier `create()`, by `stitchnet calibrate`, or
 * refined online), `undefined` when the cache has none. Nothing is measured.
 */
export async function cachedDeviceLatency(
  manifest: Manifest,
  key: CalibrationKey,
  cacheDir: string | undefined,
): Promise<DeviceLatency | undefined> {
  const entries = await readCalibrationCache(calibrationFile(cacheRoot(cacheDir), key), key);
  if (entries.length === 0) return undefined;
  const table = new DeviceLatency(key.provider, stitchMacs(manifest));
  for (const e of entries) table.set(e);
  return table;
}

/**
 * The stitches worth calibrating at `create()`: the ones a profile restricts itself to (its
 * `stitches` limits, default and rules together), else the package frontier; and `start`.
 */
export function calibrationCandidates(manifest: Manifest, profile: Profile | undefined, start: number): number[] {
  const ids = new Set(manifest.stitches.map((s) => s.id));
  const named = [profile?.limits.stitches ?? [], ...(profile?.rules ?? []).map((r) => r.limit.stitches ?? [])].flat();
  const frontier = manifest.frontier && manifest.frontier.length > 0 ? manifest.frontier : [...ids];
  const base = profile?.limits.stitches ? named : [...frontier, ...named];
  return [...new Set([start, ...base])].filter((id) => ids.has(id));
}

/**
 * Calibrates a runtime being created on its own engine (see {@link Calibrator.start});
 * `undefined` when the package's input has symbolic dimensions besides the batch (no input to
 * measure with).
 */
export async function calibrateRuntime(init: RuntimeCalibrationInit): Promise<Calibrator | undefined> {
  const { pkg, client } = init;
  const sampleShape = pkg.manifest.input.shape.slice(1);
  if (sampleShape.some((d) => typeof d !== 'number')) return undefined;
  const key = calibrationKey(pkg.manifest, init.provider, init.threads, init.cpuMemArena, init.worker);
  const macs = stitchMacs(pkg.manifest);
  const runner = engineRunner(
    (request) => client.run(request),
    (id) => pkg.routePieces(id),
    sampleShape as number[],
  );
  return Calibrator.start({
    key,
    settings: init.settings,
    runner,
    candidates: calibrationCandidates(pkg.manifest, init.profile, init.start),
    priority: [init.start],
    macs,
    cacheDir: init.cacheDir,
  });
}
