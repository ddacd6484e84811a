/**
 * Source precedence and fault isolation in the signal pipeline: a bad source degrades only its
 * own signals, is reported once, and the merged state never errors.
 */
import { NEVER, Observable, of, throwError, VirtualAction, VirtualTimeScheduler, type SchedulerLike } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { SignalError } from '../../src/errors.js';
import { deviceState$ } from '../../src/signals/derive.js';
import { checkPatch } from '../../src/signals/isolate.js';
import { implausibleValue, SIGNALS, SIGNAL_NAMES } from '../../src/signals/names.js';
import { ManualSource } from '../../src/signals/push.js';
import type { SignalSource } from '../../src/signals/source.js';
import type { DeviceState } from '../../src/signals/state.js';
import { FakeSignalSource } from '../../src/testing/index.js';

function run(sources: Parameters<typeof deviceState$>[0], untilMs = 10_000) {
  const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
  const states: DeviceState[] = [];
  const errors: SignalError[] = [];
  let failed: unknown;
  const sub = deviceState$(sources, { scheduler, smoothing: {}, onSourceError: (e) => errors.push(e) }).subscribe({
    next: (s) => states.push(s),
    error: (e: unknown) => (failed = e),
  });
  scheduler.maxFrames = untilMs;
  scheduler.flush();
  sub.unsubscribe();
  return { states, errors, failed, last: states.at(-1) };
}

const good = () =>
  new FakeSignalSource('system').at(0, { 'cpu.load': 20 }).at(1000, { 'cpu.load': 30 }).at(2000, { 'cpu.load': 40 });
const bad = (name: string, readings: (s: SchedulerLike) => unknown, signals?: string[]): SignalSource =>
  ({ name, readings, ...(signals ? { signals } : {}) }) as SignalSource;

describe('source precedence', () => {
  it("an app source's reading wins over the system source's for the same signal, whatever the system says later", () => {
    const app = new ManualSource('app');
    app.set({ 'battery.percent': 40, 'battery.charging': false });
    const system = new FakeSignalSource('system')
      .at(0, { 'battery.percent': null, 'battery.charging': null, 'cpu.load': 5 })
      .at(1000, { 'battery.percent': null, 'battery.charging': null, 'cpu.load': 7 });
    const { last } = run([
      { source: system, precedence: 0 },
      { source: app, precedence: 1 },
    ]);
    expect(last?.battery).toMatchObject({ percent: 40, charging: false });
    expect(last?.quality['battery.percent']).toBe('ok');
    // Signals the app does not give still come from the system source.
    expect(last?.cpu.load).toBe(7);
  });

  it('before the app reports a signal, the system reading is in force; from then on the app’s', () => {
    const app: SignalSource = new FakeSignalSource('app').at(1500, { 'battery.percent': 55 });
    const system = new FakeSignalSource('system')
      .at(0, { 'battery.percent': 90 })
      .at(1000, { 'battery.percent': 89 })
      .at(2000, { 'battery.percent': 88 });
    const { states } = run([
      { source: system, precedence: 0 },
      { source: app, precedence: 1 },
    ]);
    expect(states.map((s) => s.battery.percent)).toEqual([90, 89, 55, 55]);
  });

  it('among sources of equal precedence the latest reading wins', () => {
    const a = new FakeSignalSource('a').at(0, { 'cpu.load': 1 }).at(2000, { 'cpu.load': 3 });
    const b = new FakeSignalSource('b').at(1000, { 'cpu.load': 2 });
    expect(run([a, b]).states.map((s) => s.cpu.load)).toEqual([1, 2, 3]);
  });
});

describe('a faulty source degrades only its own signals and is reported once', () => {
  const cases: { kind: string; source: SignalSource; says: RegExp; marks?: string }[] = [
    {
      kind: 'throws from readings()',
      source: bad('thrower', () => {
        throw new Error('boom');
      }),
      says: /"thrower" threw from readings\(\): boom/,
    },
    {
      kind: 'returns a non-Observable',
      source: bad('promise', () => Promise.resolve({}) as never),
      says: /"promise" returned an object from readings\(\), not an Observable/,
    },
    {
      kind: 'returns undefined',
      source: bad('nothing', () => undefined as never),
      says: /returned nothing \(undefined\)/,
    },
    {
      kind: 'errors after a reading',
      source: bad(
        'dies',
        () =>
          new Observable((s) => {
            s.next({ 'gpu.powerW': { value: 50, quality: 'ok' } });
            s.error(new Error('sensor gone'));
          }),
      ),
      says: /"dies" failed: sensor gone/,
      marks: 'gpu.powerW',
    },
    {
      kind: 'errors at once, declared signals',
      source: bad('early', () => throwError(() => new Error('x')), ['thermal.gpuC']),
      says: /"early" failed/,
      marks: 'thermal.gpuC',
    },
    {
      kind: 'emits a null patch',
      source: bad('nullpatch', () => of(null as never)),
      says: /"nullpatch" sent a patch that is null/,
    },
    {
      kind: 'emits an unknown signal',
      source: bad('typo', () => of({ 'battery.pct': { value: 1, quality: 'ok' } } as never)),
      says: /"typo" sent an unknown signal "battery.pct"/,
    },
    {
      kind: 'emits an undefined reading',
      source: bad('undef', () => of({ 'gpu.utilization': undefined } as never)),
      says: /gpu.utilization: a reading that is nothing/,
      marks: 'gpu.utilization',
    },
    {
      kind: 'emits a null reading',
      source: bad('nullr', () => of({ 'gpu.utilization': null } as never)),
      says: /gpu.utilization: a reading that is null/,
      marks: 'gpu.utilization',
    },
    {
      kind: 'emits NaN with quality ok',
      source: bad('nan', () => of({ 'thermal.cpuC': { value: Number.NaN, quality: 'ok' } })),
      says: /thermal.cpuC: quality ok but needs a finite number, got NaN/,
      marks: 'thermal.cpuC',
    },
    {
      kind: 'emits an out-of-range value',
      source: bad('range', () => of({ 'battery.percent': { value: 150, quality: 'ok' } })),
      says: /battery.percent: quality ok but 150 is above its range 0..100 %/,
      marks: 'battery.percent',
    },
    {
      kind: 'emits a wrong kind',
      source: bad('kind', () => of({ 'battery.charging': { value: 1, quality: 'ok' } })),
      says: /battery.charging: quality ok but needs true or false, got 1/,
      marks: 'battery.charging',
    },
    {
      kind: 'emits an unknown quality',
      source: bad('q', () => of({ 'gpu.powerW': { value: 1, quality: 'fine' } } as never)),
      says: /quality "fine"/,
      marks: 'gpu.powerW',
    },
  ];

  for (const c of cases) {
    it(`a source that ${c.kind}`, () => {
      const { states, errors, failed, last } = run([good(), c.source]);
      expect(failed).toBeUndefined();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'SIGNAL_SOURCE_FAILED' });
      expect(errors[0]?.message).toMatch(c.says);
      expect(errors[0]?.hint).toBeTruthy();
      // The good source keeps flowing.
      expect(
        states
          .map((s) => s.cpu.load)
          .filter((v) => v !== undefined)
          .at(-1),
      ).toBe(40);
      if (c.marks) {
        expect(last?.quality[c.marks]).toBe('error');
        expect(
          (last as unknown as Record<string, Record<string, unknown>>)[c.marks.split('.')[0] as string]?.[
            c.marks.split('.')[1] as string
          ],
        ).toBeUndefined();
      }
    });
  }

  it('a source that never emits holds nothing up', () => {
    const { states, errors } = run([good(), bad('silent', () => NEVER)]);
    expect(states.map((s) => s.cpu.load)).toEqual([20, 30, 40]);
    expect(errors).toEqual([]);
  });

  it('the same fault repeated is reported once', () => {
    const repeat = new FakeSignalSource('r');
    const noisy = bad('noisy', (s) =>
      repeat
        .readings(s)
        .pipe(
          (o) => new Observable((sub) => o.subscribe(() => sub.next({ 'cpu.load': { value: -5, quality: 'ok' } }))),
        ),
    );
    repeat.at(0, { 'gpu.powerW': 1 }).at(1000, { 'gpu.powerW': 1 }).at(2000, { 'gpu.powerW': 1 });
    const { errors, states } = run([noisy]);
    expect(states).toHaveLength(3);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/-5 is below its range/);
  });

  it('the readings of a patch that are fine are kept next to a bad one', () => {
    const mixed = bad('mixed', () =>
      of({ 'cpu.load': { value: 12, quality: 'ok' }, 'battery.percent': { value: -1, quality: 'ok' } }),
    );
    const { last, errors } = run([mixed]);
    expect(last?.cpu.load).toBe(12);
    expect(last?.quality['battery.percent']).toBe('error');
    expect(errors).toHaveLength(1);
  });
});

describe('plausibility', () => {
  it('every numeric signal has a range', () => {
    for (const name of SIGNAL_NAMES) {
      const info = SIGNALS[name] as { kind: string; min?: number; max?: number };
      if (info.kind === 'number') expect([name, typeof info.min, typeof info.max]).toEqual([name, 'number', 'number']);
    }
  });

  it('says why a value is not a reading', () => {
    expect(implausibleValue('battery.percent', 50)).toBeUndefined();
    expect(implausibleValue('battery.percent', 101)).toMatch(/above its range 0..100/);
    expect(implausibleValue('cpu.load', Number.POSITIVE_INFINITY)).toMatch(/finite/);
    expect(implausibleValue('battery.charging', 'yes')).toMatch(/true or false, got "yes"/);
    expect(implausibleValue('app.fps', 1e300)).toBeUndefined();
    expect(implausibleValue('app.fps', Number.NaN)).toMatch(/finite/);
  });

  it('a ManualSource stores an out-of-range or non-finite value as quality error', () => {
    const app = new ManualSource();
    app.set({ 'battery.percent': 150, 'cpu.load': Number.NaN, 'gpu.utilization': 50 });
    const { last, errors } = run([app]);
    expect(last?.quality).toMatchObject({ 'battery.percent': 'error', 'cpu.load': 'error', 'gpu.utilization': 'ok' });
    expect(last?.battery.percent).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it('checkPatch keeps a missing reading without a value and flags one with a value', () => {
    expect(checkPatch({ 'cpu.load': { value: undefined, quality: 'timeout' } }).problems).toEqual([]);
    expect(checkPatch({ 'cpu.load': { value: 3, quality: 'timeout' } }).problems[0]?.what).toMatch(
      /value 3 with quality timeout/,
    );
  });
});

describe('deviceState$ given something that is not a source', () => {
  it('reports it and goes on with the others', () => {
    const { states, errors, failed } = run([
      good(),
      null as unknown as SignalSource,
      { name: 'half' } as unknown as SignalSource,
    ]);
    expect(failed).toBeUndefined();
    expect(states.map((s) => s.cpu.load)).toEqual([20, 30, 40]);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/"#1" threw from readings\(\)/),
      expect.stringMatching(/"half" threw from readings\(\)/),
    ]);
  });
});
