/**
 * The calibration cache: this device's measured stitch latencies on disk, one JSON file per
 * (package, provider, thread settings, CPU, onnxruntime version), so that the next `create()` of
 * the same package on the same device measures nothing.
 *
 * A file that cannot be read, is not JSON, does not match the schema or was written for another
 * key (a foreign file) is ignored, and replaced by the next write. Writes go to a temporary file
 * in the same folder that is then renamed over the old one, so a reader never sees half a file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';

/** Format tag of a calibration file. */
export const CALIBRATION_FORMAT = 'stitchnet-calibration/1';

/** Everything a measured latency depends on besides the stitch and the batch size. */
export interface CalibrationKey {
  /** sha256 of the package manifest (which holds every piece's sha256). */
  manifest: string;
  provider: string;
  threads: { intraOp: number; interOp: number; spinning: boolean };
  cpuMemArena: boolean;
  /**
   * Whether runs go through the inference worker: a figure is a run as `run()` times it, the
   * hand-over to the worker and back included (0.2–0.6 ms here, a tenth of a small model's run).
   */
  worker: boolean;
  /** CPU model and logical core count. */
  cpu: { model: string; cores: number };
  /** onnxruntime-node's version. */
  ort: string;
}

/** One measured latency (ms) of one stitch at one batch size. */
export interface CachedLatency {
  stitch: number;
  batch: number;
  p50Ms: number;
  p95Ms: number;
  /** Counted runs behind the figures. */
  samples: number;
  /** When it was measured (ISO time). */
  at: string;
  /**
   * The stitch's fused session (the fast path) ÷ its route, in run time, measured paired on this
   * device: a fused run's figure is `p50Ms × fusedRatio`. Absent until the stitch first runs fused.
   */
  fusedRatio?: number | undefined;
}

const KeySchema = z.strictObject({
  manifest: z.string(),
  provider: z.string(),
  threads: z.strictObject({ intraOp: z.number(), interOp: z.number(), spinning: z.boolean() }),
  cpuMemArena: z.boolean(),
  worker: z.boolean(),
  cpu: z.strictObject({ model: z.string(), cores: z.number() }),
  ort: z.string(),
});

const EntrySchema = z.strictObject({
  stitch: z.number().int().nonnegative(),
  batch: z.number().int().positive(),
  p50Ms: z.number().positive(),
  p95Ms: z.number().positive(),
  samples: z.number().int().positive(),
  at: z.string(),
  fusedRatio: z.number().positive().optional(),
});

const FileSchema = z.strictObject({
  format: z.literal(CALIBRATION_FORMAT),
  key: KeySchema,
  entries: z.array(EntrySchema).max(1_000_000),
});

/** The CPU part of a {@link CalibrationKey}. */
export function cpuIdentity(): CalibrationKey['cpu'] {
  const list = cpus();
  return { model: (list[0]?.model ?? 'unknown').trim(), cores: list.length };
}

/** sha256 (hex) of a manifest, as its canonical JSON. */
export function manifestHash(manifest: unknown): string {
  return createHash('sha256').update(JSON.stringify(manifest)).digest('hex');
}

/** The file of a key under a cache root: `<root>/calibration/<hash of the key>.json`. */
export function calibrationFile(root: string, key: CalibrationKey): string {
  const id = createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 32);
  return path.join(root, 'calibration', `${id}.json`);
}

/**
 * The entries cached for `key` in `file`; empty when the file is missing, unreadable, corrupt or
 * written for another key. Never throws.
 */
export async function readCalibrationCache(file: string, key: CalibrationKey): Promise<CachedLatency[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [];
  }
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success || !isDeepStrictEqual(parsed.data.key, key)) return [];
  return parsed.data.entries;
}

/**
 * Writes `entries` for `key` to `file` atomically (a temporary file renamed over it).
 *
 * @throws the file-system error when the folder cannot be created or written
 */
export async function writeCalibrationCache(
  file: string,
  key: CalibrationKey,
  entries: readonly CachedLatency[],
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const body = `${JSON.stringify({ format: CALIBRATION_FORMAT, key, entries }, null, 1)}\n`;
  try {
    await writeFile(tmp, body, { mode: 0o644 });
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
