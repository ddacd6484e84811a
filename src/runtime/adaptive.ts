/**
 * The adaptive loop of a runtime: device signals → profile → policy → stitch switches, and the
 * events that say what changed and why.
 *
 * The decisions and the active stitch come from the one policy loop (`policy/loop.ts`), which
 * owns the active stitch: `setStitch`, `pin` and `unpin` are its control input, and the runtime
 * reads the active stitch from here. The runtime is asked only for the provider in use, and told
 * of background errors (the {@link AdaptiveHost}).
 */
import { isDeepStrictEqual } from 'node:util';
import {
  BehaviorSubject,
  distinctUntilChanged,
  map,
  ReplaySubject,
  shareReplay,
  Subject,
  Subscription,
  switchMap,
  takeUntil,
  type Observable,
  type SchedulerLike,
} from 'rxjs';
import { isStitchnetError, ProfileError, RuntimeError, SignalError, type StitchnetError } from '../errors.js';
import type { Manifest } from '../package/schema.js';
import { catalogFromManifest, stitchLatency, type DeviceLatencyTable, type StitchCatalog } from '../policy/catalog.js';
import { checkProfileForCatalog } from '../policy/check.js';
import { decide, type Decision, type MatchedRule } from '../policy/decide.js';
import {
  policyLoop,
  type ControlChange,
  type ControlInput,
  type LoopDecision,
  type LoopEvent,
} from '../policy/loop.js';
import type { StitchSwitch } from '../policy/switching.js';
import { loadProfileSync, watchProfile, type WatchProfileOptions } from '../profiles/load.js';
import { profileFromObject } from '../profiles/parse.js';
import type { OrtSettings, Profile, ProfileInput } from '../profiles/schema.js';
import { APP_SOURCE_PRECEDENCE, deviceState$, type RankedSource } from '../signals/derive.js';
import { InferenceMonitor } from '../signals/inference.js';
import { DEFAULT_SAMPLING, type SamplingOptions } from '../signals/options.js';
import type { SignalSource } from '../signals/source.js';
import { deviceState, type DeviceState } from '../signals/state.js';
import { systemSource } from '../signals/system.js';
import { TraceRecorder, type RecordOptions } from '../signals/record.js';
import type { ThreadOptions } from '../engine/options.js';

/** A profile as the runtime takes it: the path of a YAML or JSON file, or the profile itself. */
export type ProfileSource = string | ProfileInput;

/** How a profile file is watched for changes; see `watchProfile` in the profiles module. */
export type ProfileWatchOptions = Pick<WatchProfileOptions, 'changes' | 'debounceMs' | 'read'>;

/** The adaptive options of `StitchRuntime.create`. */
export interface AdaptiveOptions {
  /**
   * The profile that drives the stitch: a file path (YAML or JSON), a profile object, or absent —
   * then there is no policy and the app chooses stitches with `setStitch`. Validated against the
   * package (stitch ids it names, figures its limits need) before anything else is loaded.
   */
  profile?: ProfileSource | undefined;
  /**
   * Reload a profile given as a path when the file changes (default `true`). A new version that is
   * invalid is reported on `errors$` and the previous one stays in force. Pass options to inject
   * the change notifications or the reader (tests).
   */
  watchProfile?: boolean | ProfileWatchOptions | undefined;
  /**
   * More signal sources next to the system one, e.g. a `ManualSource` for the app's own readings.
   * For the same signal, these win over the system source (and the inference monitor). A source
   * that throws, errors or sends malformed readings degrades only its own signals and is reported
   * once on `errors$`.
   */
  signals?: readonly SignalSource[] | undefined;
  /**
   * The device source: by default systeminformation (and `nvidia-smi` where present) with the
   * profile's sampling periods; a source of your own replaces it (a trace, a fake in tests), and
   * `false` leaves only `signals`.
   */
  systemSource?: SignalSource | false | undefined;
  /**
   * The scheduler of every time-based part of the loop: sampling, smoothing, switching delays,
   * the profile-reload debounce, and the `at` of events. Default `asyncScheduler`; tests pass a
   * virtual-time scheduler.
   */
  scheduler?: SchedulerLike | undefined;
}

/** Why the active stitch changed. */
export interface StitchChangeReason {
  /**
   * One line for logs: for a policy switch, the rules that matched with the readings that matched
   * them, the limits in force and the choice; otherwise what the app called.
   */
  readonly summary: string;
  /** The rules that matched, each with its readings (empty unless `cause` is `policy`). */
  readonly rules: readonly MatchedRule[];
  /** The decision that was applied (`policy` only). */
  readonly decision: Decision | undefined;
  /** How long the policy had wanted a switch in this direction (`policy` only), ms. */
  readonly wantedForMs: number | undefined;
}

/** An event of `stitchChanges$`: the active stitch changed. */
export interface StitchChange {
  readonly from: number;
  readonly to: number;
  /** Scheduler time of the change, ms. */
  readonly at: number;
  /**
   * `degrade`: to a cheaper stitch (by MACs); `upgrade`: to a costlier one; `undefined` when the
   * package has no cost figures to compare.
   */
  readonly direction: 'degrade' | 'upgrade' | undefined;
  /** `policy`: the profile's policy switched; `manual`: `setStitch`; `pin`: `pin`. */
  readonly cause: 'policy' | 'manual' | 'pin';
  readonly reason: StitchChangeReason;
}

/** What the loop needs of the runtime it drives. */
export interface AdaptiveHost {
  readonly manifest: Manifest;
  /** The execution provider in use. */
  provider(): string;
  /** Reports a failure that does not fail a call. */
  report(error: StitchnetError): void;
  /**
   * This device's figure of `stitch`'s fused session at `batch` (ms), if measured: what a fused
   * run's slowdown is measured against (else its route's figure).
   */
  fusedLatencyMs?(stitch: number, batch: number): number | undefined;
}

/**
 * The catalog the policy works on, or `undefined` when the package has no cost figures (then no
 * profile can drive it; {@link requireCatalog} says why).
 */
export function policyCatalog(manifest: Manifest, device?: DeviceLatencyTable): StitchCatalog | undefined {
  return manifest.stitches.every((s) => s.macs !== undefined && s.macs > 0)
    ? catalogFromManifest(manifest, { device })
    : undefined;
}

/** The catalog, or the PackageError that explains why a profile cannot drive this package. */
export function requireCatalog(catalog: StitchCatalog | undefined, manifest: Manifest): StitchCatalog {
  return catalog ?? catalogFromManifest(manifest);
}

/**
 * Validates a profile given as a path or an object, against the package (stitch ids and providers
 * it names, figures its limits need). Reads a file synchronously (profiles are small).
 *
 * @throws ProfileError PROFILE_NOT_FOUND or PROFILE_INVALID (with file, line and field)
 */
export function loadRuntimeProfile(
  input: ProfileSource,
  catalog: StitchCatalog,
): { profile: Profile; file: string | undefined } {
  const check = (p: Profile) => checkProfileForCatalog(p, catalog);
  if (typeof input === 'string') return { profile: loadProfileSync(input, { check }), file: input };
  return { profile: profileFromObject(input, { check }), file: undefined };
}

/** The runtime's thread options from a profile's `ort` block (0 or absent: the runtime's default). */
export function threadsFromOrt(ort: OrtSettings): ThreadOptions {
  const out: ThreadOptions = {};
  if (ort.intraOpNumThreads) out.intraOp = ort.intraOpNumThreads;
  if (ort.interOpNumThreads) out.interOp = ort.interOpNumThreads;
  if (ort.allowSpinning) out.spinning = true;
  return out;
}

/**
 * The stitch a profile starts on before any reading arrived: the decision on a state where every
 * signal is unavailable (the profile's default limits, and the rules that match on missing readings).
 */
export function initialStitch(profile: Profile, catalog: StitchCatalog, at: number): number {
  return decide(deviceState({}, at), profile, catalog).stitch;
}

/** The options of {@link AdaptiveLoop}, resolved by the runtime. */
export interface AdaptiveLoopOptions {
  catalog: StitchCatalog | undefined;
  /** The profile in force at start, and its file (watched unless `watchProfile` is false). */
  profile: { profile: Profile; file: string | undefined } | undefined;
  watchProfile: boolean | ProfileWatchOptions;
  signals: readonly SignalSource[];
  systemSource: SignalSource | false | undefined;
  scheduler: SchedulerLike;
  /** The `ort` block the sessions were created with; `undefined` when the app gave `threads` or `cpuMemArena` itself. */
  ort: OrtSettings | undefined;
  /** The stitch to start on. */
  initial: number;
}

/** The inference monitor's settings from a sampling block. */
type MonitorSettings = { window: number; windowMs: number; minSamples: number; warmupRuns: number; warmupMs: number };

function monitorSettings(s: SamplingOptions): MonitorSettings {
  return {
    window: s.slowdownWindow,
    windowMs: s.slowdownWindowMs,
    minSamples: s.slowdownMinSamples,
    warmupRuns: s.slowdownWarmupRuns,
    warmupMs: s.slowdownWarmupMs,
  };
}

/**
 * Signals → policy → switches for one runtime. See `StitchRuntime` for the behaviour an app sees.
 */
export class AdaptiveLoop {
  /** Device snapshots; sampling runs while someone (the policy, or an app) listens. Replays the latest. */
  readonly state$: Observable<DeviceState>;
  /** Every decision of the policy; replays the latest. */
  readonly decisions$: Observable<LoopDecision>;
  /** Changes of the active stitch, whatever their cause. No replay. */
  readonly stitchChanges$: Observable<StitchChange>;

  private readonly scheduler: SchedulerLike;
  /** The stitches as the policy sees them (this device's latencies where calibrated). */
  readonly catalog: StitchCatalog | undefined;
  /** Emits once on close; replays, so that a subscription made after close completes at once. */
  private readonly closed = new ReplaySubject<void>(1);
  private readonly changes = new Subject<StitchChange>();
  private readonly decisions = new ReplaySubject<LoopDecision>(1);
  private readonly profiles: BehaviorSubject<Profile | undefined>;
  private readonly control = new Subject<ControlInput>();
  private readonly sharedState$: Observable<DeviceState>;
  private readonly recorder = new TraceRecorder();
  private activeId: number;
  private readonly subscriptions = new Subscription();
  private watcher: Subscription | undefined;
  private monitor: InferenceMonitor;
  private monitorSettings: MonitorSettings;
  private pinnedTo: number | undefined;
  private batch = 1;
  /** Provider list last reported as not in use, so that a complaint is made once per change. */
  private providerComplaint: string | undefined;
  private ortComplaint: OrtSettings | undefined;

  constructor(
    private readonly host: AdaptiveHost,
    private readonly options: AdaptiveLoopOptions,
  ) {
    this.scheduler = options.scheduler;
    this.catalog = options.catalog;
    this.activeId = options.initial;
    this.profiles = new BehaviorSubject(options.profile?.profile);
    const sampling = options.profile?.profile.sampling ?? DEFAULT_SAMPLING;
    this.monitorSettings = monitorSettings(sampling);
    this.monitor = new InferenceMonitor({ ...this.monitorSettings, scheduler: this.scheduler });

    // The signal pipeline, rebuilt when the profile's sampling block changes.
    this.sharedState$ = this.profiles.pipe(
      map((p): SamplingOptions => p?.sampling ?? DEFAULT_SAMPLING),
      distinctUntilChanged<SamplingOptions>(isDeepStrictEqual),
      switchMap((s) =>
        deviceState$(this.sources(s), {
          scheduler: this.scheduler,
          smoothing: s.smoothing,
          trendWindowMs: s.trendWindowMs,
          onSourceError: (e) => this.host.report(e),
        }),
      ),
      shareReplay({ bufferSize: 1, refCount: true }),
    );
    this.state$ = this.sharedState$.pipe(takeUntil(this.closed));
    this.decisions$ = this.decisions.asObservable();
    this.stitchChanges$ = this.changes.asObservable();
  }

  /** The profile in force, if any. */
  get profile(): Profile | undefined {
    return this.profiles.value;
  }

  /** The stitch held by {@link pin}, if any. */
  get pinned(): number | undefined {
    return this.pinnedTo;
  }

  /** The active stitch. The policy loop is its only writer. */
  get active(): number {
    return this.activeId;
  }

  /** Starts the policy loop (deciding once a profile is in force) and the profile watch. */
  start(): void {
    this.recorder.start(this.scheduler.now());
    const loop = policyLoop({
      state$: this.sharedState$,
      profile$: this.profiles,
      catalog: this.catalog,
      control$: this.control,
      scheduler: this.scheduler,
      context: () => ({ provider: this.host.provider(), batch: this.batch }),
      active: this.activeId,
    });
    this.subscriptions.add(
      loop.subscribe({
        next: (e) => this.onLoopEvent(e),
        error: (e: unknown) =>
          this.host.report(
            asError(
              e,
              () =>
                new SignalError('SIGNAL_SOURCE_FAILED', 'The signal pipeline failed; the policy stopped', { cause: e }),
            ),
          ),
      }),
    );
    const file = this.options.profile?.file;
    if (file !== undefined) this.watch(file);
  }

  /**
   * Every reading the policy sees from now on, as lines of a trace CSV (header first, then a row
   * with the latest readings, then one row per update; times in ms since the loop started).
   * `stitchnet simulate` on the file replays the same decisions and switches.
   */
  record(options: RecordOptions = {}): Observable<string> {
    return this.recorder.lines(this.scheduler, options).pipe(takeUntil(this.closed));
  }

  /**
   * Replaces the profile (validated first; on error the old one stays). A path is watched like the
   * one given at start; an object stops any watch.
   *
   * @throws ProfileError; PackageError when the package has no cost figures for a policy
   */
  setProfile(input: ProfileSource): Profile {
    const spec = loadRuntimeProfile(input, requireCatalog(this.catalog, this.host.manifest));
    this.watcher?.unsubscribe();
    this.watcher = undefined;
    this.apply(spec.profile);
    if (spec.file !== undefined) this.watch(spec.file);
    return spec.profile;
  }

  /** `setStitch`: activates `id`; the policy (if any) follows from there after its dwell. While pinned, moves the pin. */
  manual(id: number): void {
    if (this.pinnedTo !== undefined) this.pinnedTo = id;
    this.control.next({ kind: 'manual', stitch: id });
  }

  /** Holds `id` until {@link unpin}: decisions go on, switches stop. */
  pin(id: number): void {
    this.pinnedTo = id;
    this.control.next({ kind: 'pin', stitch: id });
  }

  /** Hands the stitch back to the policy, whose latest decision applies at once. */
  unpin(): void {
    if (this.pinnedTo === undefined) return;
    this.pinnedTo = undefined;
    this.control.next({ kind: 'unpin' });
  }

  /** This device's observed median latency of `stitch` over the monitor's window (see InferenceMonitor.observedMs). */
  observedMs(stitch: number, path?: string): number | undefined {
    return this.monitor.observedMs(stitch, path);
  }

  /**
   * Feeds the inference monitor with a finished run (`path`: how it ran, route or fused). The
   * expected latency is this device's (calibrated; the package's where there is none).
   */
  recordRun(stitch: number, observedMs: number, batch: number, path?: string): void {
    this.batch = batch;
    const expectedMs = this.latencyForSlowdown(stitch, batch, path);
    this.monitor.record({ observedMs, expectedMs, stitch, path });
  }

  /**
   * The latency a run's slowdown is measured against: this device's measured one (of the fused
   * session for a fused run, once measured); with no calibration for the provider in use, the
   * package's. A predicted figure is not used (a fit can be off by more than the slowdown rules'
   * thresholds).
   */
  private latencyForSlowdown(stitch: number, batch: number, path: string | undefined): number | undefined {
    const fused = path === 'fused' ? this.host.fusedLatencyMs?.(stitch, batch) : undefined;
    if (fused !== undefined) return fused;
    const catalog = this.catalog;
    if (!catalog) return undefined;
    const l = stitchLatency(catalog, stitch, this.host.provider(), batch);
    if (l?.source === 'predicted') return undefined;
    if (l?.source === 'package' && catalog.device?.provider === this.host.provider()) return undefined;
    return l?.ms;
  }

  /** Stops everything: policy, watch, signal sources (their timers and child processes); completes every stream. */
  close(): void {
    this.subscriptions.unsubscribe();
    this.watcher?.unsubscribe();
    this.closed.next();
    this.closed.complete();
    this.monitor.complete();
    this.recorder.complete();
    for (const s of [this.changes, this.decisions, this.profiles, this.control]) s.complete();
  }

  private watch(file: string): void {
    const opts = this.options.watchProfile;
    if (opts === false) return;
    const catalog = requireCatalog(this.catalog, this.host.manifest);
    this.watcher = watchProfile(file, {
      ...(opts === true ? {} : opts),
      scheduler: this.scheduler,
      check: (p) => checkProfileForCatalog(p, catalog),
    }).subscribe({
      next: (e) => (e.kind === 'loaded' ? this.apply(e.profile) : this.host.report(e.error)),
      error: (e: unknown) =>
        this.host.report(
          asError(
            e,
            () =>
              new ProfileError('PROFILE_NOT_FOUND', 'Stopped watching the profile', {
                file,
                cause: e,
                hint: 'Set the profile again with setProfile',
              }),
          ),
        ),
    });
  }

  private apply(profile: Profile): void {
    const ort = this.options.ort;
    if (
      ort !== undefined &&
      !isDeepStrictEqual(profile.ort, ort) &&
      !isDeepStrictEqual(profile.ort, this.ortComplaint)
    ) {
      this.ortComplaint = profile.ort;
      this.host.report(
        new ProfileError(
          'PROFILE_NEEDS_RESTART',
          'The new profile changes the onnxruntime settings (ort), which apply only when the runtime is created',
          {
            field: 'ort',
            hint: 'Create the runtime again to use them; everything else in the profile is in force now',
          },
        ),
      );
    }
    if (!isDeepStrictEqual(profile, this.profiles.value)) this.profiles.next(profile);
  }

  /**
   * The sources of the state: the system source and the inference monitor, and the app's own
   * sources, which win over them for the same signal (`APP_SOURCE_PRECEDENCE`). Every one is
   * tapped by the recorder.
   */
  private sources(s: SamplingOptions): RankedSource[] {
    const settings = monitorSettings(s);
    if (!isDeepStrictEqual(settings, this.monitorSettings)) {
      this.monitor.complete();
      this.monitorSettings = settings;
      this.monitor = new InferenceMonitor({ ...settings, scheduler: this.scheduler });
    }
    const system =
      this.options.systemSource === undefined
        ? systemSource({ fastMs: s.fastMs, slowMs: s.slowMs, gpuMs: s.gpuMs, probeTimeoutMs: s.probeTimeoutMs })
        : this.options.systemSource;
    const ranked = (source: SignalSource, precedence: number) => ({
      source: this.recorder.tap(source, this.scheduler),
      precedence,
    });
    const base = [...(system === false ? [] : [system]), this.monitor].map((source) => ranked(source, 0));
    return [...base, ...this.options.signals.map((source) => ranked(source, APP_SOURCE_PRECEDENCE))];
  }

  private onLoopEvent(e: LoopEvent): void {
    if (e.kind === 'decision') {
      this.decisions.next(e.decision);
      this.checkProvider(e.decision);
    } else if (e.kind === 'switch') this.applySwitch(e.change);
    else this.applyControl(e.change);
  }

  private applySwitch(s: StitchSwitch): void {
    const from = this.activeId;
    if (s.to === from) return;
    this.activeId = s.to;
    const { summary, rules } = s.decision.reason;
    this.emitChange(from, s.to, s.at, 'policy', { summary, rules, decision: s.decision, wantedForMs: s.wantedForMs });
  }

  private applyControl(c: ControlChange): void {
    const from = this.activeId;
    if (c.to === from) return;
    this.activeId = c.to;
    this.emitChange(from, c.to, c.at, c.cause, {
      summary: `${c.cause === 'pin' ? 'pin' : 'setStitch'}(${c.to})`,
      rules: [],
      decision: undefined,
      wantedForMs: undefined,
    });
  }

  private emitChange(
    from: number,
    to: number,
    at: number,
    cause: StitchChange['cause'],
    reason: StitchChangeReason,
  ): void {
    const rank = this.catalog?.rank;
    const direction = rank ? ((rank.get(to) ?? 0) < (rank.get(from) ?? 0) ? 'degrade' : 'upgrade') : undefined;
    this.changes.next({ from, to, at, direction, cause, reason });
  }

  /** Providers are chosen at create(): a decision that asks for another one is reported, once per change. */
  private checkProvider(d: Decision): void {
    const wanted = d.limits.provider;
    const current = this.host.provider();
    const key = wanted && !wanted.includes(current) ? wanted.join('|') : undefined;
    if (key !== undefined && key !== this.providerComplaint && wanted) {
      this.host.report(
        new RuntimeError(
          'PROVIDER_NOT_IN_USE',
          `The profile asks for provider ${wanted.join(' or ')} (${d.reason.limitSources.provider ?? 'limits'}), but this runtime runs on ${current}`,
          {
            option: 'providers',
            validValues: wanted,
            hint: 'The provider is chosen when the runtime is created (switching it needs new sessions): create it with that provider first in providers, or drop the provider limit',
          },
        ),
      );
    }
    this.providerComplaint = key;
  }
}

function asError(e: unknown, otherwise: () => StitchnetError): StitchnetError {
  return isStitchnetError(e) ? e : otherwise();
}
