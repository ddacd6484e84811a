import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { deviceState$, ema, slopePerMinute, trend, windowTrend } from '../../src/signals/derive.js';
import type { SignalSource } from '../../src/signals/source.js';
import { missingReading, okReading, type SignalPatch } from '../../src/signals/state.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
const source = (readings: SignalSource['readings']): SignalSource => ({ name: 'test', readings });

describe('ema', () => {
  it('starts at the first sample and weighs each new sample by alpha', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('a-b-c|', { a: 10, b: 20, c: 30 }).pipe(ema(0.5))).toBe('a-b-c|', {
        a: 10,
        b: 15,
        c: 22.5,
      });
    });
  });
});

describe('trend', () => {
  it('is the slope per minute over the window, by the scheduler clock', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      // +1 °C every second → 60 °C/min; the window keeps the last 3 s, and the trend needs 1.5 s of it.
      const temps = cold('a 999ms b 999ms c 999ms d 999ms e', { a: 50, b: 51, c: 52, d: 53, e: 50 });
      expectObservable(temps.pipe(trend(3000, ts))).toBe('u 999ms u 999ms x 999ms x 999ms y', {
        u: undefined,
        x: 60,
        y: -60,
      });
    });
  });

  it('windowTrend waits until the samples span half the window', () => {
    const pts = [
      { t: 0, v: 40 },
      { t: 10_000, v: 41 },
    ];
    expect(windowTrend(pts, 10_000, 30_000)).toBeUndefined();
    expect(windowTrend([...pts, { t: 15_000, v: 41.5 }], 15_000, 30_000)).toBeCloseTo(6);
  });

  it('slopePerMinute needs two distinct times', () => {
    expect(slopePerMinute([])).toBeUndefined();
    expect(slopePerMinute([{ t: 5, v: 1 }])).toBeUndefined();
    expect(
      slopePerMinute([
        { t: 5, v: 1 },
        { t: 5, v: 2 },
      ]),
    ).toBeUndefined();
    expect(
      slopePerMinute([
        { t: 0, v: 40 },
        { t: 30_000, v: 43 },
      ]),
    ).toBeCloseTo(6);
  });
});

describe('deviceState$', () => {
  it('smooths configured signals, derives the temperature trend and keeps unavailable fields undefined', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const temps = source(() =>
        cold<SignalPatch>('a 9999ms b 4999ms c', {
          a: { 'thermal.cpuC': okReading(60) },
          b: { 'thermal.cpuC': okReading(70) },
          c: { 'thermal.cpuC': missingReading('timeout') },
        }),
      );
      const battery = source(() =>
        cold<SignalPatch>('(p|)', { p: { 'battery.percent': missingReading('unavailable') } }),
      );
      const state$ = deviceState$([temps, battery], {
        scheduler: ts,
        smoothing: { 'thermal.cpuC': 0.5 },
        trendWindowMs: 20_000,
      });
      const view = state$.pipe(
        map((s) => [
          s.at,
          s.thermal.cpuC,
          s.thermal.trendCPerMin,
          s.quality['thermal.cpuC'],
          s.battery.percent,
          s.quality['battery.percent'],
        ]),
      );
      expectObservable(view).toBe('(ab) 9996ms c 4999ms d', {
        a: [0, 60, undefined, 'ok', undefined, 'unavailable'],
        b: [0, 60, undefined, 'ok', undefined, 'unavailable'],
        // EMA: 0.5 × 70 + 0.5 × 60 = 65; trend: +5 °C in 10 s = 30 °C/min.
        c: [10_000, 65, 30, 'ok', undefined, 'unavailable'],
        // A timed-out reading is undefined with its quality; the trend keeps its window.
        d: [15_000, undefined, 30, 'timeout', undefined, 'unavailable'],
      });
    });
  });

  it('lets a source that reports the trend itself override the derived one', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const src = source(() =>
        cold<SignalPatch>('a 999ms b', {
          a: { 'thermal.trendCPerMin': okReading(7) },
          b: { 'thermal.cpuC': okReading(80) },
        }),
      );
      expectObservable(deviceState$([src], { scheduler: ts }).pipe(map((s) => s.thermal.trendCPerMin))).toBe(
        'a 999ms a',
        { a: 7 },
      );
    });
  });

  it('shares one subscription to the sources among subscribers', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable, expectSubscriptions }) => {
      const patches = cold<SignalPatch>('a-b|', { a: { 'cpu.load': okReading(10) }, b: { 'cpu.load': okReading(20) } });
      const state$ = deviceState$([source(() => patches)], { scheduler: ts, smoothing: {} });
      expectObservable(state$.pipe(map((s) => s.cpu.load))).toBe('a-b|', { a: 10, b: 20 });
      expectObservable(state$.pipe(map((s) => s.cpu.load))).toBe('a-b|', { a: 10, b: 20 });
      expectSubscriptions(patches.subscriptions).toBe('^--!');
    });
  });
});
