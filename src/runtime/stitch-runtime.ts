/**
 * `StitchRuntime`: load a stitch package once, run any of its stitches, switch between them
 * instantly — by hand, or driven by a profile from the device's signals.
 */
import { performance } from 'node:perf_hooks';
import { asyncScheduler, BehaviorSubject, ReplaySubject, type Observable } from 'rxjs';
import { OptionError, type StitchnetError } from '../errors.js';
import { readPackage, type StitchPackage } from '../package/index.js';
import type { Manifest } from '../package/schema.js';
import type { StitchCatalog } from '../policy/catalog.js';
import type { LoopDecision } from '../policy/loop.js';
import { OrtSchema, type Profile } from '../profiles/schema.js';
import type { DeviceState } from '../signals/state.js';
import type { RecordOptions } from '../signals/record.js';
import {
  AdaptiveLoop,
  initialStitch,
  loadRuntimeProfile,
  policyCatalog,
  requireCatalog,
  threadsFromOrt,
  type AdaptiveLoopOptions,
  type ProfileSource,
  type StitchChange,
} from './adaptive.js';
import { inProcessClient, workerClient, type EngineClient } from '../engine/client.js';
import {
  closedError,
  type EngineHost,
  type EngineOptions,
  type PieceBytes,
  type PieceSource,
} from '../engine/engine.js';
import { pieceSource } from '../engine/pieces.js';
import { checkInput, type RunInput as TensorInput } from '../engine/input.js';
import { fastPathPolicy, resolveFastPath, resolveThreads, type FastPath } from '../engine/options.js';
import { raceAbort, throwIfAborted } from './abort.js';
import { checkTopK, labelLogits, type ScoredLabel } from './classify.js';
import { isImageInput, preprocessImages, type ImageInput } from './images.js';
import { checkStitchId, defaultStitch } from './stitches.js';
import type { RunOptions, StitchRuntimeOptions } from './option-types.js';
import { parseCreateOptions, parseRunOptions } from './options-schema.js';
import { probeProviders } from '../engine/probe.js';
import {
  openWithFallback,
  validateProviders,
  type ProviderAttempt,
  type ProviderName,
  type ProviderSelection,
} from '../engine/providers.js';
import { workerFile } from '../engine/worker-file.js';
import { resolveCalibrate } from './calibration.js';
import type { RunPath } from '../engine/engine.js';
import { calibrateRuntime, type CalibrationReport, type Calibrator } from './calibrator.js';

export type { CalibrateOptions, RunOptions, StitchRuntimeOptions } from './option-types.js';

/** How many of the latest background errors `errors$` replays to a new subscriber. */
export const ERRORS_REPLAYED = 16;

/**
 * What `run()` and `classify()` take: a float tensor (a Float32Array of one or more samples, or
 * `{ data, dims }`), prepared as the model expects; or raw images (one, or an array for a batch),
 * which the package's `preprocess` turns into that tensor.
 */
export type RunInput = TensorInput | ImageInput | readonly ImageInput[];

/** The result of one {@link StitchRuntime.run}. */
export interface RunResult {
  /** The model output (e.g. `[batch, classes]` logits), row-major. */
  logits: Float32Array;
  dims: number[];
  /** The stitch that ran. */
  stitch: number;
  /** `'fused'` when the stitch's fused session ran, `'route'` when its pieces ran one by one. */
  path: 'route' | 'fused';
  /** The execution provider that ran it. */
  provider: ProviderName;
  /** Time from the call to the result, by the runtime's clock. */
  ms: number;
}

/** Options of {@link StitchRuntime.classify}. */
export interface ClassifyOptions extends RunOptions {
  /** How many labels to keep per sample, most probable first (default 5; more than the classes keeps them all). */
  topK?: number;
}

/** The result of one {@link StitchRuntime.classify}. */
export interface ClassifyResult {
  /** The labels of the first (or only) sample, most probable first: `images[0]`. */
  labels: ScoredLabel[];
  /** One label list per sample of the batch, in input order. */
  images: ScoredLabel[][];
  /** The stitch that ran. */
  stitch: number;
  /** `'fused'` or `'route'`, as in {@link RunResult.path}. */
  path: 'route' | 'fused';
  /** The execution provider that ran it. */
  provider: ProviderName;
  /** Time from the call to the result (inference and labelling), by the runtime's clock. */
  ms: number;
}

/** The provider in use and why the ones before it were not used. */
export type ProviderState = ProviderSelection;

/** Where inference runs: in one worker thread (`'worker'`, the default) or in the calling thread. */
export type RuntimeMode = 'worker' | 'in-process';

/**
 * A loaded stitch package, ready to run any of its stitches.
 *
 * Every piece gets one ORT session at `create()`, so switching stitches is a pointer change: no
 * session creation, no I/O. By default the sessions live in one worker thread and the main event
 * loop never blocks on inference.
 *
 * ## The adaptive loop
 * Given a `profile`, the runtime samples the device (`state$`), lets the policy decide on every
 * new snapshot (`decisions$`) and switches stitches under the profile's switching discipline
 * (`stitchChanges$`, each with the rules and readings behind it). Every `run()` feeds its timing
 * back as `inference.slowdown` (observed ÷ this device's calibrated latency of the stitch, see
 * `calibrate`), so latency limits notice a throttled CPU or a busy GPU without any sensor. The app
 * keeps control where it needs it:
 * - `setStitch(id)` is a one-off manual switch: it counts as a switch for the dwell, and the policy
 *   may move away again on a later decision;
 * - `pin(id)` holds a stitch (decisions go on, switches stop) until `unpin()`, after which the
 *   latest decision applies at once;
 * - `setProfile()` replaces the profile (validated first); it, a reload of the file and the first
 *   profile decide at once, from the profile alone while no reading exists yet;
 * - `record()` streams every reading the policy sees as a trace CSV that `simulate` replays to the
 *   same switches (the runtime, `simulate` and the testing replay run one policy loop).
 *
 * The execution provider is chosen at `create()`: the first of `providers` whose probe passes and
 * on which the package's pieces load and warm up (`providerAttempts` says why the others were not
 * used). A decision whose `provider` limit excludes the one in use is reported on `errors$`
 * (`PROVIDER_NOT_IN_USE`), since changing it would mean new sessions. Likewise the profile's `ort`
 * settings apply at `create()` only.
 *
 * ## Example
 * ```ts
 * await using rt = await StitchRuntime.create({ model: 'models/fmnist-vit', profile: 'profiles/balanced.yaml' });
 * rt.stitchChanges$.subscribe((e) => console.log(e.from, '->', e.to, e.reason.summary));
 * const { logits, stitch } = await rt.run(image);   // a Float32Array of one or more samples
 * ```
 */
export class StitchRuntime {
  /** The provider in use (`provider`) and every attempt (`attempts`); replays the current value. */
  readonly providerChanges$: Observable<ProviderState>;
  /**
   * Background failures that do not fail a run: a fused session that could not be built, a profile
   * file that changed into an invalid one (the previous profile stays), a signal source that
   * failed or sent malformed readings (reported once per source and kind of failure), a provider
   * the policy asks for but that is not in use. Replays the last {@link ERRORS_REPLAYED} errors to
   * every new subscriber, so that errors raised inside `create()` or before the app subscribed are
   * not lost.
   */
  readonly errors$: Observable<StitchnetError>;
  /**
   * Every change of the active stitch (policy, `setStitch`, `pin`) with its reason. No replay: an
   * event stream. (A first decision made inside `create()`, when a source already had readings,
   * has no subscriber yet: `stitch` and `decisions$` show its result.)
   */
  readonly stitchChanges$: Observable<StitchChange>;
  /** Every decision of the policy (empty without a profile); replays the latest. */
  readonly decisions$: Observable<LoopDecision>;
  /**
   * Device snapshots. With a profile they are sampled for the policy all along; without one,
   * sampling runs while this is subscribed. Replays the latest.
   */
  readonly state$: Observable<DeviceState>;

  private readonly providerSubject: BehaviorSubject<ProviderState>;
  private readonly errorSubject = new ReplaySubject<StitchnetError>(ERRORS_REPLAYED);
  private readonly routes = new Map<number, readonly string[]>();
  private readonly running = new Set<Promise<unknown>>();
  /** Batch size of the latest run. */
  private batch = 1;
  private closing: Promise<void> | undefined;
  private readonly adaptive: AdaptiveLoop;
  private readonly calibrator: Calibrator | undefined;

  private constructor(
    /** The package this runtime runs. */
    readonly pkg: StitchPackage,
    private readonly client: EngineClient,
    selection: ProviderSelection,
    initial: number,
    private readonly fastPath: FastPath | false,
    private readonly now: () => number,
    adaptive: Omit<AdaptiveLoopOptions, 'initial'>,
    calibrator?: Calibrator,
  ) {
    this.providerSubject = new BehaviorSubject(selection);
    this.providerChanges$ = this.providerSubject.asObservable();
    this.errors$ = this.errorSubject.asObservable();
    for (const s of pkg.manifest.stitches) this.routes.set(s.id, pkg.routePieces(s.id));
    this.adaptive = new AdaptiveLoop(
      {
        manifest: pkg.manifest,
        provider: () => this.provider,
        report: (e) => this.errorSubject.next(e),
        fusedLatencyMs: (stitch, batch) => this.calibrator?.fusedMs(stitch, batch),
      },
      { ...adaptive, initial },
    );
    this.stitchChanges$ = this.adaptive.stitchChanges$;
    this.decisions$ = this.adaptive.decisions$;
    this.state$ = this.adaptive.state$;
    this.calibrator = calibrator;
    if (calibrator) calibrator.onError = (e) => this.errorSubject.next(e);
  }

  /**
   * Reads the package (when given a folder) and the profile (if any), picks an execution
   * provider, starts the inference worker, creates one session per piece, and starts the adaptive
   * loop.
   *
   * @throws PackageError for a bad package (or one without cost figures, given a profile);
   *   ProfileError PROFILE_NOT_FOUND, PROFILE_INVALID; RuntimeError PROVIDER_UNKNOWN,
   *   PROVIDER_UNAVAILABLE, SESSION_CREATE_FAILED, STITCH_UNKNOWN, WORKER_FAILED, ABORTED (the
   *   `signal` fired; `cause` is its reason); OptionError OPTION_INVALID
   */
  static async create(options: StitchRuntimeOptions): Promise<StitchRuntime> {
    const opts = parseCreateOptions(options);
    const signal = opts.signal;
    throwIfAborted(signal, 'StitchRuntime.create');
    // On an abort, create() rejects at once; the work stops at its next step and releases what it holds.
    return raceAbort(StitchRuntime.open(opts, signal), signal, 'StitchRuntime.create', (rt) => rt.close());
  }

  /** The steps of {@link StitchRuntime.create}; checks `signal` between them. */
  private static async open(opts: StitchRuntimeOptions, signal: AbortSignal | undefined): Promise<StitchRuntime> {
    const preference = validateProviders(opts.providers);
    const fastPath = resolveFastPath(opts.fastPath);
    const useWorker = opts.worker ?? true;
    const now = opts.now ?? (() => performance.now());
    const scheduler = opts.scheduler ?? asyncScheduler;
    const calibration = resolveCalibrate(opts.calibrate);
    const cacheDir = opts.cacheDir;
    const pkg = typeof opts.model === 'string' ? await readPackage(opts.model) : opts.model;
    throwIfAborted(signal, 'StitchRuntime.create');
    const catalog = policyCatalog(pkg.manifest);
    const profile =
      opts.profile === undefined ? undefined : loadRuntimeProfile(opts.profile, requireCatalog(catalog, pkg.manifest));
    const ort = profile?.profile.ort ?? OrtSchema.parse({});
    const threads = resolveThreads(opts.threads ?? threadsFromOrt(ort));
    const cpuMemArena = opts.cpuMemArena ?? ort.enableCpuMemArena;
    let initial =
      opts.stitch !== undefined
        ? checkStitchId(pkg.manifest, opts.stitch, 'stitch')
        : profile && catalog
          ? initialStitch(profile.profile, catalog, scheduler.now())
          : defaultStitch(pkg.manifest);

    // The engine fuses routes by itself; it reads their bytes from the package and reports failures here.
    let report: EngineHost['report'] = () => undefined;
    const host: EngineHost = { pieceBytes: (ids) => readPieces(pkg, ids), report: (e) => report(e) };
    const { selection, value: client } = await openWithFallback(
      preference,
      (rest) => probeProviders(rest, workerFile),
      (provider) =>
        openEngine(pkg, host, signal, useWorker, {
          session: { provider, threads, cpuMemArena, prepackWeights: opts.prepackWeights },
          fastPath: fastPathPolicy(fastPath, opts.fastPath, provider),
        }),
    );
    let calibrator: Calibrator | undefined;
    try {
      const init = {
        pkg,
        client,
        provider: selection.provider,
        threads,
        cpuMemArena: cpuMemArena ?? true,
        worker: useWorker,
        cacheDir,
        profile: profile?.profile,
        start: initial,
      };
      calibrator = calibration === false ? undefined : await calibrateRuntime({ ...init, settings: calibration });
    } catch (e) {
      await client.close();
      throw e;
    }
    // The policy works on this device's latencies; the first choice is made again on them.
    const deviceCatalog = calibrator ? policyCatalog(pkg.manifest, calibrator.table) : catalog;
    if (opts.stitch === undefined && profile && deviceCatalog)
      initial = initialStitch(profile.profile, deviceCatalog, scheduler.now());
    const rt = new StitchRuntime(
      pkg,
      client,
      selection,
      initial,
      fastPath,
      now,
      {
        catalog: deviceCatalog,
        profile,
        watchProfile: opts.watchProfile ?? true,
        signals: opts.signals ?? [],
        systemSource: opts.systemSource,
        scheduler,
        ort: opts.threads === undefined && opts.cpuMemArena === undefined ? ort : undefined,
      },
      calibrator,
    );
    report = (e) => rt.errorSubject.next(e);
    rt.adaptive.start();
    rt.calibrateLazily();
    return rt;
  }

  /** The package manifest. */
  get manifest(): Manifest {
    return this.pkg.manifest;
  }

  /** The active stitch: what `run()` uses unless told otherwise. */
  get stitch(): number {
    return this.adaptive.active;
  }

  /** The execution provider in use. */
  get provider(): ProviderName {
    return this.providerSubject.value.provider;
  }

  /** Every provider considered, in preference order, with the reason each unused one failed. */
  get providerAttempts(): readonly ProviderAttempt[] {
    return this.providerSubject.value.attempts;
  }

  /** The profile in force, if any. */
  get profile(): Profile | undefined {
    return this.adaptive.profile;
  }

  /** The stitch held by {@link StitchRuntime.pin}, if any. */
  get pinned(): number | undefined {
    return this.adaptive.pinned;
  }

  /**
   * The stitches as the policy sees them: the package's cost and accuracy with this device's
   * latencies (calibrated, predicted, else the package's). `simulate()` given this catalog replays a
   * recording of this runtime (`record()`) to the same switches. `undefined` when the package has
   * no cost figures (no policy can drive it).
   */
  get catalog(): StitchCatalog | undefined {
    return this.adaptive.catalog;
  }

  /**
   * This device's latency figures (see the `calibrate` option): per candidate stitch and batch
   * size, measured (`device`) or predicted from the measured ones (`predicted`), whether they came
   * from the cache, and the time `create()` spent. `undefined` with `calibrate: false`.
   */
  get calibration(): CalibrationReport | undefined {
    return this.calibrator?.report();
  }

  /** Whether the worker thread runs inference (`'worker'`) or this thread does (`'in-process'`). */
  get mode(): RuntimeMode {
    return this.client.mode;
  }

  /**
   * Makes `id` the active stitch. Synchronous and free: no I/O, no session creation. Runs already
   * in flight finish on the stitch they started with.
   *
   * With a profile this is a one-off switch: it counts as a switch for the profile's dwell, and
   * the policy may move away from it on a later decision. Use {@link StitchRuntime.pin} to hold a
   * stitch. While pinned, `setStitch` moves the pin.
   *
   * @throws RuntimeError STITCH_UNKNOWN (with the valid ids), RUNTIME_CLOSED
   */
  setStitch(id: number): void {
    if (this.closing) throw closedError();
    this.adaptive.manual(checkStitchId(this.pkg.manifest, id, 'stitch'));
  }

  /**
   * Holds stitch `id` against the policy until {@link StitchRuntime.unpin}: decisions are still
   * made and emitted, but nothing switches.
   *
   * @throws RuntimeError STITCH_UNKNOWN, RUNTIME_CLOSED
   */
  pin(id: number): void {
    if (this.closing) throw closedError();
    this.adaptive.pin(checkStitchId(this.pkg.manifest, id, 'stitch'));
  }

  /** Releases a {@link StitchRuntime.pin}: the policy's latest decision applies at once. No-op when not pinned. */
  unpin(): void {
    if (this.closing) throw closedError();
    this.adaptive.unpin();
  }

  /**
   * Puts a profile in force (a file path, watched for changes unless `watchProfile: false`, or an
   * object), starting the policy if there was none. Validated against the package first: on error
   * nothing changes. Its `ort` block applies only at `create()`.
   *
   * @returns the validated profile, defaults filled in
   * @throws ProfileError PROFILE_NOT_FOUND, PROFILE_INVALID (with file, line, field and hint);
   *   PackageError when the package has no cost figures; RuntimeError RUNTIME_CLOSED
   */
  setProfile(profile: ProfileSource): Profile {
    if (this.closing) throw closedError();
    return this.adaptive.setProfile(profile);
  }

  /**
   * Records every reading the policy sees from now on, as the lines of a trace CSV (header first;
   * times in ms since `create()`; inference timings included; application signals only when
   * named in `options.signals`). `stitchnet simulate` on the file makes the same switches, in the
   * same order, within one sampling period — for a run without `setStitch` or `pin`, which the
   * file does not hold. The stream completes at `close()`.
   *
   * ```ts
   * const file = createWriteStream('run.csv');
   * rt.record().subscribe((line) => file.write(line));
   * ```
   *
   * @throws OptionError `OPTION_INVALID` (option `signals`) for a column that is not a signal
   *   name, a name listed twice, or an empty list
   */
  record(options?: RecordOptions): Observable<string> {
    if (this.closing) throw closedError();
    return this.adaptive.record(options);
  }

  /**
   * Runs the active stitch (or `opts.stitch`) on one input. The route is fixed when `run` is
   * called: a `setStitch` while it runs does not affect it. The input array is not modified or
   * detached.
   *
   * @param input - a Float32Array of one or more samples (the batch is inferred), `{ data, dims }`,
   *   or raw images: one {@link ImageInput} or an array of them (a batch), which the package's
   *   `preprocess` turns into the model input; every value must be finite unless `checkFinite: false`
   * @throws RuntimeError INPUT_INVALID (with the expected shape, the image field at fault, or the
   *   index of the first value that is not finite), STITCH_UNKNOWN, RUNTIME_CLOSED, INFERENCE_FAILED,
   *   WORKER_FAILED, ABORTED; OptionError OPTION_INVALID for unknown or mistyped options
   */
  async run(input: RunInput, options?: RunOptions): Promise<RunResult> {
    if (this.closing) throw closedError();
    const opts = parseRunOptions(options);
    const signal = opts.signal;
    throwIfAborted(signal, 'run');
    const started = this.now();
    const stitch =
      opts.stitch === undefined
        ? this.adaptive.active
        : checkStitchId(this.pkg.manifest, opts.stitch, 'options.stitch');
    const tensor = isImageInput(input) ? preprocessImages(input, this.pkg.manifest) : input;
    const { data, dims } = checkInput(tensor, this.pkg.manifest.input, { checkFinite: opts.checkFinite ?? true });
    const pieces = this.routes.get(stitch) as readonly string[];
    const provider = this.provider;
    const epoch = this.calibrator?.epoch;
    // The bookkeeping is part of the job: a run whose caller aborted still counts (it did run).
    const job = this.client.run({ pieces, data, dims, at: started }).then((out): RunResult => {
      const ms = this.now() - started;
      const batch = dims[0] ?? 1;
      this.batch = batch;
      // A run that shared the engine with a background calibration says nothing about the device.
      if (epoch === this.calibrator?.epoch && !this.calibrator?.busy) {
        this.adaptive.recordRun(stitch, ms, batch, out.path);
        this.refineBaseline(stitch, batch, out.path, ms);
        this.measureFusedOnce(stitch, batch, out.path);
      }
      // With a policy, the active stitch gets this device's figure at this batch size (lazily).
      if (opts.stitch === undefined && this.adaptive.profile !== undefined) this.calibrator?.request(stitch, batch);
      return { logits: out.data, dims: out.dims, stitch, path: out.path, provider, ms };
    });
    this.running.add(job);
    const done = () => this.running.delete(job);
    job.then(done, done);
    return raceAbort(job, signal, 'run');
  }

  /**
   * Runs {@link StitchRuntime.run} and labels the output: a softmax over the classes of each
   * sample, named by the manifest's `output.labels`, the `topK` most probable first.
   *
   * ```ts
   * const { labels } = await rt.classify({ pixels, width: 28, height: 28, channels: 1 }, { topK: 3 });
   * // [{ label: 'Sneaker', index: 7, score: 0.97 }, …]
   * ```
   *
   * @param input - as for {@link StitchRuntime.run}; for a batch, `images` has one list per sample
   * @throws as {@link StitchRuntime.run}; OptionError OPTION_INVALID for a bad `topK`;
   *   RuntimeError INFERENCE_FAILED when the output is not `[batch, classes]` or `output.labels`
   *   does not match it
   */
  async classify(input: RunInput, opts: ClassifyOptions = {}): Promise<ClassifyResult> {
    const topK = checkTopK(opts.topK);
    const started = this.now();
    const { topK: _topK, ...runOptions } = opts;
    const r = await this.run(input, runOptions);
    const images = labelLogits(r.logits, r.dims, this.pkg.manifest, topK);
    return {
      labels: images[0] ?? [],
      images,
      stitch: r.stitch,
      path: r.path,
      provider: r.provider,
      ms: this.now() - started,
    };
  }

  /**
   * Builds the fused session of a stitch now (it is otherwise built in the background once the
   * stitch has stayed active long enough). Resolves when later runs of that stitch will use it.
   *
   * @throws RuntimeError STITCH_UNKNOWN, RUNTIME_CLOSED, SESSION_CREATE_FAILED; OnnxError; OptionError
   *   OPTION_INVALID when the fast path is off or the stitch alone is over `fastPath.memoryBudgetMB`
   */
  async fuse(id: number): Promise<void> {
    if (this.closing) throw closedError();
    const pieces = this.routes.get(checkStitchId(this.pkg.manifest, id, 'stitch')) as readonly string[];
    if (this.fastPath === false) {
      throw new OptionError('OPTION_INVALID', 'the fast path is off, so no fused session can be kept', {
        option: 'fastPath',
        hint: 'Create the runtime without fastPath: false.',
      });
    }
    return this.client.fuse(pieces);
  }

  /**
   * Stops the adaptive loop at once (signal sources, their timers and child processes, the profile
   * watch; every observable completes), then releases every session and the worker. Runs in flight
   * finish first; later calls reject with RuntimeError RUNTIME_CLOSED. Calling it again returns the
   * same promise.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.adaptive.close();
      await this.calibrator?.close();
      await Promise.allSettled([...this.running]);
      await this.client.close();
      this.providerSubject.complete();
      this.errorSubject.complete();
    })();
    return this.closing;
  }

  /**
   * Lazy calibration: a stitch the policy picks, or the active stitch at a new batch size, that has
   * no full measurement on this device yet is measured in the background (with a profile only:
   * without one, nothing decides on latencies).
   */
  private calibrateLazily(): void {
    const calibrator = this.calibrator;
    if (!calibrator) return;
    this.decisions$.subscribe((d) => {
      if (!this.closing) calibrator.request(d.stitch, this.batch);
    });
  }

  /**
   * Lowers this device's figure of a stitch's route when its route runs keep running markedly
   * faster (Calibrator.refine). Not from fused runs through the fused ÷ route ratio: tried, and on
   * a machine whose quiet speed wanders by a quarter over tens of seconds it lowered the figure to
   * the fastest window of a long-running stitch, so that the ordinary quiet periods after it read
   * as slowdowns of 1.3–1.9.
   */
  private refineBaseline(stitch: number, batch: number, path: RunPath, ms: number): void {
    // The window's median is taken only when this run alone could lower the figure (off the hot path otherwise).
    if (path !== 'route' || !this.calibrator?.couldRefine(stitch, batch, ms)) return;
    const observed = this.adaptive.observedMs(stitch, 'route');
    if (observed !== undefined) this.calibrator.refine(stitch, batch, observed);
  }

  /**
   * Has a stitch's fused ÷ route ratio measured (Calibrator.requestFused) once it has run fused
   * past the inference monitor's warm-up: a fresh session runs slower for its first moments.
   */
  private measureFusedOnce(stitch: number, batch: number, path: RunPath): void {
    if (path !== 'fused' || !this.calibrator?.wantsFused(stitch, batch)) return;
    if (this.adaptive.observedMs(stitch, 'fused') !== undefined) this.calibrator.requestFused(stitch, batch);
  }

  /** `await using rt = await StitchRuntime.create(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** An engine (in a worker or in this thread) with every piece of the package loaded; closed again if loading fails. */
async function openEngine(
  pkg: StitchPackage,
  host: EngineHost,
  signal: AbortSignal | undefined,
  useWorker: boolean,
  engine: EngineOptions,
): Promise<EngineClient> {
  throwIfAborted(signal, 'StitchRuntime.create');
  const client = useWorker ? workerClient(engine, await workerFile(), host) : inProcessClient(engine, host);
  try {
    await loadPieces(pkg, client, signal);
  } catch (e) {
    await client.close();
    throw e;
  }
  return client;
}

/** Reads pieces' bytes (checked against the package's hashes) for the engine to fuse them. */
async function readPieces(pkg: StitchPackage, ids: readonly string[]): Promise<PieceBytes[]> {
  const out: PieceBytes[] = [];
  for (const id of ids) out.push({ id, bytes: await pkg.pieceBytes(id) });
  return out;
}

/**
 * Creates the session of every piece some stitch uses, each once, from its checked file (see
 * `pieceSource`), checking the next piece while the current one is being created.
 */
async function loadPieces(pkg: StitchPackage, client: EngineClient, signal: AbortSignal | undefined): Promise<void> {
  const ids = [...new Set(pkg.manifest.stitches.flatMap((s) => pkg.routePieces(s.id)))];
  const source = (id: string | undefined) => (id === undefined ? undefined : pieceSource(pkg, id));
  let next = source(ids[0]);
  for (let i = 0; i < ids.length; i++) {
    const piece = await (next as Promise<PieceSource>);
    next = source(ids[i + 1]);
    // A check that fails while an earlier piece loads is reported when its turn comes.
    next?.catch(() => undefined);
    throwIfAborted(signal, 'StitchRuntime.create');
    await client.loadPiece(piece);
  }
  throwIfAborted(signal, 'StitchRuntime.create');
  await warmUp(pkg, ids, client);
}

/**
 * Runs every piece once on zeros (batch 1). onnxruntime's first run of a session plans and
 * allocates its memory and takes many times a warm run; doing it here keeps that cost out of the
 * first `run()` of each stitch, and out of the observed-latency signal the policy reads.
 */
async function warmUp(pkg: StitchPackage, ids: readonly string[], client: EngineClient): Promise<void> {
  for (const id of ids) {
    const shape = pkg.manifest.pieces[id]?.input.shape;
    // Only the batch (first) dimension may be symbolic for a warm-up input to be well defined.
    if (!shape || shape.slice(1).some((d) => typeof d !== 'number')) continue;
    const dims = shape.map((d) => (typeof d === 'number' ? d : 1));
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    await client.run({ pieces: [id], data, dims });
  }
}
