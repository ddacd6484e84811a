import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CACHE_DIR_ENV, cacheRoot } from '../../src/base/cache-dir.js';
import {
  calibrationFile,
  manifestHash,
  readCalibrationCache,
  writeCalibrationCache,
  type CachedLatency,
  type CalibrationKey,
} from '../../src/runtime/calibration-cache.js';

const key: CalibrationKey = {
  manifest: 'a'.repeat(64),
  provider: 'cpu',
  threads: { intraOp: 2, interOp: 1, spinning: false },
  cpuMemArena: true,
  worker: true,
  cpu: { model: 'Test CPU', cores: 2 },
  ort: '1.30.0',
};
const entries: CachedLatency[] = [
  { stitch: 0, batch: 1, p50Ms: 1.5, p95Ms: 2, samples: 15, at: '2026-01-01T00:00:00.000Z' },
  { stitch: 3, batch: 8, p50Ms: 4.25, p95Ms: 5, samples: 15, at: '2026-01-01T00:00:00.000Z' },
  // A stitch that ran fused: its fused ÷ route ratio is kept with its route's figure.
  { stitch: 4, batch: 1, p50Ms: 2, p95Ms: 3, samples: 15, at: '2026-01-01T00:00:00.000Z', fusedRatio: 0.8 },
];

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'stitchnet-cal-cache-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the calibration cache', () => {
  it('misses when there is no file, hits after a write, and leaves no temporary file behind', async () => {
    const file = calibrationFile(root, key);
    expect(await readCalibrationCache(file, key)).toEqual([]);
    await writeCalibrationCache(file, key, entries);
    expect(await readCalibrationCache(file, key)).toEqual(entries);
    expect(await readdir(path.dirname(file))).toEqual([path.basename(file)]);
  });

  it.each<[string, Partial<CalibrationKey>]>([
    ['manifest hash', { manifest: 'b'.repeat(64) }],
    ['provider', { provider: 'cuda' }],
    ['threads', { threads: { intraOp: 1, interOp: 1, spinning: false } }],
    ['arena', { cpuMemArena: false }],
    ['mode (worker or in-process)', { worker: false }],
    ['CPU model', { cpu: { model: 'Other CPU', cores: 2 } }],
    ['core count', { cpu: { model: 'Test CPU', cores: 8 } }],
    ['onnxruntime version', { ort: '1.31.0' }],
  ])('is invalidated by another %s (another file, and a foreign file is ignored)', async (_, change) => {
    const other = { ...key, ...change };
    await writeCalibrationCache(calibrationFile(root, key), key, entries);
    expect(calibrationFile(root, other)).not.toBe(calibrationFile(root, key));
    expect(await readCalibrationCache(calibrationFile(root, other), other)).toEqual([]);
    // The same file name with another key inside (a foreign file) counts for nothing either.
    expect(await readCalibrationCache(calibrationFile(root, key), other)).toEqual([]);
  });

  it.each([
    ['not JSON', '{"format": "stitchnet-calibration/1", "key":'],
    ['another format', JSON.stringify({ format: 'other/1', key, entries })],
    [
      'a bad entry',
      JSON.stringify({ format: 'stitchnet-calibration/1', key, entries: [{ ...entries[0], p50Ms: -1 }] }),
    ],
    ['an unknown field', JSON.stringify({ format: 'stitchnet-calibration/1', key, entries, extra: 1 })],
    [
      'a fused ratio that is not positive',
      JSON.stringify({ format: 'stitchnet-calibration/1', key, entries: [{ ...entries[0], fusedRatio: 0 }] }),
    ],
    ['empty', ''],
  ])('ignores a corrupt file (%s) and replaces it on the next write', async (_, text) => {
    const file = calibrationFile(root, key);
    await writeCalibrationCache(file, key, []);
    await writeFile(file, text);
    expect(await readCalibrationCache(file, key)).toEqual([]);
    await writeCalibrationCache(file, key, entries);
    expect(await readCalibrationCache(file, key)).toEqual(entries);
  });

  it('keys a manifest by its content', () => {
    expect(manifestHash({ a: 1 })).toBe(manifestHash({ a: 1 }));
    expect(manifestHash({ a: 1 })).not.toBe(manifestHash({ a: 2 }));
    expect(manifestHash({ a: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });

  it('lives in the cacheDir option, else $STITCHNET_CACHE_DIR, else the OS cache folder', () => {
    const home = path.resolve('/home/u');
    expect(cacheRoot('/x/y', { [CACHE_DIR_ENV]: '/env' }, 'linux', home)).toBe(path.resolve('/x/y'));
    expect(cacheRoot(undefined, { [CACHE_DIR_ENV]: '/env' }, 'linux', home)).toBe(path.resolve('/env'));
    expect(cacheRoot(undefined, {}, 'linux', home)).toBe(path.join(home, '.cache', 'stitchnet'));
    expect(cacheRoot(undefined, { XDG_CACHE_HOME: '/xdg' }, 'linux', home)).toBe(path.join('/xdg', 'stitchnet'));
    // A relative XDG_CACHE_HOME is invalid by the spec and ignored.
    expect(cacheRoot(undefined, { XDG_CACHE_HOME: 'rel' }, 'linux', home)).toBe(path.join(home, '.cache', 'stitchnet'));
    expect(cacheRoot(undefined, {}, 'darwin', home)).toBe(path.join(home, 'Library', 'Caches', 'stitchnet'));
    expect(cacheRoot(undefined, { LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'win32', home)).toBe(
      path.join('C:\\Users\\u\\AppData\\Local', 'stitchnet', 'Cache'),
    );
  });

  it('writes a file a person can read', async () => {
    const file = calibrationFile(root, key);
    await writeCalibrationCache(file, key, entries);
    const json = JSON.parse(await readFile(file, 'utf8')) as { format: string; key: CalibrationKey };
    expect(json.format).toBe('stitchnet-calibration/1');
    expect(json.key).toEqual(key);
  });
});
