/**
 * The whole adaptive loop — trace source → signals → shipped profile → policy → StitchRuntime on
 * onnxruntime — in virtual time, on the tiny package with deterministic figures.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StitchChange } from '../../src/runtime/adaptive.js';
import { loadProfileSync } from '../../src/profiles/load.js';
import { loadTrace, traceSource } from '../../src/signals/trace.js';
import { VirtualClock } from '../../src/testing/index.js';
import { runtimeOn, sample, useTinyPackage } from './helpers.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const tiny = useTinyPackage();

describe('a recorded trace drives a real runtime through a shipped profile', () => {
  it("laptop-unplugged × balanced: low-battery then critical-battery, each once the profile's degrade wait has passed since the first reading past its threshold", async () => {
    const trace = loadTrace(path.join(root, 'examples', 'traces', 'laptop-unplugged.csv'));
    const profile = path.join(root, 'profiles', 'balanced.yaml');
    const wait = loadProfileSync(profile).switching.degradeAfterMs;
    const firstBelow = (threshold: number) =>
      trace.rows.find(
        (r) => typeof r.values['battery.percent'] === 'number' && (r.values['battery.percent'] as number) < threshold,
      )?.tMs;
    const clock = new VirtualClock();
    const rt = await runtimeOn(clock, {
      model: tiny.pkg,
      profile,
      watchProfile: false,
      systemSource: traceSource(trace),
    });
    const changes: StitchChange[] = [];
    rt.stitchChanges$.subscribe((c) => changes.push(c));
    expect(rt.stitch).toBe(2); // comfortable: the most accurate stitch

    clock.advanceTo(trace.rows.at(-1)!.tMs);

    // balanced.yaml: low-battery caps the cost at 0.6 of the largest (3 M MACs → stitches 0 and 3;
    // 3 is the more accurate), critical-battery at 0.3 (no stitch is that cheap → the cheapest, 0,
    // flagged over budget).
    expect(changes.map((c) => [c.from, c.to, c.direction, c.at])).toEqual([
      [2, 3, 'degrade', (firstBelow(30) as number) + wait],
      [3, 0, 'degrade', (firstBelow(15) as number) + wait],
    ]);
    const [low, critical] = changes as [StitchChange, StitchChange];
    expect(low.reason.rules.map((r) => r.name)).toEqual(['low-battery']);
    expect(low.reason.rules[0]?.readings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ signal: 'battery.percent', test: 'below 30' }),
        expect.objectContaining({ signal: 'battery.charging', value: false }),
      ]),
    );
    expect(critical.reason.rules.map((r) => r.name).sort()).toEqual(['critical-battery', 'low-battery']);
    expect(critical.reason.decision?.reason.overBudget).toBe(true);

    // The next run uses the stitch the policy chose.
    expect((await rt.run(sample(tiny.pkg))).stitch).toBe(0);
    await rt.close();
    expect(clock.pending).toBe(0);
  });
});
