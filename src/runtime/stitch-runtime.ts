/**
 * `StitchRuntime`: load a stitch package once, run any of its stitches, switch between them
 * instantly — by hand, or driven by a profile from the device's signals.
 */
import { performance } from 'node:perf_hooks';
import { asyncScheduler, BehaviorSubject, Subject, type Observable } from 'rxjs';
import { OptionError, type StitchnetError } from '../errors.js';
import { readPackage, type StitchPackage } from '../package/index.js';
import type { Manifest } from '../package/schema.js';
import type { Decision } from '../policy/decide.js';
import { OrtSchema, type Profile } from '../profiles/schema.js';
import type { DeviceState } from '../signals/state.js';
import {
  AdaptiveLoop,
  initialStitch,
  loadRuntimeProfile,
  policyCatalog,
  requireCatalog,
  threadsFromOrt,
  type AdaptiveLoopOptions,
  type AdaptiveOptions,
  type ProfileSource,
  type StitchChange,
} from './adaptive.js';
import { inProcessClient, workerClient, type EngineClient } from '../engine/client.js';
import { closedError, fusedKey, type EngineOptions, type PieceBytes } from '../engine/engine.js';
import { checkInput, type RunInput } from '../engine/input.js';
import { resolveBoolean, resolveFastPath, resolveThreads, type FastPath, type FastPathOptions, type ThreadOptions } from '../engine/options.js';
import { checkStitchId, defaultStitch } from './stitches.js';
import { probeProviders } from '../engine/probe.js';
import { openWithFallback, validateProviders, type ProviderAttempt, type ProviderName, type ProviderSelection } from '../engine/providers.js';
import { workerFile } from '../engine/worker-file.js';

/** Options of {@link StitchRuntime.create}; the adaptive ones (`profile`, `signals`, …) are in {@link AdaptiveOptions}. */
export interface StitchRuntimeOptions extends AdaptiveOptions {
  /**
   * A stitch package folder, the name of an installed model package (`'@stitchnet/fmnist-vit'`,
   * looked up in `node_modules` from the working directory; see `readPackage`'s `from` to look
   * elsewhere), or a package already read with `readPackage`.
   */
  model: string | StitchPackage;
  /** Execution providers in order of preference. Default `['cuda', 'dml', 'webgpu', 'coreml', 'cpu']`. */
  providers?: readonly ProviderName[];
  /** Threads of every ORT session. Default: the profile's `ort` block, else the runtime's defaults. */
  threads?: ThreadOptions;
  /**
   * Keep onnxruntime's CPU memory arena (default: the profile's `ort.enableCpuMemArena`, else
   * `true`). `false` returns activation memory after every run: a much smaller resident set; a run
   * may pay for allocating its buffers anew (README, Performance).
   */
  cpuMemArena?: boolean;
  /** Run inference in a worker thread (default `true`) or in this thread (`false`). */
  worker?: boolean;
  /** Fuse a stitch that stays active into one session; `false` turns this off. */
  fastPath?: false | FastPathOptions;
  /**
   * The stitch to start on. Default: with a profile, its choice before any reading arrived (its
   * default limits); without one, the most accurate frontier stitch, else the largest anchor. With
   * a profile, the policy's first decision applies at once.
   */
  stitch?: number;
  /** The clock (ms) used for `ms` and the fast-path timing. Default `performance.now`. */
  now?: () => number;
}

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
  provider: string;
  /** Time from the call to the result, by the runtime's clock. */
  ms: number;
}

/** Options of {@link StitchRuntime.run}. */
export interface RunOptions {
  /** Run this stitch for this call only (the active stitch stays as it is). */
  stitch?: number;
}

/** The provider in use and why the ones before it were not used. */
export type ProviderState = ProviderSelection;

/** Tracks how long one stitch has been running, for the fast path. */
interface Streak {
  stitch: number;
  runs: number;
  since: number;
  /** Total duration of those runs (ms). */
  ms: number;
}

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
 * back as `inference.slowdown` (observed ÷ profiled latency), so latency limits notice a throttled
 * CPU or a busy GPU without any sensor. The app keeps control where it needs it:
 * - `setStitch(id)` is a one-off manual switch: it counts as a switch for the dwell, and the policy
 *   may move away again on a later decision;
 * - `pin(id)` holds a stitch (decisions go on, switches stop) until `unpin()`, after which the
 *   latest decision applies at once;
 * - `setProfile()` replaces the profile (validated first).
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
   * failed, a provider the policy asks for but that is not in use. No replay.
   */
  readonly errors$: Observable<StitchnetError>;
  /**
   * Every change of the active stitch (policy, `setStitch`, `pin`) with its reason. No replay: an
   * event stream. (A first decision made inside `create()`, when a source already had readings,
   * has no subscriber yet: `stitch` and `decisions$` show its result.)
   */
  readonly stitchChanges$: Observable<StitchChange>;
  /** Every decision of the policy (empty without a profile); replays the latest. */
  readonly decisions$: Observable<Decision>;
  /**
   * Device snapshots. With a profile they are sampled for the policy all along; without one,
   * sampling runs while this is subscribed. Replays the latest.
   */
  readonly state$: Observable<DeviceState>;

  private readonly providerSubject: BehaviorSubject<ProviderState>;
  private readonly errorSubject = new Subject<StitchnetError>();
  private readonly routes = new Map<number, readonly string[]>();
  private readonly running = new Set<Promise<unknown>>();
  /** Fused routes by key: ready, or being built. */
  private readonly fused = new Set<string>();
  private readonly fusing = new Map<string, Promise<void>>();
  private readonly fuseFailed = new Set<string>();
  private current: number;
  private streak: Streak | undefined;
  private closing: Promise<void> | undefined;
  private readonly adaptive: AdaptiveLoop;

  private constructor(
    /** The package this runtime runs. */
    readonly pkg: StitchPackage,
    private readonly client: EngineClient,
    selection: ProviderSelection,
    initial: number,
    private readonly fastPath: FastPath | false,
    private readonly now: () => number,
    adaptive: AdaptiveLoopOptions,
  ) {
    this.providerSubject = new BehaviorSubject(selection);
    this.providerChanges$ = this.providerSubject.asObservable();
    this.errors$ = this.errorSubject.asObservable();
    this.current = initial;
    for (const s of pkg.manifest.stitches) this.routes.set(s.id, pkg.routePieces(s.id));
    this.adaptive = new AdaptiveLoop(
      {
        manifest: pkg.manifest,
        stitch: () => this.current,
        provider: () => this.provider,
        activate: (id) => {
          this.current = id;
        },
        report: (e) => this.errorSubject.next(e),
      },
      adaptive,
    );
    this.stitchChanges$ = this.adaptive.stitchChanges$;
    this.decisions$ = this.adaptive.decisions$;
    this.state$ = this.adaptive.state$;
  }

  /**
   * Reads the package (when given a folder) and the profile (if any), picks an execution
   * provider, starts the inference worker, creates one session per piece, and starts the adaptive
   * loop.
   *
   * @throws PackageError for a bad package (or one without cost figures, given a profile);
   *   ProfileError PROFILE_NOT_FOUND, PROFILE_INVALID; RuntimeError PROVIDER_UNKNOWN,
   *   PROVIDER_UNAVAILABLE, SESSION_CREATE_FAILED, STITCH_UNKNOWN, WORKER_FAILED; OptionError
   *   OPTION_INVALID
   */
  static async create(opts: StitchRuntimeOptions): Promise<StitchRuntime> {
    if (opts === null || typeof opts !== 'object' || opts.model === undefined) {
      throw new OptionError('OPTION_INVALID', 'StitchRuntime.create needs { model }', {
        option: 'model',
        hint: 'Pass the path of a stitch package folder, or a package from readPackage().',
      });
    }
    const preference = validateProviders(opts.providers);
    if (opts.threads !== undefined) resolveThreads(opts.threads);
    const fastPath = resolveFastPath(opts.fastPath);
    const useWorker = opts.worker ?? true;
    const now = opts.now ?? (() => performance.now());
    const scheduler = opts.scheduler ?? asyncScheduler;
    const pkg = typeof opts.model === 'string' ? await readPackage(opts.model) : opts.model;
    const catalog = policyCatalog(pkg.manifest);
    const profile = opts.profile === undefined ? undefined : loadRuntimeProfile(opts.profile, requireCatalog(catalog, pkg.manifest));
    const ort = profile?.profile.ort ?? OrtSchema.parse({});
    const threads = resolveThreads(opts.threads ?? threadsFromOrt(ort));
    const cpuMemArena = resolveBoolean(opts.cpuMemArena, 'cpuMemArena') ?? ort.enableCpuMemArena;
    const initial =
      opts.stitch !== undefined
        ? checkStitchId(pkg.manifest, opts.stitch, 'stitch')
        : profile && catalog
          ? initialStitch(profile.profile, catalog, scheduler.now())
          : defaultStitch(pkg.manifest);

    const { selection, value: client } = await openWithFallback(
      preference,
      (rest) => probeProviders(rest, workerFile),
      async (provider) => {
        const engine: EngineOptions = {
          session: { provider, threads, cpuMemArena },
          fusedCacheSize: fastPath === false ? 0 : fastPath.cacheSize,
        };
        const c = useWorker ? workerClient(engine, await workerFile()) : inProcessClient(engine);
        try {
          await loadPieces(pkg, c);
        } catch (e) {
          await c.close();
          throw e;
        }
        return c;
      },
    );
    const rt = new StitchRuntime(pkg, client, selection, initial, fastPath, now, {
      catalog,
      profile,
      watchProfile: opts.watchProfile ?? true,
      signals: opts.signals ?? [],
      systemSource: opts.systemSource,
      scheduler,
      ort: opts.threads === undefined && opts.cpuMemArena === undefined ? ort : undefined,
    });
    rt.adaptive.start();
    return rt;
  }

  /** The package manifest. */
  get manifest(): Manifest {
    return this.pkg.manifest;
  }

  /** The active stitch: what `run()` uses unless told otherwise. */
  get stitch(): number {
    return this.current;
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

  /** Whether the worker thread runs inference (`'worker'`) or this thread does (`'in-process'`). */
  get mode(): EngineClient['mode'] {
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
   * Runs the active stitch (or `opts.stitch`) on one input. The route is fixed when `run` is
   * called: a `setStitch` while it runs does not affect it. The input array is not modified or
   * detached.
   *
   * @param input - a Float32Array of one or more samples (the batch is inferred), or `{ data, dims }`
   * @throws RuntimeError INPUT_INVALID (with the expected shape), STITCH_UNKNOWN, RUNTIME_CLOSED,
   *   INFERENCE_FAILED, WORKER_FAILED
   */
  async run(input: RunInput, opts: RunOptions = {}): Promise<RunResult> {
    if (this.closing) throw closedError();
    const started = this.now();
    const stitch = opts.stitch === undefined ? this.current : checkStitchId(this.pkg.manifest, opts.stitch, 'stitch');
    const { data, dims } = checkInput(input, this.pkg.manifest.input);
    const pieces = this.routes.get(stitch) as readonly string[];
    const provider = this.provider;
    const job = this.client.run({ pieces, data, dims });
    this.running.add(job);
    try {
      const out = await job;
      const ms = this.now() - started;
      this.noteRun(stitch, pieces, ms);
      this.adaptive.recordRun(stitch, ms, dims[0] ?? 1);
      return { logits: out.data, dims: out.dims, stitch, path: out.path, provider, ms };
    } finally {
      this.running.delete(job);
    }
  }

  /**
   * Builds the fused session of a stitch now (it is otherwise built in the background once the
   * stitch has stayed active long enough). Resolves when later runs of that stitch will use it.
   *
   * @throws RuntimeError STITCH_UNKNOWN, RUNTIME_CLOSED, SESSION_CREATE_FAILED; OnnxError
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
    return this.startFuse(pieces);
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
      await Promise.allSettled([...this.running, ...this.fusing.values()]);
      await this.client.close();
      this.providerSubject.complete();
      this.errorSubject.complete();
    })();
    return this.closing;
  }

  /** `await using rt = await StitchRuntime.create(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Counts a finished run towards its stitch's streak and starts fusing when the streak is long
   * enough and its runs are short enough for the per-call overhead to matter.
   */
  private noteRun(stitch: number, pieces: readonly string[], ms: number): void {
    if (this.fastPath === false) return;
    const t = this.now();
    if (this.streak?.stitch !== stitch) this.streak = { stitch, runs: 0, since: t, ms: 0 };
    this.streak.runs++;
    this.streak.ms += ms;
    const key = fusedKey(pieces);
    if (this.fused.has(key) || this.fuseFailed.has(key) || this.closing) return;
    const { afterRuns, afterMs, maxRunMs } = this.fastPath;
    if (this.streak.runs >= afterRuns && t - this.streak.since >= afterMs && this.streak.ms / this.streak.runs <= maxRunMs) {
      this.startFuse(pieces).catch((e: StitchnetError) => this.errorSubject.next(e));
    }
  }

  private startFuse(pieces: readonly string[]): Promise<void> {
    const key = fusedKey(pieces);
    const inProgress = this.fusing.get(key);
    if (inProgress) return inProgress;
    this.fused.add(key);
    const job = (async () => {
      try {
        const bytes: PieceBytes[] = [];
        for (const id of pieces) bytes.push({ id, bytes: await this.pkg.pieceBytes(id) });
        if (this.closing) return;
        const { evicted } = await this.client.fuse(bytes);
        for (const k of evicted) this.fused.delete(k);
      } catch (e) {
        this.fused.delete(key);
        this.fuseFailed.add(key);
        throw e;
      } finally {
        this.fusing.delete(key);
      }
    })();
    this.fusing.set(key, job);
    return job;
  }
}

/**
 * Creates the session of every piece some stitch uses, each once, reading the next piece's bytes
 * while the current one is being created.
 */
async function loadPieces(pkg: StitchPackage, client: EngineClient): Promise<void> {
  const ids = [...new Set(pkg.manifest.stitches.flatMap((s) => pkg.routePieces(s.id)))];
  const read = (id: string | undefined) => (id === undefined ? undefined : pkg.pieceBytes(id));
  let next = read(ids[0]);
  for (let i = 0; i < ids.length; i++) {
    const bytes = await (next as Promise<Uint8Array>);
    next = read(ids[i + 1]);
    // A read that fails while an earlier piece loads is reported when its turn comes.
    next?.catch(() => undefined);
    await client.loadPiece({ id: ids[i] as string, bytes });
  }
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
