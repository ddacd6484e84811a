/**
 * The adaptive loop through a real runtime (onnxruntime, in-process) on the tiny package, with a
 * fake signal source in virtual time.
 */
import { defer, finalize } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { ProfileInput } from '../../src/profiles/schema.js';
import type { StitchChange } from '../../src/runtime/adaptive.js';
import type { SignalSource } from '../../src/signals/source.js';
import type { StitchRuntimeOptions } from '../../src/runtime/stitch-runtime.js';
import { FakeSignalSource, VirtualClock } from '../../src/testing/index.js';
import { recordEvents, runtimeOn, sample, useTinyPackage } from './helpers.js';

const tiny = useTinyPackage();

/** Cost ≤ half of the largest (3 M MACs): stitches 0 and 3 qualify, 3 is the more accurate. */
const BATTERY_PROFILE: ProfileInput = {
  name: 'test-battery',
  rules: [
    {
      name: 'low-battery',
      when: { 'battery.percent': { below: 20 }, 'battery.charging': false },
      limit: { maxCostFraction: 0.5 },
    },
  ],
  switching: { minDwellMs: 5000, upgradeAfterMs: 30_000 },
};

async function start(options: Partial<StitchRuntimeOptions>) {
  const clock = new VirtualClock();
  const rt = await runtimeOn(clock, { model: tiny.pkg, ...options });
  return { rt, clock, ...recordEvents(rt), run: () => rt.run(sample(tiny.pkg)) };
}

describe('a profile drives the stitch', () => {
  it('degrades at once when the battery drops below the threshold, naming the rule and the reading; upgrades only after upgradeAfterMs', async () => {
    const fake = new FakeSignalSource()
      .at(0, { 'battery.percent': 80, 'battery.charging': false })
      .at(60_000, { 'battery.percent': 15 })
      .at(120_000, { 'battery.percent': 16, 'battery.charging': true });
    const { rt, clock, changes, errors } = await start({ profile: BATTERY_PROFILE, systemSource: fake });
    // Before any reading: the profile's defaults allow the most accurate stitch.
    expect(rt.stitch).toBe(2);
    expect(rt.profile?.name).toBe('test-battery');

    clock.advanceTo(59_999);
    expect(changes).toEqual([]);
    clock.advanceTo(60_000);
    expect(changes).toHaveLength(1);
    const degrade = changes[0] as StitchChange;
    expect(degrade).toMatchObject({ from: 2, to: 3, at: 60_000, direction: 'degrade', cause: 'policy' });
    expect(degrade.reason.rules.map((r) => r.name)).toEqual(['low-battery']);
    expect(degrade.reason.rules[0]?.readings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ signal: 'battery.percent', value: 15, test: 'below 20' }),
        expect.objectContaining({ signal: 'battery.charging', value: false }),
      ]),
    );
    expect(degrade.reason.summary).toContain('low-battery (battery.percent=15 below 20');
    expect(degrade.reason.decision?.stitch).toBe(3);
    expect(rt.stitch).toBe(3);
    expect((await rt.run(sample(tiny.pkg))).stitch).toBe(3);

    // Plugged in at 120 s: the upgrade waits 30 s.
    clock.advanceTo(149_999);
    expect(changes).toHaveLength(1);
    clock.advanceTo(150_000);
    expect(changes[1]).toMatchObject({
      from: 3,
      to: 2,
      at: 150_000,
      direction: 'upgrade',
      cause: 'policy',
      reason: { wantedForMs: 30_000, rules: [] },
    });
    expect((await rt.run(sample(tiny.pkg))).stitch).toBe(2);
    expect(errors).toEqual([]);
    await rt.close();
  });

  it('pin holds the stitch while decisions go on; unpin applies the latest decision at once', async () => {
    const fake = new FakeSignalSource()
      .at(0, { 'battery.percent': 80, 'battery.charging': false })
      .at(10_000, { 'battery.percent': 10 });
    const { rt, clock, changes } = await start({ profile: BATTERY_PROFILE, systemSource: fake });
    const decisions: number[] = [];
    rt.decisions$.subscribe((d) => decisions.push(d.stitch));
    clock.advanceTo(0);
    rt.pin(0);
    expect(rt.pinned).toBe(0);
    expect(changes).toEqual([expect.objectContaining({ from: 2, to: 0, cause: 'pin', direction: 'degrade', at: 0 })]);

    clock.advanceTo(60_000);
    // The profile's choice before any reading, then one decision per reading.
    expect(decisions).toEqual([2, 2, 3]);
    expect(rt.stitch).toBe(0);
    expect((await rt.run(sample(tiny.pkg))).stitch).toBe(0);
    expect(changes).toHaveLength(1);

    // An upgrade too applies at once on unpin: the policy takes over where the app left it.
    rt.unpin();
    expect(rt.pinned).toBeUndefined();
    expect(changes[1]).toMatchObject({ from: 0, to: 3, at: 60_000, direction: 'upgrade', cause: 'policy' });
    expect(changes[1]?.reason.rules.map((r) => r.name)).toEqual(['low-battery']);
    expect((await rt.run(sample(tiny.pkg))).stitch).toBe(3);
    await rt.close();
  });

  it('setStitch is a one-off switch: it starts a dwell and the policy may move away after it', async () => {
    const fake = new FakeSignalSource().at(0, { 'battery.percent': 80 });
    const { rt, clock, changes } = await start({
      profile: { ...BATTERY_PROFILE, switching: { minDwellMs: 5000, upgradeAfterMs: 0 } },
      systemSource: fake,
    });
    clock.advanceTo(1000);
    rt.setStitch(0);
    expect(changes).toEqual([
      expect.objectContaining({
        from: 2,
        to: 0,
        at: 1000,
        cause: 'manual',
        direction: 'degrade',
        reason: expect.objectContaining({ summary: 'setStitch(0)' }),
      }),
    ]);
    clock.advanceTo(5999);
    expect(rt.stitch).toBe(0);
    clock.advanceTo(6000);
    expect(rt.stitch).toBe(2);
    expect(changes[1]).toMatchObject({ from: 0, to: 2, at: 6000, cause: 'policy', direction: 'upgrade' });
    await rt.close();
  });

  it('replays the current state and decision to late subscribers, but not past stitch changes', async () => {
    const fake = new FakeSignalSource()
      .at(0, { 'battery.percent': 80, 'battery.charging': false })
      .at(1000, { 'battery.percent': 12 });
    const { rt, clock } = await start({ profile: BATTERY_PROFILE, systemSource: fake });
    clock.advanceTo(2000);
    const seen: { battery?: number | undefined; decision?: number; changes: number } = { changes: 0 };
    const subs = [
      rt.state$.subscribe((s) => (seen.battery = s.battery.percent)),
      rt.decisions$.subscribe((d) => (seen.decision = d.stitch)),
      rt.stitchChanges$.subscribe(() => seen.changes++),
    ];
    expect(seen).toEqual({ battery: 12, decision: 3, changes: 0 });
    for (const s of subs) s.unsubscribe();
    await rt.close();
  });

  it('reports a provider limit it cannot apply on errors$, once per change', async () => {
    const fake = new FakeSignalSource()
      .at(0, { 'battery.percent': 80 })
      .at(1000, { 'battery.percent': 70 })
      .at(2000, { 'battery.percent': 60 });
    const profile: ProfileInput = {
      rules: [{ name: 'want-gpu', when: { 'battery.percent': { above: 50 } }, limit: { provider: 'cuda' } }],
    };
    const { rt, clock, errors } = await start({ profile, systemSource: fake });
    clock.advanceTo(3000);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'PROVIDER_NOT_IN_USE', validValues: ['cuda'] });
    expect(errors[0]?.message).toContain('want-gpu');
    expect(rt.stitch).toBe(2);
    await rt.close();
  });
});

describe('without a profile', () => {
  it('the app drives setStitch; changes are still events; signals are sampled only while state$ is observed', async () => {
    let subscribed = 0;
    let stopped = 0;
    const fake = new FakeSignalSource().at(0, { 'cpu.load': 42 });
    const counting: SignalSource = {
      name: 'counting',
      readings: (scheduler) =>
        defer(() => {
          subscribed++;
          return fake.readings(scheduler);
        }).pipe(finalize(() => stopped++)),
    };
    const { rt, clock, changes } = await start({ systemSource: counting });
    expect(rt.profile).toBeUndefined();
    rt.setStitch(1);
    expect(changes).toEqual([expect.objectContaining({ from: 2, to: 1, cause: 'manual', direction: 'degrade' })]);
    expect((await rt.run(sample(tiny.pkg))).stitch).toBe(1);
    clock.advanceTo(1000);
    expect(subscribed).toBe(0);

    const loads: (number | undefined)[] = [];
    const sub = rt.state$.subscribe((s) => loads.push(s.cpu.load));
    clock.advanceTo(2000);
    expect(subscribed).toBe(1);
    expect(loads.at(-1)).toBe(42);
    sub.unsubscribe();
    expect(stopped).toBe(1);
    await rt.close();
  });
});
