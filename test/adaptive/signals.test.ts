/**
 * The signals a runtime feeds its policy: its own run timings (the inference slowdown), an app's
 * manual source, and the real system source of this machine.
 */
import path from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StitchPackage } from '../../src/package/index.js';
import type { StitchChange } from '../../src/runtime/adaptive.js';
import { StitchRuntime } from '../../src/runtime/stitch-runtime.js';
import { ManualSource } from '../../src/signals/push.js';
import { FakeSignalSource, VirtualClock } from '../../src/testing/index.js';
import { runtimeOn, sample, useTinyPackage, withFigures } from './helpers.js';

const tiny = useTinyPackage();
let fast: StitchPackage;

/** Profiled latencies of 0.1–0.3 µs: any real run is many times slower than that. */
const UNIT_MS = 1e-4;

beforeAll(() => {
  fast = withFigures(tiny.bare, UNIT_MS);
});

/** Every run counts for the inference signals (no warm-up, one sample is enough). */
const EVERY_RUN = { slowdownWarmupRuns: 0, slowdownWarmupMs: 0, slowdownMinSamples: 1 };

describe('the inference slowdown', () => {
  it('runs observed slower than the package says make a maxLatencyMs rule degrade (calibrate: false), with the slowdown and the source in the reason', async () => {
    const clock = new VirtualClock();
    const app = new ManualSource('app');
    app.set({ 'app.realtime': true });
    const rt = await runtimeOn(clock, {
      model: fast,
      calibrate: false,
      systemSource: new FakeSignalSource().at(0, { 'cpu.load': 10 }),
      signals: [app],
      // Every stitch meets the deadline as profiled (≤ 0.3 µs against 0.35 µs).
      profile: {
        rules: [{ name: 'deadline', when: { 'app.realtime': true }, limit: { maxLatencyMs: 3.5 * UNIT_MS } }],
        sampling: EVERY_RUN,
      },
    });
    expect(rt.calibration).toBeUndefined();
    const changes: StitchChange[] = [];
    rt.stitchChanges$.subscribe((c) => changes.push(c));
    clock.advanceTo(0);
    expect(rt.stitch).toBe(2);
    const first = await firstValueFrom(rt.decisions$);
    expect(first.reason).toMatchObject({ overBudget: false, slowdown: 1, latencySource: 'package' });
    expect(first.reason.rules.map((r) => r.name)).toEqual(['deadline']);

    const out = await rt.run(sample(fast));
    expect(out.stitch).toBe(2);
    // The run's timing went through the monitor into the state, the policy and a switch, at once.
    const state = await firstValueFrom(rt.state$);
    expect(state.inference.slowdown).toBeCloseTo(out.ms / (3 * UNIT_MS), 3);
    expect(state.inference.p50Ms).toBeCloseTo(out.ms, 6);
    expect(changes).toHaveLength(1);
    const change = changes[0] as StitchChange;
    expect(change).toMatchObject({ from: 2, to: 0, cause: 'policy', direction: 'degrade' });
    expect(change.reason.decision?.reason).toMatchObject({
      overBudget: true,
      unmet: ['maxLatencyMs'],
      latencyProvider: 'cpu',
      latencySource: 'package',
    });
    expect(change.reason.decision?.reason.slowdown).toBeGreaterThan(3.5);
    expect(change.reason.summary).toMatch(/latency ≤ [\d.]+ ms at slowdown [\d.]+× on package latencies \(deadline\)/);
    expect((await rt.run(sample(fast))).stitch).toBe(0);

    // The app's own signal lifts the rule; the upgrade waits for upgradeAfterMs (default 15 s).
    app.set({ 'app.realtime': false });
    clock.advanceBy(15_000);
    expect(rt.stitch).toBe(2);
    expect(changes[1]).toMatchObject({ from: 0, to: 2, direction: 'upgrade', reason: { rules: [] } });
    await rt.close();
  });

  it("measures the slowdown against this device's calibrated latency of the running stitch, after the warm-up and once enough runs", async () => {
    const clock = new VirtualClock();
    const rt = await runtimeOn(clock, {
      model: fast,
      systemSource: false,
      // The package's 0.3 µs would read as a slowdown of thousands: this device's figures apply.
      profile: {
        rules: [{ name: 'slow', when: { 'inference.slowdown': { above: 1000 } }, limit: { maxCostFraction: 0.3 } }],
        sampling: { slowdownWarmupRuns: 2, slowdownWarmupMs: 0, slowdownMinSamples: 3 },
      },
    });
    const cal = rt.calibration?.stitches.find((e) => e.stitch === rt.stitch && e.batch === 1);
    expect(cal).toMatchObject({ source: 'device' });
    const times: number[] = [];
    const states: (number | undefined)[] = [];
    rt.state$.subscribe((s) => states.push(s.inference.slowdown));
    for (let i = 0; i < 5; i++) {
      times.push((await rt.run(sample(fast))).ms);
      clock.advanceBy(100); // the readings are updated at most every 100 ms
    }
    // Two warm-up runs, then nothing until the third counted run.
    expect(states.filter((v) => v !== undefined)).toHaveLength(1);
    const counted = times.slice(2).sort((a, b) => a - b);
    expect(states.at(-1)).toBeCloseTo((counted[1] as number) / (cal?.p50Ms as number), 6);
    expect(rt.stitch).toBe(2);
    await rt.close();
  });

  it("measures a fused run against the fused session's figure (the route's × a fused ÷ route ratio measured once), lowers no figure from fused runs, and caches the ratio", async () => {
    const clock = new VirtualClock();
    // Runs are timed as `readAs` ms by the runtime's clock; the calibration keeps performance.now.
    let readAs = 1;
    let t = 0;
    const options = {
      model: fast,
      systemSource: false as const,
      cacheDir: path.join(tiny.dir, 'fused-ratio'),
      fastPath: { afterRuns: 1e9 },
      now: () => (t += readAs),
      profile: { sampling: { slowdownWarmupRuns: 2, slowdownWarmupMs: 0, slowdownMinSamples: 3 } },
    };
    const rt = await runtimeOn(clock, options);
    const stitch = rt.stitch;
    const entry = () => rt.calibration?.stitches.find((e) => e.stitch === stitch && e.batch === 1);
    const figure = entry()?.p50Ms as number;
    expect(entry()?.source).toBe('device');
    expect(entry()?.fusedRatio).toBeUndefined();
    const slowdowns: (number | undefined)[] = [];
    rt.state$.subscribe((s) => slowdowns.push(s.inference.slowdown));
    const runFor = async (ms: number, runs: number) => {
      readAs = ms;
      clock.advanceBy(10_000); // the window forgets the runs before
      for (let i = 0; i < runs; i++) {
        expect((await rt.run(sample(fast))).path).toBe('fused');
        clock.advanceBy(100);
      }
    };
    await rt.fuse(stitch);
    // The ratio is measured in the background once the fused runs are past the warm-up.
    await runFor(figure, 5);
    for (let i = 0; i < 2000 && entry()?.fusedRatio === undefined; i++) await runFor(figure, 1);
    const ratio = entry()?.fusedRatio as number;
    expect(ratio).toBeGreaterThan(0.2);
    expect(ratio).toBeLessThan(1.5);

    // Twice the fused figure reads as a slowdown of 2 (against the route's figure it would read 2 × ratio).
    await runFor(2 * figure * ratio, 5);
    expect(slowdowns.at(-1)).toBeCloseTo(2, 6);
    expect(rt.calibration?.refined).toBe(0);

    // Fused runs at half the fused figure read as 0.5 and lower no figure (only route runs do).
    await runFor(0.5 * figure * ratio, 5);
    expect(slowdowns.at(-1)).toBeCloseTo(0.5, 6);
    expect(rt.calibration?.refined).toBe(0);
    expect(entry()).toMatchObject({ p50Ms: figure, fusedRatio: ratio });
    await rt.close();

    const again = await runtimeOn(clock, { ...options, now: undefined });
    expect(again.calibration?.cache).toBe('hit');
    expect(again.calibration?.stitches.find((e) => e.stitch === stitch && e.batch === 1)).toMatchObject({
      p50Ms: entry()?.p50Ms,
      fusedRatio: ratio,
    });
    await again.close();
  });

  it('stays unavailable where there is no latency figure for the provider', async () => {
    const clock = new VirtualClock();
    const bare = {
      ...tiny.pkg,
      manifest: { ...tiny.pkg.manifest, stitches: tiny.pkg.manifest.stitches.map(({ latency: _, ...s }) => s) },
    };
    const rt = await runtimeOn(clock, {
      model: bare,
      calibrate: false,
      systemSource: false,
      profile: { sampling: EVERY_RUN },
    });
    const { ms } = await rt.run(sample(tiny.pkg));
    const state = await firstValueFrom(rt.state$);
    expect(state.inference).toEqual({ p50Ms: ms, slowdown: undefined });
    expect(state.quality['inference.slowdown']).toBe('unavailable');
    await rt.close();
  });
});

describe('the real system source', () => {
  it('samples this machine by default and stops on close', async () => {
    const rt = await StitchRuntime.create({
      model: tiny.pkg,
      providers: ['cpu'],
      worker: false,
      fastPath: false,
      profile: {},
    });
    const state = await firstValueFrom(rt.state$.pipe(filter((s) => s.memory.availableMB !== undefined)));
    expect(state.memory.availableMB).toBeGreaterThan(0);
    // Whatever this machine lacks is reported missing, never as a 0.
    for (const name of ['battery.percent', 'thermal.cpuC', 'gpu.utilization'] as const) {
      expect(['ok', 'unavailable', 'timeout', 'error', 'stale']).toContain(state.quality[name]);
    }
    const sub = rt.state$.subscribe();
    await rt.close();
    expect(sub.closed).toBe(true);
  });
});
