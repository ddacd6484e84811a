import { firstValueFrom, map, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { InferenceMonitor, median } from '../../src/signals/inference.js';
import { ManualSource } from '../../src/signals/push.js';
import { okReading, type SignalPatch } from '../../src/signals/state.js';

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
  it('reports the median latency and the median observed ÷ profiled ratio over a window', async () => {
    const mon = new InferenceMonitor({ window: 3 });
    const out = firstValueFrom(
      mon.readings().pipe(
        map((p) => [p['inference.p50Ms']?.value, p['inference.slowdown']?.value]),
        take(5),
        toArray(),
      ),
    );
    mon.record({ observedMs: 10, expectedMs: 10 });
    mon.record({ observedMs: 100, expectedMs: 10 }); // one outlier (a GC pause)
    mon.record({ observedMs: 12, expectedMs: 10 });
    mon.record({ observedMs: 30, expectedMs: 10 }); // sustained 3× slowdown begins
    mon.record({ observedMs: 30, expectedMs: 10 });
    expect(await out).toEqual([
      [10, 1],
      [55, 5.5],
      [12, 1.2],
      [30, 3],
      [30, 3],
    ]);
  });

  it('keeps the slowdown unavailable without a profiled latency, and ignores bad timings', async () => {
    const mon = new InferenceMonitor();
    const out = firstValueFrom(mon.readings().pipe(take(2), toArray()));
    mon.record({ observedMs: 5 });
    mon.record({ observedMs: Number.NaN, expectedMs: 1 });
    mon.record({ observedMs: -1, expectedMs: 1 });
    mon.reset();
    const [first, second] = await out;
    expect(first?.['inference.p50Ms']).toEqual(okReading(5));
    expect(first?.['inference.slowdown']?.quality).toBe('unavailable');
    expect(second?.['inference.p50Ms']?.quality).toBe('unavailable');
  });

  it('median', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });
});
