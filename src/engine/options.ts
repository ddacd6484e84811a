/**
 * The engine's options as the user gives them (threads, fast path), their defaults and checks.
 */
import { availableParallelism } from 'node:os';
import { OptionError, RuntimeError } from '../errors.js';
import type { Manifest } from '../package/schema.js';
import type { ThreadSettings } from '../engine/ort.js';

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
  /** Runs in a row on the same stitch before fusing it. Default 20. */
  afterRuns?: number;
  /** …and for at least this long (ms, by the runtime's clock). Default 1000. */
  afterMs?: number;
  /** Fused sessions kept (least recently used is released first). Default 2. */
  cacheSize?: number;
  /**
   * …and only while its runs take at most this long on average (ms). Fusing saves a fixed cost per
   * piece call (tens of µs each), which matters for small models and is lost in the noise for
   * large ones, while a fused session holds a second copy of the stitch's weights. Default 20.
   */
  maxRunMs?: number;
  /** Memory the fused sessions may hold together, MB; a stitch whose fused session would not fit is not fused. */
  memoryBudgetMB?: number;
}

/** Resolved fast-path settings. */
export type FastPath = Required<Omit<FastPathOptions, 'memoryBudgetMB'>> & Pick<FastPathOptions, 'memoryBudgetMB'>;

export const DEFAULT_FAST_PATH: Readonly<FastPath> = Object.freeze({ afterRuns: 20, afterMs: 1000, cacheSize: 2, maxRunMs: 20 });

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
  throw new OptionError('OPTION_INVALID', `${option} must be true or false, got ${String(value)}`, { option, validValues: ['true', 'false'] });
}

/** The fast-path settings, or `false` when it is off. */
export function resolveFastPath(fastPath: false | FastPathOptions | undefined): FastPath | false {
  if (fastPath === false) return false;
  const out = { ...DEFAULT_FAST_PATH, ...fastPath };
  nonNegative(out.afterRuns, 'fastPath.afterRuns');
  nonNegative(out.afterMs, 'fastPath.afterMs');
  positiveInt(out.cacheSize, 'fastPath.cacheSize');
  nonNegative(out.maxRunMs, 'fastPath.maxRunMs');
  return out;
}

function positiveInt(v: unknown, option: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new OptionError('OPTION_INVALID', `${option} must be a positive integer, got ${String(v)}`, { option, hint: 'Pass an integer ≥ 1 or leave it out.' });
  }
}

function nonNegative(v: unknown, option: string): void {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    throw new OptionError('OPTION_INVALID', `${option} must be a number ≥ 0, got ${String(v)}`, { option, hint: 'Pass a number ≥ 0 or leave it out.' });
  }
}

