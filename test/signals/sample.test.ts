import { defer, finalize, map, merge, NEVER, take, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { exclusive, markStale, pollProbe } from '../../src/signals/sample.js';
import { missingPatch, okReading, type SignalPatch } from '../../src/signals/state.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('pollProbe', () => {
  it('samples on a period without ever overlapping a slow probe', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      let active = 0;
      let maxActive = 0;
      let n = 0;
      // Each probe takes 3 ms; the period is 2 ms: ticks during a probe are dropped.
      const probe = () =>
        defer(() => {
          active++;
          maxActive = Math.max(maxActive, active);
          return cold('---(a|)', { a: ++n });
        }).pipe(finalize(() => active--));
      const out = pollProbe({
        probe,
        toPatch: (v: number) => ({ 'cpu.load': okReading(v) }),
        signals: ['cpu.load'],
        periodMs: 2,
        timeoutMs: 10,
        scheduler: ts,
      });
      expectObservable(
        out.pipe(
          take(3),
          map((p) => p['cpu.load']?.value),
        ),
      ).toBe('---a---b---(c|)', { a: 1, b: 2, c: 3 });
      ts.flush();
      expect(maxActive).toBe(1);
    });
  });

  it('times out a hanging probe, marking only its fields, while other probes keep flowing', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const hanging = pollProbe({
        probe: () => NEVER,
        toPatch: () => ({}),
        signals: ['thermal.cpuC'],
        periodMs: 1000,
        timeoutMs: 1500,
        scheduler: ts,
      });
      const flowing = pollProbe({
        probe: () => cold('(a|)', { a: 50 }),
        toPatch: (v: number) => ({ 'cpu.load': okReading(v) }),
        signals: ['cpu.load'],
        periodMs: 1000,
        scheduler: ts,
      });
      const t = missingPatch(['thermal.cpuC'], 'timeout');
      const l: SignalPatch = { 'cpu.load': okReading(50) };
      // The hung probe reports `timeout` at 1.5 s and again 1.5 s after the next tick it takes (2 s).
      expectObservable(merge(hanging, flowing), '^ 4000ms !').toBe(
        'l 999ms l 499ms t 499ms l 999ms l 499ms t 499ms l',
        { l, t },
      );
    });
  });

  it('reports a failing probe as error, and recovers on the next tick', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      let n = 0;
      const probe = () => (n++ === 0 ? throwError(() => new Error('boom')) : cold('(a|)', { a: 1 }));
      const out = pollProbe({
        probe,
        toPatch: (v: number) => ({ 'memory.availableMB': okReading(v) }),
        signals: ['memory.availableMB'],
        periodMs: 10,
        scheduler: ts,
      });
      expectObservable(out.pipe(take(2))).toBe('e 9ms (a|)', {
        e: missingPatch(['memory.availableMB'], 'error'),
        a: { 'memory.availableMB': okReading(1) },
      });
    });
  });

  it('reports a result the mapper cannot read as error rather than crashing the stream', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const out = pollProbe({
        probe: () => cold('(a|)', { a: null }),
        toPatch: (v: { x: number } | null) => ({ 'cpu.load': okReading((v as { x: number }).x) }),
        signals: ['cpu.load'],
        periodMs: 10,
        scheduler: ts,
      });
      expectObservable(out.pipe(take(1))).toBe('(e|)', { e: missingPatch(['cpu.load'], 'error') });
    });
  });
});

describe('exclusive', () => {
  it('joins a pending call instead of starting a second one', async () => {
    let calls = 0;
    let release: (v: number) => void = () => undefined;
    const fn = exclusive(() => {
      calls++;
      return new Promise<number>((resolve) => (release = resolve));
    });
    const a = fn();
    const b = fn();
    expect(b).toBe(a);
    expect(calls).toBe(1);
    release(7);
    await expect(a).resolves.toBe(7);
    const c = fn();
    expect(calls).toBe(2);
    release(8);
    await expect(c).resolves.toBe(8);
  });
});

describe('markStale', () => {
  it('marks a stream stale after silence, once, and passes completion at once', () => {
    const ts = scheduler();
    ts.run(({ hot, expectObservable }) => {
      const a: SignalPatch = { 'gpu.utilization': okReading(40) };
      const s = missingPatch(['gpu.utilization'], 'stale');
      const src = hot('a 1ms a 10ms a 50ms |', { a });
      expectObservable(src.pipe(markStale(['gpu.utilization'], 5, ts))).toBe('a 1ms a 4ms s 5ms a 4ms s 45ms |', {
        a,
        s,
      });
    });
  });
});
