/**
 * The engine's options as the user gives them (threads, fast path), their defaults and checks.
 */
import { availableParallelism, freemem } from 'node:os';
import { OptionError } from '../errors.js';
import { MB, type FastPathPolicy } from './fast-path.js';
import type { ThreadSettings } from './ort.js';
import type { ProviderName } from './providers.js';

/** Thread counts as the user gives them. */
export interface ThreadOptions {
  /** Intra-op threads of every session. Default: the available cores, at most 4. */
  intraOp?: number;
  /** Inter-op threads of every session (only parallel execution uses them). Default: 1. */
  interOp?: number;
  /**
   * Let idle ORT threads spin between calls. Default `false`: with spinning on, a chain of piece
   * sessions runs up to 2.5× slower and idle pools keep cores busy.
   */
  spinning?: boolean;
}

/** When to compose the active stitch into one fused session. */
export interface FastPathOptions {
  /** Runs in a row on the same stitch before fusing it. Default 20 (1 on a GPU provider). */
  afterRuns?: number;
  /** …and for at least this long (ms, by the runtime's clock). Default 1000 (0 on a GPU provider). */
  afterMs?: number;
  /** Fused sessions kept (least recently used is released first). Default 2. */
  cacheSize?: number;
  /**
   * The weights all fused sessions together may hold (MB). A fused session holds a second copy of
   * its stitch's weights; the least recently used one is released to make room, and a stitch
   * larger than the budget is not fused. Default: a quarter of the memory available when the
   * runtime is created.
   */
  memoryBudgetMB?: number;
  /**
   * Deprecated: fuse only while the stitch's runs take at most this long on average (ms). Fusing is
   * gated on `memoryBudgetMB` instead (a fused DeiT-S stitch saves a few percent, see
   * docs/performance.md); this gate applies only when given. Default: no limit.
   */
  maxRunMs?: number;
}

/** Resolved fast-path settings. */
export type FastPath = Required<FastPathOptions>;

export const DEFAULT_FAST_PATH: Readonly<Omit<FastPath, 'memoryBudgetMB'>> = Object.freeze({
  afterRuns: 20,
  afterMs: 1000,
  cacheSize: 2,
  maxRunMs: Number.POSITIVE_INFINITY,
});

/** The default memory budget's share of the memory available at create. */
export const FAST_PATH_MEMORY_SHARE = 0.25;

/** Memory available to this process now (MB): the system's available memory, within any cgroup limit. */
export function availableMemoryMB(): number {
  const free = freemem();
  const limit = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  const bytes =
    limit && limit > 0 && limit < Number.MAX_SAFE_INTEGER
      ? Math.min(free, Math.max(0, limit - process.memoryUsage.rss()))
      : free;
  return bytes / MB;
}

/** Providers whose tensors live on a device: a route's every piece boundary is a copy to the host and back. */
export function isDeviceProvider(provider: ProviderName): boolean {
  return provider !== 'cpu';
}

/**
 * The engine's fast-path policy for a provider. On a device provider a stitch is fused on its
 * first run (thresholds the user did not set are 1 run and 0 ms), memory budget permitting.
 */
export function fastPathPolicy(
  fastPath: FastPath | false,
  given: FastPathOptions | false | undefined,
  provider: ProviderName,
): FastPathPolicy | false {
  if (fastPath === false) return false;
  const eager =
    isDeviceProvider(provider) &&
    (given === undefined || given === false || (given.afterRuns === undefined && given.afterMs === undefined));
  return {
    afterRuns: fastPath.afterRuns,
    afterMs: fastPath.afterMs,
    cacheSize: fastPath.cacheSize,
    maxRunMs: fastPath.maxRunMs,
    memoryBudgetBytes: fastPath.memoryBudgetMB * MB,
    eager,
  };
}

/**
 * Every piece is its own session with its own pools, so the default stays small: the available
 * cores, at most 4 (small-batch ViT blocks gain little beyond that, and dozens of sessions × many
 * idle threads only cost memory). Spinning is off unless asked for, so idle pools cost no CPU.
 */
export function resolveThreads(threads: ThreadOptions | undefined): ThreadSettings {
  const intraOp = threads?.intraOp ?? Math.min(4, availableParallelism());
  const interOp = threads?.interOp ?? 1;
  positiveInt(intraOp, 'threads.intraOp');
  positiveInt(interOp, 'threads.interOp');
  const spinning = resolveBoolean(threads?.spinning, 'threads.spinning') ?? false;
  return spinning ? { intraOp, interOp, spinning } : { intraOp, interOp };
}

/** A boolean option, or `undefined` when absent. Throws OptionError OPTION_INVALID for anything else. */
export function resolveBoolean(value: unknown, option: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw new OptionError('OPTION_INVALID', `${option} must be true or false, got ${String(value)}`, {
    option,
    validValues: ['true', 'false'],
  });
}

/** The fast-path settings, or `false` when it is off. */
export function resolveFastPath(fastPath: false | FastPathOptions | undefined): FastPath | false {
  if (fastPath === false) return false;
  const out = {
    ...DEFAULT_FAST_PATH,
    memoryBudgetMB: fastPath?.memoryBudgetMB ?? FAST_PATH_MEMORY_SHARE * availableMemoryMB(),
    ...fastPath,
  };
  nonNegative(out.afterRuns, 'fastPath.afterRuns');
  nonNegative(out.afterMs, 'fastPath.afterMs');
  positiveInt(out.cacheSize, 'fastPath.cacheSize');
  nonNegative(out.maxRunMs, 'fastPath.maxRunMs');
  nonNegative(out.memoryBudgetMB, 'fastPath.memoryBudgetMB');
  return out;
}

function positiveInt(v: unknown, option: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new OptionError('OPTION_INVALID', `${option} must be a positive integer, got ${String(v)}`, {
      option,
      hint: 'Pass an integer ≥ 1 or leave it out.',
    });
  }
}

function nonNegative(v: unknown, option: string): void {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    throw new OptionError('OPTION_INVALID', `${option} must be a number ≥ 0, got ${String(v)}`, {
      option,
      hint: 'Pass a number ≥ 0 or leave it out.',
    });
  }
}
