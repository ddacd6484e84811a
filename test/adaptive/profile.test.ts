/**
 * Profiles in a running runtime: validation at create and setProfile, hot reload of a file, and
 * the profile's ort block.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defer, finalize, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ProfileError } from '../../src/errors.js';
import { OrtSchema } from '../../src/profiles/schema.js';
import { threadsFromOrt } from '../../src/runtime/adaptive.js';
import { StitchRuntime, type StitchRuntimeOptions } from '../../src/runtime/stitch-runtime.js';
import type { SignalSource } from '../../src/signals/source.js';
import { FakeSignalSource, VirtualClock } from '../../src/testing/index.js';
import { recordEvents, runtimeOn, useTinyPackage } from './helpers.js';

const tiny = useTinyPackage();

async function start(options: Partial<StitchRuntimeOptions>) {
  const clock = new VirtualClock();
  const fake = new FakeSignalSource().at(0, { 'battery.percent': 80 });
  const rt = await runtimeOn(clock, { model: tiny.pkg, systemSource: fake, ...options });
  return { rt, clock, ...recordEvents(rt) };
}

describe('setProfile', () => {
  it('rejects an invalid profile with a ProfileError and keeps the old one; a valid one applies at once', async () => {
    const { rt, clock, changes, errors } = await start({ profile: { name: 'first' } });
    clock.advanceTo(0);
    expect(rt.stitch).toBe(2);

    const never = {
      rules: [
        { name: 'never', when: { 'battery.percent': { below: 20, above: 80 } }, limit: { maxCostFraction: 0.5 } },
      ],
    };
    expect(() => rt.setProfile(never)).toThrow(ProfileError);
    expect(() => rt.setProfile(never)).toThrow(
      expect.objectContaining({
        code: 'PROFILE_INVALID',
        field: 'rules[0].when["battery.percent"]',
        message: expect.stringContaining('can never hold'),
      }),
    );
    expect(() => rt.setProfile({ limits: { stitches: [99] } })).toThrow(
      expect.objectContaining({
        code: 'PROFILE_INVALID',
        field: 'limits.stitches[0]',
        validValues: expect.arrayContaining([0, 2]),
      }),
    );
    expect(() => rt.setProfile(path.join(tiny.dir, 'missing.yaml'))).toThrow(
      expect.objectContaining({ code: 'PROFILE_NOT_FOUND' }),
    );
    expect(rt.profile?.name).toBe('first');
    expect(changes).toEqual([]);

    const next = rt.setProfile({ name: 'frugal', limits: { maxCostFraction: 0.4 } });
    expect(next.switching.minDwellMs).toBe(5000);
    expect(rt.profile?.name).toBe('frugal');
    expect(changes).toEqual([
      expect.objectContaining({ from: 2, to: 0, at: 0, cause: 'policy', direction: 'degrade' }),
    ]);
    expect(changes[0]?.reason.summary).toContain('cost ≤ 0.4 of max (limits)');
    expect(errors).toEqual([]);
    await rt.close();
  });

  it('starts the policy on a runtime created without a profile; its first decision applies at once', async () => {
    const { rt, clock, changes } = await start({});
    clock.advanceTo(1000);
    expect(rt.profile).toBeUndefined();
    rt.setStitch(1);
    rt.setProfile({ limits: { maxCostFraction: 0.4 }, switching: { minDwellMs: 60_000 } });
    // The policy decides on the first snapshot, which the (virtual-time) source delivers now.
    expect(rt.stitch).toBe(1);
    clock.advanceBy(0);
    expect(rt.stitch).toBe(0);
    expect(changes).toEqual([
      expect.objectContaining({ from: 2, to: 1, cause: 'manual' }),
      expect.objectContaining({ from: 1, to: 0, at: 1000, cause: 'policy' }),
    ]);
    await rt.close();
  });

  it('refuses a profile for a package without cost figures, saying which field is missing', async () => {
    await expect(
      StitchRuntime.create({ model: tiny.bare, providers: ['cpu'], worker: false, profile: {} }),
    ).rejects.toMatchObject({
      code: 'PACKAGE_MANIFEST_INVALID',
      field: 'stitches[0].macs',
    });
  });

  it('rejects an invalid profile at create', async () => {
    await expect(
      StitchRuntime.create({
        model: tiny.pkg,
        providers: ['cpu'],
        worker: false,
        profile: { objective: 'fastest' as 'min-cost' },
      }),
    ).rejects.toMatchObject({
      code: 'PROFILE_INVALID',
      field: 'objective',
    });
  });
});

describe('a profile file', () => {
  it('is reloaded when it changes; an invalid version is reported on errors$ and the previous one stays', async () => {
    const file = path.join(tiny.dir, 'live.yaml');
    await writeFile(file, 'name: v1\n');
    const changed = new Subject<void>();
    const { rt, clock, changes, errors } = await start({
      profile: file,
      watchProfile: { changes: changed, debounceMs: 100 },
    });
    clock.advanceTo(0);
    expect(rt.profile?.name).toBe('v1');
    expect(rt.stitch).toBe(2);

    await writeFile(file, 'name: v2\nlimits:\n  maxCostFraction: 0.4\n');
    changed.next();
    clock.advanceBy(99);
    expect(rt.profile?.name).toBe('v1');
    clock.advanceBy(1);
    expect(rt.profile?.name).toBe('v2');
    expect(changes).toEqual([expect.objectContaining({ from: 2, to: 0, at: 100, cause: 'policy' })]);

    await writeFile(file, 'name: v3\nlimits:\n  maxCostFraction: 0.4\n  fastest: true\n');
    changed.next();
    clock.advanceBy(100);
    expect(rt.profile?.name).toBe('v2');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ProfileError);
    expect(errors[0]).toMatchObject({ code: 'PROFILE_INVALID', file, message: expect.stringContaining('line 4') });

    // A profile object replaces the file, and the watch stops.
    rt.setProfile({ name: 'object' });
    expect(changed.observed).toBe(false);
    await rt.close();
  });

  it('in JSON sets the starting stitch before any reading arrived (its default limits)', async () => {
    const file = path.join(tiny.dir, 'fixed.json');
    await writeFile(file, JSON.stringify({ name: 'fixed', limits: { maxCostFraction: 0.4 } }));
    const { rt } = await start({ profile: file, watchProfile: false });
    expect(rt.profile?.name).toBe('fixed');
    expect(rt.stitch).toBe(0);
    await rt.close();
  });

  it('a reload that changes the sampling block restarts the signal sources with it; other changes do not', async () => {
    const file = path.join(tiny.dir, 'sampling.yaml');
    await writeFile(file, 'name: s1\n');
    const changed = new Subject<void>();
    let started = 0;
    let stopped = 0;
    const recording: SignalSource = {
      name: 'recording',
      readings: (scheduler) =>
        defer(() => {
          started++;
          return new FakeSignalSource().at(0, { 'battery.percent': 80 }).readings(scheduler);
        }).pipe(finalize(() => stopped++)),
    };
    const { rt, clock } = await start({
      profile: file,
      watchProfile: { changes: changed, debounceMs: 0 },
      systemSource: recording,
    });
    clock.advanceTo(0);
    const reload = async (text: string) => {
      await writeFile(file, text);
      changed.next();
      clock.advanceBy(0);
    };
    await reload('name: s2\nlimits: { maxCostFraction: 0.4 }\n');
    expect(rt.profile?.name).toBe('s2');
    expect([started, stopped]).toEqual([1, 0]);
    await reload('name: s3\nsampling: { fastMs: 250 }\n');
    expect(rt.profile?.sampling.fastMs).toBe(250);
    expect([started, stopped]).toEqual([2, 1]);
    // The new pipeline's snapshots drive the policy: s3 lifts the cost limit, an upgrade after 15 s.
    expect(rt.stitch).toBe(0);
    clock.advanceBy(15_000);
    expect(rt.stitch).toBe(2);
    await rt.close();
  });

  it('a reload that changes the ort block is reported: it applies only at create', async () => {
    const file = path.join(tiny.dir, 'ort.yaml');
    await writeFile(file, 'ort:\n  intraOpNumThreads: 1\n');
    const changed = new Subject<void>();
    const { rt, clock, errors } = await start({ profile: file, watchProfile: { changes: changed, debounceMs: 0 } });
    await writeFile(file, 'ort:\n  intraOpNumThreads: 2\n');
    changed.next();
    clock.advanceBy(0);
    expect(errors).toEqual([expect.objectContaining({ code: 'PROFILE_NEEDS_RESTART', field: 'ort' })]);
    expect(rt.profile?.ort.intraOpNumThreads).toBe(2);
    await rt.close();
  });
});

describe('the ort block', () => {
  it('maps to the runtime thread options; 0 or absent leaves the default', () => {
    expect(threadsFromOrt(OrtSchema.parse({}))).toEqual({});
    expect(
      threadsFromOrt(OrtSchema.parse({ intraOpNumThreads: 0, interOpNumThreads: 2, allowSpinning: true })),
    ).toEqual({ interOp: 2, spinning: true });
    expect(threadsFromOrt(OrtSchema.parse({ intraOpNumThreads: 3 }))).toEqual({ intraOp: 3 });
  });
});
