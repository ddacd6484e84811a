import { firstValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { InferenceMonitor, median } from '../../src/signals/inference.js';
import { ManualSource } from '../../src/signals/push.js';
import { okReading, type SignalPatch } from '../../src/signals/state.js';
import { VirtualClock } from '../../src/testing/index.js';

function collect(source: { readings(): import('rxjs').Observable<SignalPatch> }, n: number): Promise<SignalPatch[]> {
  return firstValueFrom(source.readings().pipe(take(n), toArray()));
}

describe('ManualSource', () => {
  it('emits pushed readings and gives late subscribers the current ones', async () => {
    const m = new ManualSource();
    m.set({ 'app.frameDeadlineMs': 16, 'battery.percent': 50 });
    m.set({ 'battery.percent': 49 });
    const late = collect(m, 2);
    m.set({ 'app.frameDeadlineMs': null });
    expect(await late).toEqual([
      { 'app.frameDeadlineMs': okReading(16), 'battery.percent': okReading(49) },
      { 'app.frameDeadlineMs': { value: undefined, quality: 'unavailable' } },
    ]);
  });

  it('marks signals with a quality', async () => {
    const m = new ManualSource();
    const next = collect(m, 1);
    m.mark(['app.sensor'], 'error');
    expect(await next).toEqual([{ 'app.sensor': { value: undefined, quality: 'error' } }]);
  });

  it('rejects unknown names and values of the wrong kind (which the types reject too)', () => {
    const m = new ManualSource();
    // @ts-expect-error an unknown signal name
    expect(() => m.set({ 'battery.pct': 1 })).toThrow(OptionError);
    // @ts-expect-error an application signal needs the app. prefix
    expect(() => m.set({ frameDeadline: 1 })).toThrow(/app\.<name>/);
    // @ts-expect-error a boolean signal
    expect(() => m.set({ 'battery.charging': 1 })).toThrow(/true or false/);
    // @ts-expect-error a numeric signal
    expect(() => m.set({ 'cpu.load': true })).toThrow(/finite number/);
  });
});

describe('InferenceMonitor', () => {
  /** Every reading the monitor emits, as [p50Ms, slowdown] (undefined: unavailable). */
  function watch(mon: InferenceMonitor): (number | undefined)[][] {
    const out: (number | undefined)[][] = [];
    mon
      .readings()
      .subscribe((p) =>
        out.push([
          p['inference.p50Ms']?.value as number | undefined,
          p['inference.slowdown']?.value as number | undefined,
        ]),
      );
    return out;
  }

  it('counts no run for warmupMs after the first run and after a switch, however many runs come', () => {
    const clock = new VirtualClock();
    const mon = new InferenceMonitor({ scheduler: clock.scheduler, warmupRuns: 2, warmupMs: 1000, minSamples: 1 });
    const out = watch(mon);
    // A 3 ms model: three hundred runs in its first second, twice as slow as later. None counts.
    clock.advanceBy(5000); // create() took a while: the warm-up starts with the first run, not before
    for (let i = 0; i < 300; i++) {
      mon.record({ observedMs: 6, expectedMs: 3, stitch: 2, path: 'route' });
      clock.advanceBy(3);
    }
    expect(out).toEqual([]);
    clock.advanceBy(200);
    mon.record({ observedMs: 3.3, expectedMs: 3, stitch: 2, path: 'route' });
    expect(out.at(-1)?.[0]).toBe(3.3);
    expect(out.at(-1)?.[1]).toBeCloseTo(1.1, 9);
    const settled = out.length;
    // A switch of path (a fuse) starts another: runs and time.
    mon.record({ observedMs: 9, expectedMs: 3, stitch: 2, path: 'fused' });
    clock.advanceBy(999);
    mon.record({ observedMs: 9, expectedMs: 3, stitch: 2, path: 'fused' });
    mon.record({ observedMs: 9, expectedMs: 3, stitch: 2, path: 'fused' });
    expect(out.length).toBe(settled);
    clock.advanceBy(1);
    mon.record({ observedMs: 2.4, expectedMs: 2, stitch: 2, path: 'fused' });
    clock.advanceBy(200);
    expect(out.at(-1)?.[1]).toBeCloseTo(1.15, 9);
  });

  it('reports nothing during the warm-up after start, then the medians once the window holds enough runs', () => {
    const clock = new VirtualClock();
    const mon = new InferenceMonitor({
      scheduler: clock.scheduler,
      warmupRuns: 2,
      warmupMs: 0,
      minSamples: 3,
      windowMs: 10_000,
    });
    const out = watch(mon);
    // The first runs after create() are slow (allocations, first probes): they are not counted.
    mon.record({ observedMs: 108, expectedMs: 4, stitch: 2, path: 'route' });
    mon.record({ observedMs: 33, expectedMs: 4, stitch: 2, path: 'route' });
    expect(out).toEqual([]);
    for (const ms of [4, 100, 4.4]) {
      clock.advanceBy(100);
      mon.record({ observedMs: ms, expectedMs: 4, stitch: 2, path: 'route' });
    }
    // Not before three counted runs; then one outlier (a GC pause) does not move the median.
    expect(out).toEqual([
      [undefined, undefined],
      [undefined, undefined],
      [4.4, 1.1],
    ]);
  });

  it('starts a new warm-up after a switch of stitch or path, and keeps the ratios of the stitch before', () => {
    const clock = new VirtualClock();
    const mon = new InferenceMonitor({
      scheduler: clock.scheduler,
      warmupRuns: 1,
      warmupMs: 0,
      minSamples: 2,
      windowMs: 10_000,
      emitEveryMs: 0,
    });
    const out = watch(mon);
    mon.record({ observedMs: 50, expectedMs: 10, stitch: 2 }); // warm-up
    mon.record({ observedMs: 20, expectedMs: 10, stitch: 2 });
    mon.record({ observedMs: 20, expectedMs: 10, stitch: 2 });
    expect(out.at(-1)).toEqual([20, 2]);
    mon.record({ observedMs: 99, expectedMs: 5, stitch: 0 }); // warm-up of the new stitch
    expect(out).toHaveLength(2);
    mon.record({ observedMs: 10, expectedMs: 5, stitch: 0 });
    // p50 is the running stitch's (not enough runs of it yet); the slowdown spans both stitches.
    expect(out.at(-1)).toEqual([undefined, 2]);
    mon.record({ observedMs: 12, expectedMs: 6, stitch: 0, path: 'fused' }); // a fuse: warm-up again
    expect(out).toHaveLength(3);
  });

  it('forgets runs older than the window, by the scheduler clock', () => {
    const clock = new VirtualClock();
    const mon = new InferenceMonitor({
      scheduler: clock.scheduler,
      warmupRuns: 0,
      warmupMs: 0,
      minSamples: 2,
      windowMs: 1000,
      emitEveryMs: 0,
    });
    const out = watch(mon);
    mon.record({ observedMs: 30, expectedMs: 10, stitch: 1 });
    mon.record({ observedMs: 30, expectedMs: 10, stitch: 1 });
    expect(out.at(-1)).toEqual([30, 3]);
    clock.advanceBy(1500); // the contention ended and its runs left the window
    mon.record({ observedMs: 10, expectedMs: 10, stitch: 1 });
    expect(out.at(-1)).toEqual([undefined, undefined]);
    mon.record({ observedMs: 10, expectedMs: 10, stitch: 1 });
    expect(out.at(-1)).toEqual([10, 1]);
    expect(mon.observedMs(1)).toBe(10);
  });

  it('updates the readings at most every emitEveryMs: at once after a quiet interval, else once at its end', () => {
    const clock = new VirtualClock();
    const mon = new InferenceMonitor({
      scheduler: clock.scheduler,
      warmupRuns: 0,
      warmupMs: 0,
      minSamples: 1,
      emitEveryMs: 100,
    });
    const out = watch(mon);
    mon.record({ observedMs: 10, expectedMs: 10, stitch: 1 });
    expect(out).toEqual([[10, 1]]);
    // Runs 1 ms apart: folded into one update 100 ms after the first, with every run counted.
    for (const ms of [30, 30, 30, 30]) {
      clock.advanceBy(1);
      mon.record({ observedMs: ms, expectedMs: 10, stitch: 1 });
    }
    expect(out).toHaveLength(1);
    clock.advanceBy(95);
    expect(out).toHaveLength(1);
    clock.advanceBy(1);
    expect(out).toEqual([
      [10, 1],
      [30, 3],
    ]);
    // A run after a quiet interval is reported at once.
    clock.advanceBy(500);
    mon.record({ observedMs: 30, expectedMs: 10, stitch: 1 });
    expect(out).toHaveLength(3);
    // reset() drops a pending update.
    clock.advanceBy(10);
    mon.record({ observedMs: 90, expectedMs: 10, stitch: 1 });
    mon.reset();
    clock.advanceBy(200);
    expect(out.at(-1)).toEqual([undefined, undefined]);
    expect(out).toHaveLength(4);
  });

  it('keeps the slowdown unavailable without an expected latency, and ignores bad timings', () => {
    const mon = new InferenceMonitor({ warmupRuns: 0, warmupMs: 0, minSamples: 1 });
    const out = watch(mon);
    mon.record({ observedMs: 5 });
    mon.record({ observedMs: Number.NaN, expectedMs: 1 });
    mon.record({ observedMs: -1, expectedMs: 1 });
    mon.reset();
    expect(out).toEqual([
      [5, undefined],
      [undefined, undefined],
    ]);
  });

  it('median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});
