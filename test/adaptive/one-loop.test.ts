/**
 * One loop for the runtime and `simulate`: deciding before any reading, identical switch
 * sequences on random traces, and a recorded run that `simulate` reproduces.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { firstValueFrom, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { readPackage } from '../../src/package/index.js';
import { loadProfileSync } from '../../src/profiles/load.js';
import { profileFromObject } from '../../src/profiles/parse.js';
import type { ProfileInput } from '../../src/profiles/schema.js';
import { policyCatalog, type StitchChange } from '../../src/runtime/adaptive.js';
import { simulate } from '../../src/runtime/simulate.js';
import { StitchRuntime } from '../../src/runtime/stitch-runtime.js';
import { ManualSource } from '../../src/signals/push.js';
import { parseTraceCsv, traceSource, type Trace, type TraceRow } from '../../src/signals/trace.js';
import { FakeSignalSource, VirtualClock } from '../../src/testing/index.js';
import { runtimeOn, useTinyPackage } from './helpers.js';

const tiny = useTinyPackage();

const create = (clock: VirtualClock, options: Partial<Parameters<typeof StitchRuntime.create>[0]>) =>
  runtimeOn(clock, { model: tiny.pkg, ...options });

describe('deciding before any reading', () => {
  it('the first choice, setProfile and a hot reload take effect at once with no system source and a silent app source', async () => {
    const clock = new VirtualClock();
    const silent = new ManualSource('app');
    const file = path.join(tiny.dir, 'reload.yaml');
    await writeFile(file, 'name: v1\nlimits:\n  maxCostFraction: 0.9\n');
    const changed = new Subject<void>();
    const rt = await create(clock, {
      profile: file,
      systemSource: false,
      signals: [silent],
      watchProfile: { changes: changed, debounceMs: 100 },
    });
    const changes: StitchChange[] = [];
    rt.stitchChanges$.subscribe((c) => changes.push(c));
    // Cost ≤ 0.9 of the largest: stitch 6 (2.5 M of 3 M MACs), the most accurate within it.
    expect(rt.stitch).toBe(6);

    await writeFile(file, 'name: v2\nobjective: min-cost\n');
    changed.next();
    clock.advanceBy(100);
    expect(rt.profile?.name).toBe('v2');
    expect(rt.stitch).toBe(0);
    expect(changes).toEqual([expect.objectContaining({ from: 6, to: 0, at: 100, cause: 'policy' })]);
    expect(changes[0]?.reason.decision?.reason.unavailable).toEqual([]);

    rt.setProfile({ name: 'v3', limits: { maxCostFraction: 0.7 } });
    expect(rt.stitch).toBe(1);
    expect((await firstValueFrom(rt.decisions$)).profile).toBe('v3');
    await rt.close();
  });
});

/** A random trace of battery and slowdown readings, one row per `stepMs`. */
const traceArb = fc
  .record({
    stepMs: fc.constantFrom(500, 1000, 2000),
    rows: fc.array(
      fc.record({
        battery: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
        charging: fc.option(fc.boolean(), { nil: undefined }),
        slowdown: fc.option(fc.double({ min: 0.5, max: 3, noNaN: true }), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 120 },
    ),
  })
  .map(({ stepMs, rows }): Trace => {
    const list: TraceRow[] = rows.map((r, i) => {
      const values: Record<string, number | boolean> = {};
      if (r.battery !== undefined) values['battery.percent'] = r.battery;
      if (r.charging !== undefined) values['battery.charging'] = r.charging;
      if (r.slowdown !== undefined) values['inference.slowdown'] = Math.round(r.slowdown * 100) / 100;
      return { tMs: i * stepMs, values };
    });
    return { name: 'random', signals: ['battery.percent', 'battery.charging', 'inference.slowdown'], rows: list };
  });

const switchingArb = fc.record({
  minDwellMs: fc.constantFrom(0, 2000, 5000),
  degradeAfterMs: fc.constantFrom(0, 1000),
  upgradeAfterMs: fc.constantFrom(0, 5000, 20_000),
  upgradeQuorum: fc.constantFrom(0.5, 0.75, 1),
  backoff: fc.record({
    windowMs: fc.constantFrom(10_000, 60_000),
    factor: fc.constantFrom(1, 2),
    maxMs: fc.constantFrom(40_000, 120_000),
  }),
});

const profileOf = (switching: object): ProfileInput => ({
  rules: [
    {
      name: 'low-battery',
      when: { 'battery.percent': { below: 30 }, 'battery.charging': false },
      limit: { maxCostFraction: 0.6 },
    },
    { name: 'slowed-down', when: { 'inference.slowdown': { above: 1.5 } }, limit: { maxCostFraction: 0.5 } },
    { name: 'deadline', when: { 'inference.slowdown': { above: 1 } }, limit: { maxLatencyMs: 4 } },
  ],
  switching: { ...switching, hysteresis: { 'battery.percent': 3, 'inference.slowdown': 0.2 } },
});

const brief = (s: { from: number | undefined; to: number; at: number }) => `${String(s.from)}>${s.to}@${s.at}`;

describe('the runtime and simulate run one loop', () => {
  it('property: the same switches, in the same order, at the same times, on random traces', async () => {
    const catalog = policyCatalog(tiny.pkg.manifest);
    if (!catalog) throw new Error('the test package has cost figures');
    await fc.assert(
      fc.asyncProperty(traceArb, switchingArb, async (trace, switching) => {
        const input = profileOf(switching);
        const clock = new VirtualClock();
        const rt = await create(clock, { profile: input, systemSource: traceSource(trace) });
        const changes: StitchChange[] = [];
        rt.stitchChanges$.subscribe((c) => changes.push(c));
        const end = (trace.rows.at(-1)?.tMs ?? 0) + 10 * 60_000;
        clock.advanceTo(end);
        await rt.close();
        const sim = simulate({
          trace,
          profile: profileFromObject(input),
          catalog: rt.catalog ?? catalog,
          provider: 'cpu',
        });
        // The runtime starts on the profile's choice before any reading: simulate's first switch.
        const simulated = sim.replay.switches.filter((s) => s.from !== undefined).map(brief);
        expect(changes.map(brief)).toEqual(simulated);
        expect(sim.replay.switches[0]?.to).toBe(changes[0]?.from ?? rt.stitch);
      }),
      { numRuns: 15, seed: 20261201 },
    );
  });

  it('a recorded run of the shipped family (inference timings included) replays through simulate to the same switches', async () => {
    const clock = new VirtualClock();
    const battery = new FakeSignalSource('battery')
      .at(0, { 'battery.percent': 80, 'battery.charging': false })
      .at(20_000, { 'battery.percent': 25 })
      .at(50_000, { 'battery.percent': 12 })
      .at(70_000, { 'battery.charging': true })
      .at(75_000, { 'battery.percent': 40 });
    const input = 'profiles/balanced.yaml';
    const shipped = await readPackage('models/fmnist-vit');
    // A generous calibration budget: every frontier stitch measured at create(), none later in the run.
    const rt = await StitchRuntime.create({
      model: shipped,
      profile: input,
      watchProfile: false,
      providers: ['cpu'],
      scheduler: clock.scheduler,
      systemSource: battery,
      calibrate: { budgetMs: 120_000 },
    });
    const lines: string[] = [];
    rt.record().subscribe((l) => lines.push(l));
    const changes: StitchChange[] = [];
    rt.stitchChanges$.subscribe((c) => changes.push(c));
    const input0 = new Float32Array(28 * 28).fill(0.5);
    for (let t = 0; t <= 120_000; t += 500) {
      clock.advanceTo(t);
      await rt.run(input0);
    }
    await rt.close();
    const trace = parseTraceCsv(lines.join(''), { file: 'recorded.csv' });
    expect(trace.signals).toContain('inference.p50Ms');
    expect(trace.rows.some((r) => r.values['inference.p50Ms'] !== undefined)).toBe(true);
    // The runtime decided on this device's calibrated latencies: simulate on the same catalog.
    const catalog = rt.catalog;
    if (!catalog) throw new Error('the shipped family has cost figures');
    const sim = simulate({ trace, profile: loadProfileSync(input), catalog, provider: 'cpu' });
    // The battery drains and the charger comes back (and, on a busy machine, slowed-down may fire too).
    expect(changes.length).toBeGreaterThanOrEqual(2);
    // What happens after the recording ends depends on readings it does not hold: compare the recorded span.
    const recorded = (s: { at: number }) => s.at <= 120_000;
    expect(changes.filter(recorded).map(brief)).toEqual(
      sim.replay.switches.filter((s) => s.from !== undefined && recorded(s)).map(brief),
    );
  });
});
