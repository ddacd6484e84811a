/**
 * Defaults and validation of the runtime's options.
 */
import { availableParallelism } from 'node:os';
import { OptionError, RuntimeError } from '../errors.js';
import type { Manifest } from '../package/schema.js';
import type { ThreadSettings } from './ort.js';

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
}

/** Resolved fast-path settings. */
export type FastPath = Required<FastPathOptions>;

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

/** Throws RuntimeError STITCH_UNKNOWN unless `id` is a stitch of the package. */
export function checkStitchId(manifest: Manifest, id: unknown, option: string): number {
  if (typeof id !== 'number' || !manifest.stitches.some((s) => s.id === id)) {
    throw new RuntimeError('STITCH_UNKNOWN', `unknown stitch ${JSON.stringify(id)}`, {
      option,
      validValues: manifest.stitches.map((s) => s.id),
      hint: `Use the id of one of the ${manifest.stitches.length} stitches of package "${manifest.name}".`,
    });
  }
  return id;
}

/**
 * The stitch a runtime starts on: the most accurate frontier stitch (the last, most costly one
 * when accuracies are unknown), else the largest anchor, else the first stitch.
 */
export function defaultStitch(manifest: Manifest): number {
  const frontier = manifest.frontier.map((id) => manifest.stitches.find((s) => s.id === id)).filter((s) => s !== undefined);
  const scored = frontier.filter((s) => s.accuracy !== undefined);
  if (scored.length > 0) {
    return scored.reduce((best, s) => ((s.accuracy ?? 0) >= (best.accuracy ?? 0) ? s : best)).id;
  }
  const last = frontier[frontier.length - 1];
  if (last) return last.id;
  const size = (anchorId: string) => {
    const a = manifest.anchors.find((x) => x.id === anchorId);
    return a ? a.dim * a.depth : 0;
  };
  const anchors = manifest.stitches.filter((s) => s.route.length === 1 && s.route[0] !== undefined && 'anchor' in s.route[0]);
  const largest = anchors.reduce<{ id: number; size: number } | undefined>((best, s) => {
    const step = s.route[0];
    const n = step && 'anchor' in step ? size(step.anchor) : 0;
    return best === undefined || n > best.size ? { id: s.id, size: n } : best;
  }, undefined);
  return largest?.id ?? (manifest.stitches[0] as { id: number }).id;
}
