/**
 * Calibration inside StitchRuntime.create() on a small generated package: measured through the
 * runtime's engine, cached on disk, read back for free, invalidated, lazily completed.
 */
import { VirtualClock } from '../../src/testing/index.js';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIN_ROUNDS } from '../../src/runtime/calibration.js';
import { StitchRuntime, type StitchRuntimeOptions } from '../../src/runtime/stitch-runtime.js';
import { FRONTIER, sample, useTinyPackage } from '../adaptive/helpers.js';

const tiny = useTinyPackage();
/** A calibration cache folder of its own, in the tiny package's temp folder (made when first written). */
const cacheDir = (name: string) => path.join(tiny.dir, name);

/** The tiny package in this process on the CPU (no worker, no fast path), with no system source. */
const inProcess = (): StitchRuntimeOptions => ({
  model: tiny.pkg,
  providers: ['cpu'],
  worker: false,
  fastPath: false,
  systemSource: false,
});

async function calibrationOf(opts: Partial<StitchRuntimeOptions> = {}) {
  const rt = await StitchRuntime.create({ ...inProcess(), cacheDir: cacheDir('cache'), ...opts });
  const report = rt.calibration;
  await rt.close();
  if (!report) throw new Error('no calibration');
  return report;
}

describe('calibration at create()', () => {
  it('measures the frontier cold, then reads it from the cache, and measures again for other threads', async () => {
    const threads = { intraOp: 2, interOp: 1 };
    const cold = await calibrationOf({ threads });
    expect(cold).toMatchObject({
      provider: 'cpu',
      cache: 'miss',
      mode: 'eager',
      measured: FRONTIER.length,
      cacheError: undefined,
      batches: [1],
    });
    expect([...cold.candidates].sort()).toEqual([...FRONTIER].sort());
    for (const e of cold.stitches)
      expect(e).toMatchObject({ batch: 1, source: 'device', samples: expect.any(Number) as number });
    expect(cold.stitches.every((e) => e.samples >= MIN_ROUNDS && e.p50Ms > 0)).toBe(true);

    const cached = await calibrationOf({ threads });
    expect(cached).toMatchObject({ cache: 'hit', measured: 0, file: cold.file });
    expect(cached.stitches).toEqual(cold.stitches);

    const other = await calibrationOf({ threads: { intraOp: 1, interOp: 1 } });
    expect(other).toMatchObject({ cache: 'miss', measured: FRONTIER.length });
    expect(other.file).not.toBe(cold.file);
  });

  it('ignores a corrupt cache file and writes a good one in its place', async () => {
    const first = await calibrationOf({ cpuMemArena: false });
    await writeFile(first.file, '{"format": "stitchnet-calibration/1", "key": {');
    const again = await calibrationOf({ cpuMemArena: false });
    expect(again).toMatchObject({ cache: 'miss', measured: FRONTIER.length });
    expect(JSON.parse(await readFile(again.file, 'utf8'))).toMatchObject({ format: 'stitchnet-calibration/1' });
    expect(await calibrationOf({ cpuMemArena: false })).toMatchObject({ cache: 'hit' });
  });

  it('calibrates only the stitches a profile restricts itself to, plus the one it starts on', async () => {
    const report = await calibrationOf({ profile: { limits: { stitches: [0, 1] } }, calibrate: { rounds: 5 } });
    expect([...report.candidates].sort()).toEqual([0, 1]);
  });

  it('with no budget, measures lazily: a stitch once the policy picks it or the app holds it, the others predicted by MACs', async () => {
    const rt = await StitchRuntime.create({
      ...inProcess(),
      cacheDir: cacheDir('lazy'),
      calibrate: { budgetMs: 0 },
      profile: {},
    });
    const report = rt.calibration;
    // Nothing measured yet: the package's figures stand in until a stitch is measured.
    expect(report).toMatchObject({ mode: 'lazy', measured: 0, stitches: [] });
    // The policy picked stitch 2 (the most accurate): it gets its full measurement in the background.
    const x = sample(tiny.pkg);
    let entry = rt.calibration?.stitches.find((e) => e.stitch === 2);
    for (let i = 0; i < 1000 && (entry?.samples ?? 0) < MIN_ROUNDS; i++) {
      await rt.run(x);
      entry = rt.calibration?.stitches.find((e) => e.stitch === 2);
    }
    expect(entry).toMatchObject({ source: 'device', samples: 15 });
    // A stitch the app holds is measured as well, and lands in the cache.
    rt.pin(6);
    let six = rt.calibration?.stitches.find((e) => e.stitch === 6);
    for (let i = 0; i < 1000 && six?.source !== 'device'; i++) {
      await rt.run(x);
      six = rt.calibration?.stitches.find((e) => e.stitch === 6);
    }
    expect(six).toMatchObject({ source: 'device', samples: 15 });
    // The stitches not measured are predicted from the measured ones by a line on MACs.
    const predicted = rt.calibration?.stitches.filter((e) => e.source === 'predicted').map((e) => e.stitch);
    expect(predicted?.sort()).toEqual([0, 1, 3]);
    await rt.close();
    const cached = JSON.parse(await readFile(report?.file as string, 'utf8')) as {
      entries: { stitch: number; samples: number }[];
    };
    expect(
      cached.entries
        .filter((e) => e.samples === 15)
        .map((e) => e.stitch)
        .sort(),
    ).toEqual([2, 6]);
  });

  it('lowers a figure online when the stitch keeps running markedly faster here, and caches the lower one', async () => {
    // The runtime's clock times runs (calibration is timed by performance.now): every run reads as 1 µs.
    let t = 0;
    // The inference signals' warm-up ends by the scheduler's clock: each run comes 150 ms after the last.
    const clock = new VirtualClock();
    const options: StitchRuntimeOptions = {
      ...inProcess(),
      cacheDir: cacheDir('refine'),
      now: () => (t += 0.0005),
      scheduler: clock.scheduler,
    };
    const rt = await StitchRuntime.create(options);
    const stitch = rt.stitch;
    const figure = (r: typeof rt.calibration) => r?.stitches.find((e) => e.stitch === stitch && e.batch === 1)?.p50Ms;
    const before = figure(rt.calibration);
    if (before === undefined) throw new Error('the starting stitch is calibrated');
    const input = sample(tiny.pkg);
    for (let i = 0; i < 20; i++) {
      clock.advanceBy(150);
      await rt.run(input);
    }
    const report = rt.calibration;
    await rt.close();
    expect(report?.refined).toBe(1);
    const after = figure(report);
    expect(after).toBeLessThan(before * 0.8);
    const again = await StitchRuntime.create({ ...options, now: undefined, scheduler: undefined });
    expect(again.calibration).toMatchObject({ cache: 'hit' });
    expect(figure(again.calibration)).toBe(after);
    await again.close();
  });

  it('is off with calibrate: false, and rejects a bad calibrate option', async () => {
    const rt = await StitchRuntime.create({ ...inProcess(), calibrate: false });
    expect(rt.calibration).toBeUndefined();
    await rt.close();
    await expect(StitchRuntime.create({ model: tiny.pkg, calibrate: { rounds: -1 } })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'calibrate.rounds',
    });
    await expect(StitchRuntime.create({ model: tiny.pkg, cacheDir: 3 as never })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'cacheDir',
    });
  });
});
