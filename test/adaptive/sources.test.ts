/**
 * The runtime's sources: the app's source wins over the system source for the same signal; a
 * faulty source degrades only its own signals, is reported once on errors$ (replayed to a late
 * subscriber), and the loop keeps deciding. Plus the runtime's own input checks.
 */
import { firstValueFrom, Observable, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { OptionError, type StitchnetError } from '../../src/errors.js';
import type { Decision } from '../../src/policy/decide.js';
import { StitchRuntime } from '../../src/runtime/stitch-runtime.js';
import { ManualSource } from '../../src/signals/push.js';
import type { SignalSource } from '../../src/signals/source.js';
import type { DeviceState } from '../../src/signals/state.js';
import { FakeSignalSource, VirtualClock } from '../../src/testing/index.js';
import { runtimeOn, sample, useTinyPackage } from './helpers.js';

const tiny = useTinyPackage();

/** A system source with no battery, reporting so every second for a minute. */
function noBattery(): FakeSignalSource {
  const fake = new FakeSignalSource('system');
  for (let t = 0; t <= 60_000; t += 1000)
    fake.at(t, { 'battery.percent': null, 'battery.charging': null, 'cpu.load': 10 });
  return fake;
}

const lowBattery = {
  rules: [
    {
      name: 'low',
      when: { 'battery.percent': { below: 50 }, 'battery.charging': false },
      limit: { maxCostFraction: 0.4 },
    },
  ],
};

async function runtime(clock: VirtualClock, extra: Partial<Parameters<typeof StitchRuntime.create>[0]>) {
  return runtimeOn(clock, { model: tiny.pkg, profile: lowBattery, ...extra });
}

describe('source precedence in the runtime', () => {
  it("ManualSource.set({'battery.percent': 40, 'battery.charging': false}) stays in force while the system source says unavailable", async () => {
    const clock = new VirtualClock();
    const app = new ManualSource('app');
    const rt = await runtime(clock, { systemSource: noBattery(), signals: [app] });
    const states: DeviceState[] = [];
    rt.state$.subscribe((s) => states.push(s));
    clock.advanceTo(500);
    app.set({ 'battery.percent': 40, 'battery.charging': false });
    clock.advanceTo(10_000);
    expect(states.at(-1)?.battery).toMatchObject({ percent: 40, charging: false });
    expect(states.at(-1)?.cpu.load).toBe(10);
    const decision: Decision = await firstValueFrom(rt.decisions$);
    expect(decision.reason.rules.map((r) => r.name)).toEqual(['low']);
    expect(rt.stitch).toBe(0);
    await rt.close();
  });
});

describe('a faulty source in the runtime', () => {
  const faulty: Record<string, SignalSource> = {
    throws: {
      name: 'thrower',
      readings: () => {
        throw new Error('no sensor');
      },
    },
    'errors later': {
      name: 'dies',
      readings: () =>
        new Observable((s) => {
          s.next({ 'gpu.powerW': { value: 30, quality: 'ok' } });
          s.error(new Error('gone'));
        }),
    },
    'sends NaN with quality ok': {
      name: 'nan',
      readings: () => new Observable((s) => s.next({ 'battery.percent': { value: Number.NaN, quality: 'ok' } })),
    },
    'returns a Promise': { name: 'promise', readings: () => Promise.resolve() as never },
    'errors at once': { name: 'early', readings: () => throwError(() => new Error('x')) },
  };
  for (const [kind, source] of Object.entries(faulty)) {
    it(`${kind}: reported once (replayed to a late errors$ subscriber), and the loop keeps deciding`, async () => {
      const clock = new VirtualClock();
      const app = new ManualSource('app');
      app.set({ 'battery.percent': 30, 'battery.charging': false });
      const rt = await runtime(clock, { systemSource: noBattery(), signals: [source, app] });
      // Subscribed without an error handler: an error here would be thrown.
      rt.state$.subscribe(() => undefined);
      rt.decisions$.subscribe(() => undefined);
      rt.stitchChanges$.subscribe(() => undefined);
      clock.advanceTo(5000);
      const errors: StitchnetError[] = [];
      rt.errors$.subscribe((e) => errors.push(e));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'SIGNAL_SOURCE_FAILED' });
      expect(errors[0]?.message).toContain(`"${source.name}"`);
      const state = await firstValueFrom(rt.state$);
      expect(state.cpu.load).toBe(10);
      expect(state.at).toBe(5000);
      const decision = await firstValueFrom(rt.decisions$);
      expect(decision.reason.rules.map((r) => r.name)).toEqual(['low']);
      await rt.close();
    });
  }

  it('create() refuses what is not a SignalSource, naming the option', async () => {
    const clock = new VirtualClock();
    await expect(runtime(clock, { signals: [{ name: 'half' } as unknown as SignalSource] })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'signals[0]',
    });
    await expect(runtime(clock, { systemSource: 'system' as unknown as SignalSource })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'systemSource',
    });
  });
});

describe('the runtime refuses bad calls with StitchnetErrors', () => {
  it('create({ model: {} }) and unknown or mistyped options', async () => {
    await expect(StitchRuntime.create({ model: {} } as never)).rejects.toBeInstanceOf(OptionError);
    await expect(StitchRuntime.create({ model: tiny.pkg, worker: 'false' } as never)).rejects.toMatchObject({
      option: 'worker',
    });
    await expect(StitchRuntime.create({ model: tiny.pkg, provder: ['cpu'] } as never)).rejects.toMatchObject({
      message: expect.stringMatching(/did you mean "providers"/),
    });
  });

  it('run() refuses NaN inputs naming the index unless checkFinite is false; setStitch(NaN) says NaN', async () => {
    const rt = await StitchRuntime.create({ model: tiny.pkg, providers: ['cpu'], worker: false, fastPath: false });
    const x = sample(tiny.pkg);
    x[7] = Number.NaN;
    await expect(rt.run(x)).rejects.toMatchObject({ code: 'INPUT_INVALID', option: 'input[7]' });
    const out = await rt.run(x, { checkFinite: false });
    expect(out.logits.length).toBeGreaterThan(0);
    await expect(rt.run(sample(tiny.pkg), { checkFinit: false } as never)).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'options.checkFinit',
    });
    expect(() => rt.setStitch(Number.NaN)).toThrow(/stitch must be a stitch id \(an integer\), got NaN/);
    await rt.close();
  });
});
