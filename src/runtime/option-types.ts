/**
 * The options of `StitchRuntime.create` and `run`, as plain interfaces (the public types). They
 * are checked at run time by the schemas in `options-schema.ts`, which are typed against them.
 */
import type { FastPathOptions, ThreadOptions } from '../engine/options.js';
import type { ProviderName } from '../engine/providers.js';
import type { StitchPackage } from '../package/read.js';
import type { AdaptiveOptions } from './adaptive.js';

export type { ProfileWatchOptions } from './adaptive.js';

/** The `calibrate` option of `StitchRuntime.create`, in object form. */
export interface CalibrateOptions {
  /** Batch sizes to measure (the ones the app runs). Default `[1]`; other sizes are measured lazily when first run. */
  batches?: readonly number[];
  /** Counted rounds per batch size, at most (default 15). Fewer when the budget asks for it. */
  rounds?: number;
  /** Uncounted rounds before them (default 2). */
  warmup?: number;
  /** Time `create()` may spend measuring, ms (default 1000; `Infinity`: measure every candidate fully). */
  budgetMs?: number;
}

/** `'auto'` (the default): calibrate with the defaults; `false`: use the package's figures only. */
export type CalibrateOption = 'auto' | false | CalibrateOptions;

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
   * `false`: activation memory is returned after every run, a much smaller resident set; runs of
   * large batches may pay for allocating it anew; docs/performance.md).
   */
  cpuMemArena?: boolean;
  /**
   * Let onnxruntime keep a prepacked copy of the MatMul weights (default `true`). `false` keeps the
   * weights of pieces stored as external data (DeiT-scale packages) in file-backed pages that
   * onnxruntime maps, instead of private memory the size of the weights, at a cost per run
   * (DeiT-S: 1.12× at batch 1; docs/performance.md). For devices short of memory.
   */
  prepackWeights?: boolean;
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
  /**
   * Measure this device's latency of the candidate stitches at `create()` (default `'auto'`),
   * cached on disk per package, provider, threads, CPU and onnxruntime version: the policy's
   * latency limits and `inference.slowdown` then use this device's figures. `false` uses the
   * package's figures only. See `docs/calibration.md`.
   */
  calibrate?: CalibrateOption;
  /** stitchnet's cache folder (calibration). Default: `$STITCHNET_CACHE_DIR`, else the OS cache folder. */
  cacheDir?: string;
  /** Aborts `create()`. */
  signal?: AbortSignal;
}

/** Options of {@link StitchRuntime.run}. */
export interface RunOptions {
  /** Run this stitch for this call only (the active stitch stays as it is). */
  stitch?: number;
  /** Aborts this run. */
  signal?: AbortSignal;
  /**
   * Check that every input value is finite (default `true`); a NaN or infinity is refused with
   * INPUT_INVALID naming its index. `false` skips the check, for callers that guarantee finite data.
   */
  checkFinite?: boolean;
}
