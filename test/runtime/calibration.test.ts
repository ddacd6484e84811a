/**
 * The calibration at create(), in virtual time: a fake engine whose runs advance a clock by a
 * cost linear in MACs and in the batch size, so budgets and rounds are checked by structure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  calibrateCandidates,
  DEFAULT_CALIBRATION,
  DeviceLatency,
  fitOnMacs,
  measureFusedRatio,
  MIN_ROUNDS,
  resolveCalibrate,
  type CalibrationRunner,
  type CalibrationSettings,
  type PathRun,
} from '../../src/runtime/calibration.js';
import type { RunPath } from '../../src/engine/engine.js';

/** A fake device: stitch `id` costs `base + perMac · macs` ms per sample (`batch` samples per run). */
function fakeDevice(macs: ReadonlyMap<number, number>, base: number, perMac: number) {
  let t = 0;
  const runs: { stitch: number; batch: number }[] = [];
  const runner: CalibrationRunner = {
    run: async (pieces, _data, dims) => {
      const stitch = Number((pieces[0] as string).slice(1));
      const batch = dims[0] as number;
      const ms = (base + perMac * (macs.get(stitch) as number)) * batch;
      t += ms;
      runs.push({ stitch, batch });
      return ms;
    },
    now: () => t,
    route: (id) => [`s${id}`],
    sampleShape: [1, 4, 4],
    stamp: () => '2026-01-01T00:00:00.000Z',
  };
  return {
    runner,
    runs,
    elapsed: () => t,
    truth: (id: number, batch = 1) => (base + perMac * (macs.get(id) as number)) * batch,
  };
}

const family = (n: number) => new Map(Array.from({ length: n }, (_, i) => [i, 1e6 * (1 + i)] as const));
const settings = (o: Partial<CalibrationSettings> = {}): CalibrationSettings => ({ ...DEFAULT_CALIBRATION, ...o });

describe('calibration at create()', () => {
  it('measures every candidate, interleaved, within the budget when they fit (eager)', async () => {
    const macs = family(18);
    const dev = fakeDevice(macs, 1, 1e-6); // 2–19 ms a run
    const table = new DeviceLatency('cpu', macs);
    const ids = [...macs.keys()];
    const run = await calibrateCandidates(table, ids, settings({ budgetMs: 3000 }), dev.runner, [], macs);
    expect(run).toMatchObject({ mode: 'eager', measured: 18 });
    expect(dev.elapsed()).toBeLessThanOrEqual(3000);
    for (const id of ids) {
      expect(table.latency(id, 1)).toEqual({ ms: dev.truth(id), source: 'device' });
      expect(table.entry(id, 1)?.samples).toBeGreaterThanOrEqual(MIN_ROUNDS);
    }
    // Interleaved: each stitch ran once per round, not all its runs in a row.
    const counted = dev.runs.slice(-18).map((r) => r.stitch);
    expect(new Set(counted).size).toBe(18);
  });

  it('keeps to the budget for any costs, budgets and batch sizes (beyond the one pilot per batch size)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 40 }),
        fc.double({ min: 0.05, max: 20, noNaN: true }),
        fc.double({ min: 0, max: 1e-5, noNaN: true }),
        fc.integer({ min: 0, max: 5000 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 16 }), { minLength: 1, maxLength: 3 }),
        async (n, base, perMac, budgetMs, batches) => {
          const macs = family(n);
          const dev = fakeDevice(macs, base, perMac);
          const table = new DeviceLatency('cpu', macs);
          await calibrateCandidates(table, [...macs.keys()], settings({ budgetMs, batches }), dev.runner, [0], macs);
          // A pilot is two runs (cheapest, costliest) after one warm-up each, once per batch size.
          const pilots = batches.reduce((s, b) => s + 2 * (dev.truth(0, b) + dev.truth(n - 1, b)), 0);
          expect(dev.elapsed()).toBeLessThanOrEqual(budgetMs + pilots + 1e-9);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('calibrates a package too large for the budget lazily: the starting stitch and the extremes measured, the rest predicted by MACs', async () => {
    const macs = family(18);
    const dev = fakeDevice(macs, 20, 2e-5); // 40–380 ms a run
    const table = new DeviceLatency('cpu', macs);
    const run = await calibrateCandidates(table, [...macs.keys()], settings({ budgetMs: 4000 }), dev.runner, [9], macs);
    expect(run.mode).toBe('lazy');
    expect(dev.elapsed()).toBeLessThanOrEqual(4000);
    expect(table.latency(9, 1)?.source).toBe('device');
    expect(table.latency(0, 1)?.source).toBe('device');
    expect(table.latency(17, 1)?.source).toBe('device');
    const predicted = [...macs.keys()].filter((id) => table.latency(id, 1)?.source === 'predicted');
    expect(predicted.length).toBeGreaterThan(10);
    // The device is linear in MACs, so the fit predicts it.
    for (const id of predicted) expect(table.latency(id, 1)?.ms).toBeCloseTo(dev.truth(id), 6);
    // The stitches that did not get their rounds are measured later (lazily), one at a time.
    expect(table.calibrated(5, 1, MIN_ROUNDS)).toBe(false);
  });

  it('costs nothing when every candidate is already calibrated (the cache)', async () => {
    const macs = family(4);
    const dev = fakeDevice(macs, 1, 0);
    const table = new DeviceLatency('cpu', macs);
    for (const id of macs.keys()) table.set({ stitch: id, batch: 1, p50Ms: 1, p95Ms: 1, samples: 15, at: 'x' });
    expect(await calibrateCandidates(table, [...macs.keys()], settings(), dev.runner, [], macs)).toEqual({
      mode: 'eager',
      measured: 0,
    });
    expect(dev.runs).toEqual([]);
  });

  it('measures each batch size the app uses, splitting the budget between them', async () => {
    const macs = family(6);
    const dev = fakeDevice(macs, 1, 1e-6);
    const table = new DeviceLatency('cpu', macs);
    await calibrateCandidates(
      table,
      [...macs.keys()],
      settings({ batches: [1, 8], budgetMs: 4000 }),
      dev.runner,
      [],
      macs,
    );
    expect(new Set(dev.runs.map((r) => r.batch))).toEqual(new Set([1, 8]));
    for (const id of macs.keys()) expect(table.latency(id, 8)).toEqual({ ms: dev.truth(id, 8), source: 'device' });
    expect(dev.elapsed()).toBeLessThanOrEqual(4000);
  });
});

describe('the device latency table', () => {
  it('gives measured figures as device, others predicted by a line on MACs, none for an unmeasured batch size', () => {
    const table = new DeviceLatency(
      'cpu',
      new Map([
        [0, 100],
        [1, 200],
        [2, 300],
      ]),
    );
    table.set({ stitch: 0, batch: 1, p50Ms: 2, p95Ms: 3, samples: 9, at: 'x' });
    table.set({ stitch: 2, batch: 1, p50Ms: 4, p95Ms: 5, samples: 9, at: 'x' });
    expect(table.latency(0, 1)).toEqual({ ms: 2, source: 'device' });
    expect(table.latency(1, 1)).toEqual({ ms: 3, source: 'predicted' });
    expect(table.latency(1, 8)).toBeUndefined();
    expect(table.list([0, 1], [1])).toEqual([
      { stitch: 0, batch: 1, p50Ms: 2, p95Ms: 3, samples: 9, source: 'device' },
      { stitch: 1, batch: 1, p50Ms: 3, p95Ms: undefined, samples: 0, source: 'predicted' },
    ]);
  });

  it('fits on MACs: a line through two or more points, proportional through one, flat when cost and time disagree', () => {
    expect(fitOnMacs([])).toBeUndefined();
    expect(fitOnMacs([{ macs: 10, ms: 2 }])?.(20)).toBe(4);
    expect(
      fitOnMacs([
        { macs: 10, ms: 2 },
        { macs: 30, ms: 4 },
      ])?.(20),
    ).toBeCloseTo(3, 12);
    expect(
      fitOnMacs([
        { macs: 10, ms: 4 },
        { macs: 30, ms: 2 },
      ])?.(20),
    ).toBe(3);
    // Never below a quarter of the fastest measured stitch.
    expect(
      fitOnMacs([
        { macs: 10, ms: 2 },
        { macs: 30, ms: 4 },
      ])?.(0),
    ).toBeCloseTo(1, 12);
    expect(
      fitOnMacs([
        { macs: 100, ms: 2 },
        { macs: 300, ms: 10 },
      ])?.(0),
    ).toBe(0.5);
  });
});

describe("a fused session's ratio to its route", () => {
  /**
   * A device where the fused session takes `ratio` × the route's time, both × the load at that
   * moment (steps at given virtual times), × a jitter of ±`jitter`, and the first run of a path
   * after a run of the other 1.5× as long (cold caches).
   */
  function pairedDevice(o: {
    routeMs: number;
    ratio: number;
    steps: { at: number; load: number }[];
    jitter: number;
    seed: number;
  }) {
    let t = 0;
    let state = o.seed;
    let last: RunPath | undefined;
    const rand = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
    const load = () => o.steps.filter((s) => s.at <= t).at(-1)?.load ?? 1;
    const run: PathRun = async (_pieces, _data, _dims, path) => {
      const cold = last !== undefined && last !== path ? 1.5 : 1;
      last = path;
      const ms = o.routeMs * (path === 'fused' ? o.ratio : 1) * load() * cold * (1 + o.jitter * (2 * rand() - 1));
      t += ms;
      return { ms, path };
    };
    return { run, elapsed: () => t };
  }
  const input = { data: new Float32Array(4), dims: [1, 4] };

  it('holds within 15% on a busy, jittery machine whose load steps up and down (at most two steps in eight pairs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.double({ min: 0.3, max: 1.2, noNaN: true }),
        fc.double({ min: 0.5, max: 100, noNaN: true }),
        fc.array(
          fc.record({
            at: fc.double({ min: 0, max: 1, noNaN: true }),
            load: fc.double({ min: 1, max: 4, noNaN: true }),
          }),
          { maxLength: 2 },
        ),
        fc.integer({ min: 1, max: 1e6 }),
        async (ratio, routeMs, steps, seed) => {
          // Step times as fractions of the measurement's length (about 48 runs at the slowest load).
          const span = 48 * routeMs;
          const at = steps.map((s) => ({ at: s.at * span, load: s.load })).sort((a, b) => a.at - b.at);
          const device = pairedDevice({ routeMs, ratio, steps: at, jitter: 0.1, seed });
          const measured = await measureFusedRatio(device.run, ['a', 'b'], input, { pairs: 8, block: 3 });
          expect(Math.abs((measured as number) / ratio - 1)).toBeLessThan(0.15);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gives up when a fused run comes back as a route (the fused session was evicted meanwhile)', async () => {
    let fusedRuns = 0;
    const run: PathRun = async (_p, _d, _dims, path) => ({
      ms: 1,
      path: path === 'fused' && ++fusedRuns > 4 ? 'route' : path,
    });
    expect(await measureFusedRatio(run, ['a'], input, { pairs: 4, block: 3 })).toBeUndefined();
  });

  it('stops before the next run once told to (the runtime is closing)', async () => {
    let runs = 0;
    const run: PathRun = async (_p, _d, _dims, path) => ({ ms: ++runs, path });
    const stop = () => runs >= 5;
    expect(await measureFusedRatio(run, ['a'], input, { pairs: 8, block: 3, stop })).toBeUndefined();
    expect(runs).toBe(5);
  });
});

describe('the calibrate option', () => {
  it("takes 'auto', false or an object, and names a bad field", () => {
    expect(resolveCalibrate(undefined)).toEqual(DEFAULT_CALIBRATION);
    expect(resolveCalibrate('auto')).toEqual(DEFAULT_CALIBRATION);
    expect(resolveCalibrate(false)).toBe(false);
    expect(resolveCalibrate({ batches: [1, 8, 8], rounds: 5 })).toEqual({
      ...DEFAULT_CALIBRATION,
      batches: [1, 8],
      rounds: 5,
    });
    expect(() => resolveCalibrate(true)).toThrow(
      expect.objectContaining({ code: 'OPTION_INVALID', option: 'calibrate' }),
    );
    expect(() => resolveCalibrate({ batches: [] })).toThrow(expect.objectContaining({ option: 'calibrate.batches' }));
    expect(() => resolveCalibrate({ rounds: 0 })).toThrow(expect.objectContaining({ option: 'calibrate.rounds' }));
    expect(() => resolveCalibrate({ budgetMs: Number.NaN })).toThrow(
      expect.objectContaining({ option: 'calibrate.budgetMs' }),
    );
    expect(() => resolveCalibrate({ budget: 5 })).toThrow(expect.objectContaining({ option: 'calibrate.budget' }));
  });
});
